package runtime

import (
	"context"
	"testing"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// Flowhub names new nodes <library>/<Component>_<random>: such a node runs
// under an escaped role on every broker, and the protocol keeps its id.
func TestFlowhubNodeIDsRun(t *testing.T) {
	for _, bk := range fixtureBrokers {
		t.Run(bk.name, func(t *testing.T) {
			f := bk.new(t, nil)
			s := uuid.New()[:8]
			first, second := "core/Repeat_"+s, "core/Output_"+s
			must(t, f.rt.Clear(wire.Clear{ID: "g"}))
			must(t, f.rt.AddNode(wire.AddNode{ID: first, Component: "core/Repeat", Graph: "g"}))
			must(t, f.rt.AddNode(wire.AddNode{ID: second, Component: "core/Output", Graph: "g"}))
			must(t, f.rt.AddEdge(wire.AddEdge{Src: ref(first, "out"), Tgt: ref(second, "in"), Graph: "g"}))
			out := f.collect("fhcollect" + s + ".IN")
			must(t, f.ext.DeclareOutport(ctxBG, "core_Output_"+s+".OUT", noOpts))
			must(t, f.ext.Bind(ctxBG, "core_Output_"+s+".OUT", "fhcollect"+s+".IN"))
			must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf("hello")}, Tgt: ref(first, "in"), Graph: "g"}))
			must(t, f.rt.Start("g"))
			if got := receive(t, out); got != `"hello"` {
				t.Fatalf("got %s", got)
			}
			// The IIP was reported under the node's id, and nothing failed.
			for len(f.events.ch) > 0 {
				ev := <-f.events.ch
				if ev.Command() == "error" || ev.Command() == "processerror" {
					t.Fatalf("unexpected %s:%s %+v", ev.Protocol(), ev.Command(), ev.Message)
				}
			}
			f.rt.mu.Lock()
			local := f.rt.local.has("core_Output_" + s)
			f.rt.mu.Unlock()
			if !local {
				t.Fatalf("no participant with role core_Output_%s", s)
			}
		})
	}
}

// A packet waiting for a node that will not get a participant is reported,
// naming the node; the rest of the graph keeps flowing; a graph in which
// everything waits is not reported running; and a client that asks hears
// about the problem again.
func TestWaitsAreReportedNamingTheNode(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "ok", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "feed", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "dead", Component: "ext/Nowhere", Graph: "g"}))
	must(t, f.rt.AddEdge(wire.AddEdge{Src: ref("feed", "out"), Tgt: ref("dead", "in"), Graph: "g"}))
	out := f.collect("waitcollect.IN")
	must(t, f.ext.DeclareOutport(ctxBG, "ok.OUT", noOpts))
	must(t, f.ext.Bind(ctxBG, "ok.OUT", "waitcollect.IN"))
	must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf("to feed")}, Tgt: ref("feed", "in"), Graph: "g"}))
	must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf("to ok")}, Tgt: ref("ok", "in"), Graph: "g"}))
	must(t, f.rt.Start("g"))
	ev := f.waitEvent("network", "processerror", nil)
	if p := ev.Message.(wire.ProcessError); p.ID != "dead" || p.Graph != "g" {
		t.Fatalf("processerror %+v", p)
	}
	if p := ev.Message.(wire.ProcessError); !contains(p.Error, "wait for node dead") {
		t.Fatalf("processerror %+v", p)
	}
	if got := receive(t, out); got != `"to ok"` {
		t.Fatalf("the rest of the graph: got %s", got)
	}

	// A graph where everything waits is not running.
	must(t, f.rt.Clear(wire.Clear{ID: "stuck"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "dead2", Component: "ext/Nowhere", Graph: "stuck"}))
	must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf(1)}, Tgt: ref("dead2", "in"), Graph: "stuck"}))
	must(t, f.rt.Start("stuck"))
	f.waitEvent("network", "processerror", func(ev Event) bool { return ev.Message.(wire.ProcessError).ID == "dead2" })
	st, err := f.rt.Status("stuck")
	must(t, err)
	if st.Running || !st.Started {
		t.Fatalf("status of a graph where everything waits: %+v", st)
	}

	// Asked again, the runtime reports it again, to the asking client only.
	f.rt.ReportProblems(7, "stuck")
	ev = f.waitEvent("network", "processerror", nil)
	if p := ev.Message.(wire.ProcessError); p.ID != "dead2" || len(ev.To) != 1 || ev.To[0] != 7 {
		t.Fatalf("reported again: %+v to %v", p, ev.To)
	}
}

