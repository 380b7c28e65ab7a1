package runtime

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// What the runtime keeps because of announcements goes when the
// participants expire (#19 "Broker-fed maps never shrink"): the directory's
// entries, the components learnt from them, the live graph's nodes and its
// index. Only what a graph's node still needs stays: the last definition of
// its role and its component. Seen failing with the last definitions kept
// for every role ever announced and the components never forgotten.
func TestBrokerFedStateShrinks(t *testing.T) {
	const expiry = time.Minute
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := newFixture(t, func(o *Options) { o.HeartbeatExpiry, o.Now, o.LiveGraph = expiry, clock.now, true })
	f.rt.LoadGraph(NewLiveGraph(), true, true)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "kept", Component: "ext/Kept", Graph: "g"}))
	f.announce(network.Definition{ID: "kept-1", Role: "kept", Component: "ext/Kept", Inports: []network.Port{{ID: "in", Queue: "kept.IN"}}, Outports: []network.Port{}})
	for i := range 50 {
		role := fmt.Sprintf("passing%d", i)
		f.announce(network.Definition{ID: role + "-1", Role: role, Component: "ext/" + role,
			Inports: []network.Port{{ID: "in", Queue: "shared"}}, Outports: []network.Port{{ID: "out", Queue: "shared"}}})
	}
	f.syncDiscovery(0)
	if n, _ := f.rt.dir.Size(); n < 51 {
		t.Fatalf("%d participants recorded", n)
	}
	clock.advance(2 * expiry)
	f.rt.expireParticipants()
	f.pass()

	if n, ports := f.rt.dir.Size(); n != 0 || ports != 1 {
		t.Errorf("directory after expiry: %d participants, %d ports (want the kept role's last definition only)", n, ports)
	}
	if def, live, ok := f.rt.dir.Resolve("kept"); !ok || live || def.ID != "kept-1" {
		t.Errorf("the role a graph needs: %+v %v %v", def, live, ok)
	}
	for _, c := range f.rt.Components() {
		if strings.HasPrefix(c.Name, "ext/passing") || strings.HasPrefix(c.Name, "test/Marker") {
			t.Errorf("component %s kept after its participants expired", c.Name)
		}
	}
	if !hasComponent(f.rt, "ext/Kept") {
		t.Error("the component of a graph's node was forgotten")
	}
	f.rt.mu.Lock()
	defer f.rt.mu.Unlock()
	if live := f.rt.graphs[LiveGraphID]; len(live.g.Nodes) != 0 || len(live.g.Edges) != 0 {
		t.Errorf("live graph after expiry: %d nodes, %d edges", len(live.g.Nodes), len(live.g.Edges))
	}
	if len(f.rt.live.index.in)+len(f.rt.live.index.out)+len(f.rt.live.index.shown) != 0 {
		t.Errorf("live index after expiry: %d in, %d out, %d shown", len(f.rt.live.index.in), len(f.rt.live.index.out), len(f.rt.live.index.shown))
	}
}

func hasComponent(rt *Runtime, name string) bool {
	for _, c := range rt.Components() {
		if c.Name == name {
			return true
		}
	}
	return false
}

// The runtime remembers a bounded number of participants: beyond it,
// announcements of new ones are ignored (logged once); known ones and the
// runtime's own still count. One announcement of 256 inports and 256
// outports (the most network accepts) on one queue adds at most
// maxLiveEdges edges to the live graph,
// and no tap. Seen failing: 90,000 edges of 300x300 ports, the test timing
// out (the freeze of #19); taps on observed edges for a client without a
// selection.
func TestParticipantsAndLiveEdgesAreBounded(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxParticipants, o.LiveGraph = 5, true })
	f.rt.LoadGraph(NewLiveGraph(), true, true)
	big := network.Definition{ID: "big-1", Role: "big", Component: "ext/Big", Inports: []network.Port{}, Outports: []network.Port{}}
	for i := range network.MaxPorts {
		big.Inports = append(big.Inports, network.Port{ID: fmt.Sprint("in", i), Queue: "same"})
		big.Outports = append(big.Outports, network.Port{ID: fmt.Sprint("out", i), Queue: "same"})
	}
	f.announce(big)
	f.syncDiscovery(0) // the marker is the second participant
	for i := range 10 {
		f.announce(network.Definition{ID: fmt.Sprint("p", i), Role: fmt.Sprint("r", i), Component: "ext/R", Inports: []network.Port{}, Outports: []network.Port{}})
	}
	// The marker again, with a port more: known, so recorded however full
	// the directory is; its component's change is reported once every
	// announcement before it was handled.
	f.announce(network.Definition{ID: "marker-0", Role: "marker0", Component: "test/Marker0", Inports: []network.Port{{ID: "in"}}, Outports: []network.Port{}})
	f.waitEvent("component", "component", func(ev Event) bool {
		c := ev.Message.(wire.Component)
		return c.Name == "test/Marker0" && len(c.InPorts) == 1
	})
	// A client without an edge selection watches every edge but the
	// observed ones: they are tapped only for a client that selects them.
	f.rt.ClientConnected(1)
	if taps := f.pass(); taps != 0 {
		t.Errorf("%d taps on the queues of observed edges nobody selected", taps)
	}
	if n, _ := f.rt.dir.Size(); n != 5 {
		t.Errorf("%d participants remembered, want 5", n)
	}
	f.rt.mu.Lock()
	defer f.rt.mu.Unlock()
	if n := len(f.rt.graphs[LiveGraphID].g.Edges); n != maxLiveEdges {
		t.Errorf("%d edges inferred for one participant, want %d", n, maxLiveEdges)
	}
}
