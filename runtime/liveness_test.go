package runtime

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// A participant that goes silent expires (clients get a processerror), but
// its edges stay bound: its queue keeps collecting what the graph sends,
// and when it announces itself again it carries on where it was.
func TestExpiredParticipantKeepsItsEdges(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.HeartbeatExpiry = 100 * time.Millisecond })
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "src", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "quiet", Component: "ext/Quiet", Graph: "g"}))
	must(t, f.rt.AddEdge(wire.AddEdge{Src: ref("src", "out"), Tgt: ref("quiet", "in"), Graph: "g"}))
	must(t, f.rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: "src", Port: "in", Graph: "g"}))
	must(t, f.rt.Start("g"))

	got := make(chan string, 10)
	comp := participant.Component{
		Name:    "ext/Quiet",
		Inports: []participant.Port{{ID: "in"}},
		Process: func(_ context.Context, in participant.Input, _ participant.Output) error {
			got <- string(in.Data)
			return nil
		},
	}
	// It announces once, then never again within the expiry.
	p, err := participant.New(f.broker, comp, "quiet", participant.Options{DiscoveryPeriod: time.Hour})
	must(t, err)
	must(t, p.Start(context.Background()))
	defer p.Stop(context.Background())
	// Go participants announce their heartbeat (here 27 min), which would
	// decide their expiry: this one announces again without, so the
	// runtime's HeartbeatExpiry judges it.
	silent := p.Definition()
	silent.Heartbeat = 0
	silentMsg, err := network.EncodeDiscovery(silent)
	must(t, err)
	must(t, f.broker.Announce(context.Background(), silentMsg))
	send := func(v int) {
		_, err := f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf(v), Graph: "g"})
		must(t, err)
	}
	send(1)
	if v := receive(t, got); v != "1" {
		t.Fatalf("got %s", v)
	}
	ev := f.waitEvent("network", "processerror", nil)
	if pe := ev.Message.(wire.ProcessError); pe.ID != "quiet" || pe.Graph != "g" {
		t.Fatalf("processerror %+v", pe)
	}
	// Expired, yet still wired.
	send(2)
	if v := receive(t, got); v != "2" {
		t.Fatalf("got %s", v)
	}
	// It comes back: no new component event (nothing changed), data flows.
	msg, err := network.EncodeDiscovery(p.Definition())
	must(t, err)
	must(t, f.broker.Announce(context.Background(), msg))
	send(3)
	if v := receive(t, got); v != "3" {
		t.Fatalf("got %s", v)
	}
}

// A participant that announces itself with other ports is pushed to
// clients as an updated component.
func TestPortChangesReachClients(t *testing.T) {
	f := newFixture(t, nil)
	def := network.Definition{ID: "chg-1", Role: "chg", Component: "ext/Changing",
		Inports: []network.Port{{ID: "in", Type: "string", Queue: "chg.IN"}}, Outports: []network.Port{}}
	announce := func() {
		msg, err := network.EncodeDiscovery(def)
		must(t, err)
		must(t, f.broker.Announce(context.Background(), msg))
	}
	announce()
	ev := f.waitEvent("component", "component", nil)
	if c := ev.Message.(wire.Component); len(c.InPorts) != 1 || len(c.OutPorts) != 0 {
		t.Fatalf("first component %+v", c)
	}
	announce() // the same again: nothing to tell
	def.Outports = []network.Port{{ID: "out", Type: "object", Queue: "chg.OUT", Description: "new"}}
	announce()
	ev = f.waitEvent("component", "component", nil)
	c := ev.Message.(wire.Component)
	b, _ := json.Marshal(c)
	if len(c.OutPorts) != 1 || c.OutPorts[0].ID != "out" || c.OutPorts[0].Type != "object" {
		t.Fatalf("updated component %s", b)
	}
}

// Edge taps exist while a client watches the edge and go away when it
// stops watching or disconnects.
func TestTapsFollowWatchers(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "ta", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "tb", Component: "core/Drop", Graph: "g"}))
	must(t, f.rt.AddEdge(wire.AddEdge{Src: ref("ta", "out"), Tgt: ref("tb", "in"), Graph: "g"}))
	must(t, f.rt.Start("g"))
	taps := f.pass
	f.rt.ClientConnected(7)
	if n := taps(); n != 1 {
		t.Fatalf("%d taps with a client watching every edge", n)
	}
	_, err := f.rt.WatchEdges(7, wire.Edges{Graph: "g", Edges: []wire.EdgeSpec{}})
	must(t, err)
	if n := taps(); n != 0 {
		t.Fatalf("%d taps after the client unwatched every edge", n)
	}
	_, err = f.rt.WatchEdges(7, wire.Edges{Graph: "g", Edges: []wire.EdgeSpec{{Src: ref("ta", "out"), Tgt: ref("tb", "in")}}})
	must(t, err)
	if n := taps(); n != 1 {
		t.Fatalf("%d taps with the edge watched", n)
	}
	f.rt.ClientGone(7)
	if n := taps(); n != 0 {
		t.Fatalf("%d taps after the client left", n)
	}
}