// A node whose in-process participant cannot start is reported as
// network:processerror naming the node and as network:error with its graph.
func TestNodeThatCannotStartIsNamed(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Components = append(o.Components, participant.Component{
			Name:    "test/Broken",
			Inports: []participant.Port{{ID: "in"}, {ID: "IN"}}, // two ports of one name
			Process: func(context.Context, participant.Input, participant.Output) error { return nil },
		})
	})
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "test/Broken_1x2y3", Component: "test/Broken", Graph: "g"}))
	ev := f.waitEvent("network", "processerror", nil)
	if p := ev.Message.(wire.ProcessError); p.ID != "test/Broken_1x2y3" || p.Graph != "g" {
		t.Fatalf("processerror %+v", p)
	}
	ev = f.waitEvent("network", "error", nil)
	if p := ev.Message.(wire.NetworkError); p.Graph != "g" || !contains(p.Message, "test/Broken_1x2y3") {
		t.Fatalf("network:error %+v", p)
	}
	f.rt.ReportProblems(3, "g")
	if ev := f.waitEvent("network", "processerror", nil); len(ev.To) != 1 || ev.To[0] != 3 {
		t.Fatalf("not reported again to the asking client: %+v", ev)
	}
	if ev := f.waitEvent("network", "error", nil); len(ev.To) != 1 || ev.To[0] != 3 {
		t.Fatalf("not reported again to the asking client: %+v", ev)
	}
}

// Two graphs with a node of one id (one role) and different built-in
// components, as fbp-spec runs suites: each suite's graph has a node
// "testee" of the suite's topic, and is stopped (or cleared) when the
// suite is done. The second graph's component serves the role once it is
// started; the first graph's participant stops.
func TestRoleSharedByTwoGraphsFollowsTheStartedOne(t *testing.T) {
	for _, bk := range fixtureBrokers {
		for _, done := range []string{"stopped", "cleared"} {
			t.Run(bk.name+"/"+done, func(t *testing.T) {
				f := bk.new(t, nil)
				f.rt.ClientConnected(1) // runtime:packet goes to connected clients
				testee := "testee" + uuid.New()[:8]
				suite := func(id, component, out string) {
					t.Helper()
					must(t, f.rt.Clear(wire.Clear{ID: id}))
					must(t, f.rt.AddNode(wire.AddNode{ID: testee, Component: component, Graph: id}))
					must(t, f.rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: testee, Port: "in", Graph: id}))
					must(t, f.rt.AddExported(graph.Out, wire.ExportedPort{Public: out, Node: testee, Port: out, Graph: id}))
					must(t, f.rt.Start(id))
					_, err := f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf("x"), Graph: id})
					must(t, err)
					f.waitEvent("runtime", "packet", func(ev Event) bool {
						p, ok := ev.Message.(wire.Packet)
						return ok && p.Graph == id && p.Port == out
					})
				}
				suite("a", "core/Counter", "count")
				if done == "stopped" {
					must(t, f.rt.Stop("a"))
				} else {
					must(t, f.rt.Clear(wire.Clear{ID: "a"}))
				}
				suite("b", "core/Repeat", "out")
				for len(f.events.ch) > 0 {
					ev := <-f.events.ch
					if p, ok := ev.Message.(wire.NetworkError); ok && p.Graph == "b" {
						t.Fatalf("network:error in the graph started: %+v", p)
					}
				}
			})
		}
	}
}

// The runtime hears its own in-process participants' announcements on the
// broker and knows them without decoding them (hundreds of participants
// announce at start and every period); a message from anyone else naming
// one of their ids tells the runtime nothing about them.
func TestOwnAnnouncementsAreKnownWithoutDecoding(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "own", Component: "core/Repeat", Graph: "g"}))
	f.pass()
	lp := f.rt.local.get("own")
	if lp == nil {
		t.Fatal("no in-process participant")
	}
	msg, err := network.EncodeDiscovery(lp.p.Definition())
	must(t, err)
	if !f.rt.local.ownAnnouncement(msg) {
		t.Fatalf("its own announcement not recognised: %s", msg)
	}
	other := lp.def
	other.ID = "someone-else"
	if msg, _ := network.EncodeDiscovery(other); f.rt.local.ownAnnouncement(msg) {
		t.Fatal("another id taken for its own")
	}
	forged := lp.p.Definition()
	forged.Inports = append(forged.Inports, network.Port{ID: "extra", Queue: "elsewhere.IN"})
	f.announce(forged)
	f.syncDiscovery(1)
	e, ok := f.rt.dir.Get(lp.def.ID)
	if !ok || len(e.Definition.Inports) != len(lp.def.Inports) {
		t.Fatalf("a forged announcement changed the record of the runtime's own participant: %+v", e.Definition)
	}
}
