package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// announce publishes a discovery message as any broker client can.
func (f *fixture) announce(def network.Definition) {
	f.t.Helper()
	msg, err := network.EncodeDiscovery(def)
	must(f.t, err)
	must(f.t, f.ext.Announce(context.Background(), msg))
}

// Announcements describe; they never command (#19). A participant
// announcing a built-in component on someone's queue, or a component the
// library can start under a role nobody serves, is shown in the live graph
// and nothing more: no in-process participant, no process. Saved by
// auto-save, the observations stay observations when the file is loaded
// again. Seen failing (an in-process core/Drop on victim.IN, a process for
// x_1) when the live graph's nodes were planned like a client's.
func TestAnnouncementsStartNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "system.json")
	lib := filepath.Join(dir, "lib.json")
	must(t, os.WriteFile(lib, []byte(`{"components": {"evil/Touch": "touch `+filepath.Join(dir, "touched")+`"}}`), 0o644))
	l, err := LoadLibrary(lib, "")
	must(t, err)
	f := newFixture(t, func(o *Options) {
		o.LiveGraph, o.Library, o.GraphFile, o.AutoSave = true, l, file, true
	})
	live := graph.New("system")
	f.rt.LoadGraph(live, true, true)

	f.announce(network.Definition{ID: "v1", Role: "victim", Component: "core/Drop",
		Inports: []network.Port{{ID: "in", Queue: "victim.IN"}}, Outports: []network.Port{}})
	f.announce(network.Definition{ID: "e1", Role: "x/1", Component: "evil/Touch", Inports: []network.Port{}, Outports: []network.Port{}})
	f.syncDiscovery(1)
	f.pass()

	runs, err := f.rt.NodeRuns("system")
	must(t, err)
	shown := map[string]plan.Run{}
	for _, n := range runs {
		shown[n.Node] = n.Run
	}
	if shown["victim"] != plan.Observed || shown["x/1"] != plan.Observed {
		t.Fatalf("live graph nodes %+v, want victim and x/1 observed", runs)
	}
	f.rt.mu.Lock()
	local := f.rt.local.has("victim")
	procs := len(f.rt.procs.components())
	f.rt.mu.Unlock()
	if local || procs > 0 {
		t.Fatalf("an announcement started something: in-process victim %v, %d processes", local, procs)
	}
	must(t, f.rt.Persist())

	// The file holds them as observations; a runtime loading it starts
	// nothing for them either.
	data, err := os.ReadFile(file)
	must(t, err)
	saved := &graph.Graph{}
	must(t, saved.UnmarshalJSON(data))
	for _, id := range []string{"victim", "x/1"} {
		if n := saved.Node(id); n == nil || !observed(n.Metadata) {
			t.Fatalf("saved node %s: %+v\n%s", id, n, data)
		}
	}
	again := newFixture(t, func(o *Options) { o.Library = l })
	again.rt.LoadGraph(saved, true, true)
	again.pass()
	runs, err = again.rt.NodeRuns("system")
	must(t, err)
	for _, n := range runs {
		if n.Run != plan.Observed {
			t.Errorf("loaded node %+v, want observed", n)
		}
	}
	again.rt.mu.Lock()
	defer again.rt.mu.Unlock()
	if len(again.rt.local.plan()) > 0 || len(again.rt.procs.components()) > 0 {
		t.Fatalf("the loaded observations started %d in-process participants, %d processes", len(again.rt.local.plan()), len(again.rt.procs.components()))
	}
}

// An announcement of a role the runtime runs in-process does not move
// that participant's ports: the edges stay bound to the runtime's own
// queues. Seen failing (the edge bound to evil.IN) when a role resolved to
// the participant heard from last, whoever it was.
func TestAnnouncementDoesNotRedirectInProcessRoles(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "src", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "dst", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddEdge(wire.AddEdge{Src: ref("src", "out"), Tgt: ref("dst", "in"), Graph: "g"}))
	waitBound(t, f, "src.OUT", "dst.IN")
	f.announce(network.Definition{ID: "evil", Role: "dst", Component: "core/Repeat",
		Inports: []network.Port{{ID: "in", Queue: "evil.IN"}}, Outports: []network.Port{}})
	f.syncDiscovery(2)
	f.pass()
	f.rt.mu.Lock()
	defer f.rt.mu.Unlock()
	if f.rt.wiring.isBound(plan.Binding{Src: "src.OUT", Tgt: "evil.IN"}) || !f.rt.wiring.isBound(plan.Binding{Src: "src.OUT", Tgt: "dst.IN"}) {
		t.Fatalf("bindings after the announcement: %v", f.rt.wiring.bound)
	}
}
