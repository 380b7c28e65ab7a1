package runtime

import (
	"context"
	"testing"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/participant"
)

// Flowhub names new nodes <library>/<Component>_<random>: such a node runs
// under an escaped role on every broker, and the protocol keeps its id.
func TestFlowhubNodeIDsRun(t *testing.T) {
	for _, bk := range fixtureBrokers {
		t.Run(bk.name, func(t *testing.T) {
			f := bk.new(t, nil)
			s := uuid.New()[:8]
			first, second := "core/Repeat_"+s, "core/Output_"+s
			must(t, f.rt.Clear(ClearPayload{ID: "g"}))
			must(t, f.rt.AddNode(NodePayload{ID: first, Component: "core/Repeat", Graph: "g"}))
			must(t, f.rt.AddNode(NodePayload{ID: second, Component: "core/Output", Graph: "g"}))
			must(t, f.rt.AddEdge(EdgePayload{Src: ref(first, "out"), Tgt: ref(second, "in"), Graph: "g"}))
			out := f.collect("fhcollect" + s + ".IN")
			must(t, f.ext.DeclareOutport(ctxBG, "core_Output_"+s+".OUT", noOpts))
			must(t, f.ext.Bind(ctxBG, "core_Output_"+s+".OUT", "fhcollect"+s+".IN"))
			must(t, f.rt.AddInitial(InitialPayload{Src: IIPData{Data: jsonOf("hello")}, Tgt: ref(first, "in"), Graph: "g"}))
			must(t, f.rt.Start("g"))
			if got := receive(t, out); got != `"hello"` {
				t.Fatalf("got %s", got)
			}
			// The IIP was reported under the node's id, and nothing failed.
			for len(f.events.ch) > 0 {
				ev := <-f.events.ch
				if ev.Command == "error" || ev.Command == "processerror" {
					t.Fatalf("unexpected %s:%s %+v", ev.Protocol, ev.Command, ev.Payload)
				}
			}
			f.rt.mu.Lock()
			_, local := f.rt.local["core_Output_"+s]
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
	must(t, f.rt.Clear(ClearPayload{ID: "g"}))
	must(t, f.rt.AddNode(NodePayload{ID: "ok", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(NodePayload{ID: "feed", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(NodePayload{ID: "dead", Component: "ext/Nowhere", Graph: "g"}))
	must(t, f.rt.AddEdge(EdgePayload{Src: ref("feed", "out"), Tgt: ref("dead", "in"), Graph: "g"}))
	out := f.collect("waitcollect.IN")
	must(t, f.ext.DeclareOutport(ctxBG, "ok.OUT", noOpts))
	must(t, f.ext.Bind(ctxBG, "ok.OUT", "waitcollect.IN"))
	must(t, f.rt.AddInitial(InitialPayload{Src: IIPData{Data: jsonOf("to feed")}, Tgt: ref("feed", "in"), Graph: "g"}))
	must(t, f.rt.AddInitial(InitialPayload{Src: IIPData{Data: jsonOf("to ok")}, Tgt: ref("ok", "in"), Graph: "g"}))
	must(t, f.rt.Start("g"))
	ev := f.waitEvent("network", "processerror", nil)
	if p := ev.Payload.(ProcessErrorPayload); p.ID != "dead" || p.Graph != "g" {
		t.Fatalf("processerror %+v", p)
	}
	if p := ev.Payload.(ProcessErrorPayload); !contains(p.Error, "wait for node dead") {
		t.Fatalf("processerror %+v", p)
	}
	if got := receive(t, out); got != `"to ok"` {
		t.Fatalf("the rest of the graph: got %s", got)
	}

	// A graph where everything waits is not running.
	must(t, f.rt.Clear(ClearPayload{ID: "stuck"}))
	must(t, f.rt.AddNode(NodePayload{ID: "dead2", Component: "ext/Nowhere", Graph: "stuck"}))
	must(t, f.rt.AddInitial(InitialPayload{Src: IIPData{Data: jsonOf(1)}, Tgt: ref("dead2", "in"), Graph: "stuck"}))
	must(t, f.rt.Start("stuck"))
	f.waitEvent("network", "processerror", func(ev Event) bool { return ev.Payload.(ProcessErrorPayload).ID == "dead2" })
	st, err := f.rt.Status("stuck")
	must(t, err)
	if st.Running || !st.Started {
		t.Fatalf("status of a graph where everything waits: %+v", st)
	}

	// Asked again, the runtime reports it again, to the asking client only.
	f.rt.ReportProblems(7, "stuck")
	ev = f.waitEvent("network", "processerror", nil)
	if p := ev.Payload.(ProcessErrorPayload); p.ID != "dead2" || len(ev.To) != 1 || ev.To[0] != 7 {
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
	must(t, f.rt.Clear(ClearPayload{ID: "g"}))
	must(t, f.rt.AddNode(NodePayload{ID: "test/Broken_1x2y3", Component: "test/Broken", Graph: "g"}))
	ev := f.waitEvent("network", "processerror", nil)
	if p := ev.Payload.(ProcessErrorPayload); p.ID != "test/Broken_1x2y3" || p.Graph != "g" {
		t.Fatalf("processerror %+v", p)
	}
	ev = f.waitEvent("network", "error", nil)
	if p := ev.Payload.(NetworkErrorPayload); p.Graph != "g" || !contains(p.Message, "test/Broken_1x2y3") {
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
