package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/memory"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// Packets wait in a graph's outbox until their target is wired; the outbox
// is bounded in bytes, and a packet beyond the bound is refused with an
// error naming the graph and the port, never held.
func TestOutboxIsBounded(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxPendingBytes = 100 })
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "far", Component: "ext/Far", Graph: "g"}))
	must(t, f.rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: "far", Port: "in", Graph: "g"}))
	must(t, f.rt.Start("g"))
	payload := jsonOf(strings.Repeat("x", 18)) // 20 bytes as JSON
	for i := range 5 {
		if _, err := f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: payload, Graph: "g"}); err != nil {
			t.Fatalf("packet %d (%d bytes waiting): %v", i, i*20, err)
		}
	}
	_, err := f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: payload, Graph: "g"})
	if !errors.Is(err, ErrOutboxFull) || !strings.Contains(err.Error(), "Graph g") || !strings.Contains(err.Error(), "far.in") {
		t.Fatalf("packet beyond the bound: %v", err)
	}
	// An initial packet that does not fit is reported to clients.
	must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: payload}, Tgt: ref("far", "in"), Graph: "g"}))
	ev := f.waitEvent("network", "error", nil)
	if p := ev.Message.(wire.NetworkError); p.Graph != "g" || !strings.Contains(p.Message, "far.in") {
		t.Fatalf("network:error %+v", p)
	}
	// Once the packets have left, there is room again.
	must(t, f.rt.RemoveNode(wire.RemoveNode{ID: "far", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "far", Component: "core/Drop", Graph: "g"}))
	must(t, f.rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: "far", Port: "in", Graph: "g"}))
	if _, err := f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: payload, Graph: "g"}); err != nil {
		t.Fatalf("after the outbox emptied: %v", err)
	}
}

// sendHook is a broker whose Send calls hook first; an error of hook's is
// the send's.
type sendHook struct {
	network.Broker
	hook func(queue string) error
}

func (b *sendHook) Send(ctx context.Context, queue string, data []byte) error {
	if err := b.hook(queue); err != nil {
		return err
	}
	return b.Broker.Send(ctx, queue, data)
}

// A packet whose send failed goes back to its outbox only if the graph
// still holds it: an initial packet of a network stopped meanwhile is not
// sent once the broker takes sends again (network:stop drops the IIPs not
// sent), and neither is a packet to a node removed meanwhile. Seen failing
// (both sent to the stopped network) when a failed send put its packets
// back whatever happened to the graph while it was under way.
func TestFailedSendDoesNotReviveDroppedPackets(t *testing.T) {
	srv := memory.NewServer()
	conn := srv.Connect()
	var sent []string
	var fail func()
	b := &sendHook{Broker: conn, hook: func(queue string) error {
		if fail != nil {
			fail()
			fail = nil
			return errors.New("send refused")
		}
		sent = append(sent, queue)
		return nil
	}}
	rt, err := New(Options{ID: "rt", Broker: b, Components: participant.CoreComponents(), RetryDelay: time.Millisecond,
		Sink: &recorder{ch: make(chan Event, 1000)}, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)})
	must(t, err)
	t.Cleanup(func() { rt.shutdown(); _ = conn.Close() })
	ctx := context.Background()
	must(t, rt.Clear(wire.Clear{ID: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "kept", Component: "core/Repeat", Graph: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "gone", Component: "core/Repeat", Graph: "g"}))
	must(t, rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: "gone", Port: "in", Graph: "g"}))
	must(t, rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf("iip")}, Tgt: ref("kept", "in"), Graph: "g"}))
	for range 3 { // the participants start and run
		rt.wiring.reconcile(ctx)
	}
	must(t, rt.Start("g"))
	_, err = rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf("packet"), Graph: "g"})
	must(t, err)
	fail = func() {
		must(t, rt.Stop("g"))
		must(t, rt.RemoveNode(wire.RemoveNode{ID: "gone", Graph: "g"}))
	}
	rt.wiring.reconcile(ctx)
	if fail != nil {
		t.Fatal("nothing was sent")
	}
	rt.wiring.reconcile(ctx)
	if len(sent) > 0 {
		t.Errorf("sent to %v once the network was stopped and the node removed", sent)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if n := len(rt.graphs["g"].outbox); n > 0 {
		t.Errorf("%d packets wait in the outbox", n)
	}
}

// An initial packet whose send failed is reported (network:data) once,
// when it is first tried, not again with each try: clients watching the
// graph see it once. Seen failing (reported twice) when every try
// reported it.
func TestRetriedInitialPacketIsReportedOnce(t *testing.T) {
	srv := memory.NewServer()
	conn := srv.Connect()
	refuse := true
	b := &sendHook{Broker: conn, hook: func(string) error {
		if refuse {
			refuse = false
			return errors.New("send refused")
		}
		return nil
	}}
	rec := &recorder{ch: make(chan Event, 1000)}
	rt, err := New(Options{ID: "rt", Broker: b, Components: participant.CoreComponents(), RetryDelay: time.Millisecond,
		Sink: rec, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)})
	must(t, err)
	t.Cleanup(func() { rt.shutdown(); _ = conn.Close() })
	ctx := context.Background()
	rt.ClientConnected(1)
	must(t, rt.Clear(wire.Clear{ID: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "a", Component: "core/Repeat", Graph: "g"}))
	must(t, rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf("iip")}, Tgt: ref("a", "in"), Graph: "g"}))
	must(t, rt.Start("g"))
	for range 4 { // start, run, a refused send, then sent
		rt.wiring.reconcile(ctx)
	}
	if refuse {
		t.Fatal("no send was tried")
	}
	rt.mu.Lock()
	waiting := len(rt.graphs["g"].outbox)
	rt.mu.Unlock()
	if waiting > 0 {
		t.Fatalf("%d packets still wait: the retry did not send", waiting)
	}
	reported := 0
	for len(rec.ch) > 0 {
		ev := <-rec.ch
		if d, ok := ev.Message.(wire.Data); ok && d.Src == nil {
			reported++
		}
	}
	if reported != 1 {
		t.Errorf("the initial packet was reported %d times, want once", reported)
	}
}
