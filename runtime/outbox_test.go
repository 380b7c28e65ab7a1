package runtime

import (
	"errors"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/graph"
)

// Packets wait in a graph's outbox until their target is wired; the outbox
// is bounded in bytes, and a packet beyond the bound is refused with an
// error naming the graph and the port, never held.
func TestOutboxIsBounded(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxPendingBytes = 100 })
	must(t, f.rt.Clear(ClearPayload{ID: "g"}))
	must(t, f.rt.AddNode(NodePayload{ID: "far", Component: "ext/Far", Graph: "g"}))
	must(t, f.rt.AddExported(graph.In, ExportPayload{Public: "in", Node: "far", Port: "in", Graph: "g"}))
	must(t, f.rt.Start("g"))
	payload := jsonOf(strings.Repeat("x", 18)) // 20 bytes as JSON
	for i := range 5 {
		if _, err := f.rt.SendPacket(PacketPayload{Port: "in", Event: "data", Payload: payload, Graph: "g"}); err != nil {
			t.Fatalf("packet %d (%d bytes waiting): %v", i, i*20, err)
		}
	}
	_, err := f.rt.SendPacket(PacketPayload{Port: "in", Event: "data", Payload: payload, Graph: "g"})
	if !errors.Is(err, ErrOutboxFull) || !strings.Contains(err.Error(), "Graph g") || !strings.Contains(err.Error(), "far.in") {
		t.Fatalf("packet beyond the bound: %v", err)
	}
	// An initial packet that does not fit is reported to clients.
	must(t, f.rt.AddInitial(InitialPayload{Src: IIPData{Data: payload}, Tgt: ref("far", "in"), Graph: "g"}))
	ev := f.waitEvent("network", "error", nil)
	if p := ev.Payload.(NetworkErrorPayload); p.Graph != "g" || !strings.Contains(p.Message, "far.in") {
		t.Fatalf("network:error %+v", p)
	}
	// Once the packets have left, there is room again.
	must(t, f.rt.RemoveNode(NodeIDPayload{ID: "far", Graph: "g"}))
	must(t, f.rt.AddNode(NodePayload{ID: "far", Component: "core/Drop", Graph: "g"}))
	must(t, f.rt.AddExported(graph.In, ExportPayload{Public: "in", Node: "far", Port: "in", Graph: "g"}))
	if _, err := f.rt.SendPacket(PacketPayload{Port: "in", Event: "data", Payload: payload, Graph: "g"}); err != nil {
		t.Fatalf("after the outbox emptied: %v", err)
	}
}
