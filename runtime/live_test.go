package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// Without a graph file, the main graph shows the participants on the
// broker: each as a node named by its role, with an edge wherever an
// outport and an inport share a queue, as participants come and go. Nodes
// of other graphs stay out of it, and only clients following the live graph
// hear about the changes.
func TestLiveMainGraphShowsDiscoveredParticipants(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.LiveGraph = true; o.HeartbeatExpiry = 2 * time.Second })
	f.rt.LoadGraph(NewLiveGraph(), true, true)
	if info := f.rt.Info(); info.MainGraph != LiveGraphID {
		t.Fatalf("main graph %q", info.MainGraph)
	}
	const follower = ClientID(5)
	f.rt.ClientConnected(follower)
	f.rt.ReportProblems(follower, LiveGraphID) // as after network:getstatus of the live graph

	// A node of another graph is not shown.
	must(t, f.rt.Clear(wire.Clear{ID: "other"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "inproc", Component: "core/Repeat", Graph: "other"}))
	f.pass() // its participant is known

	s := uuid.New()[:8]
	shared := "liveq" + s
	start := func(role string, in, out []participant.Port) *participant.Participant {
		p, err := participant.New(f.ext, participant.Component{
			Name: "ext/Live", Label: "Describes the component", Inports: in, Outports: out,
			Process: func(context.Context, participant.Input, participant.Output) error { return nil },
		}, role, participant.Options{DiscoveryPeriod: 100 * time.Millisecond})
		must(t, err)
		must(t, p.Start(context.Background()))
		return p
	}
	p1 := start("lp1"+s, []participant.Port{{ID: "in"}}, []participant.Port{{ID: "out", Queue: shared}})
	defer p1.Stop(context.Background())
	p2 := start("lp2"+s, []participant.Port{{ID: "in", Queue: shared}}, nil)

	live := func(command string) Event {
		t.Helper()
		ev := f.waitEvent("graph", command, func(ev Event) bool {
			if p, ok := ev.Message.(wire.AddNode); ok && p.Graph == LiveGraphID && p.ID == "inproc" {
				t.Fatalf("a node of another graph was shown: %+v", ev.Message)
			}
			return ev.To != nil // the acknowledgements of edits go to everyone
		})
		if len(ev.To) != 1 || ev.To[0] != follower {
			t.Fatalf("graph:%s went to %v, want the follower only", command, ev.To)
		}
		return ev
	}
	// The component is announced before any node of it: Flowhub cannot
	// draw a node of a component it does not know. (An addnode sent before
	// it would be skipped here, and the loop below would miss it.)
	f.waitEvent("component", "component", func(ev Event) bool { return ev.Message.(wire.Component).Name == "ext/Live" })
	nodes := map[string]bool{}
	for len(nodes) < 2 {
		p := live("addnode").Message.(wire.AddNode)
		if p.Graph != LiveGraphID || p.Component != "ext/Live" || p.Metadata["label"] != nil {
			t.Fatalf("addnode %+v (no label: editors show the role)", p)
		}
		nodes[p.ID] = true
	}
	if !nodes["lp1"+s] || !nodes["lp2"+s] {
		t.Fatalf("nodes %v", nodes)
	}
	e := live("addedge").Message.(wire.AddEdge)
	if e.Src != ref("lp1"+s, "out") || e.Tgt != ref("lp2"+s, "in") || e.Graph != LiveGraphID {
		t.Fatalf("inferred edge %+v", e)
	}
	st, err := f.rt.Status(LiveGraphID)
	must(t, err)
	if !st.Running || !st.Started {
		t.Fatalf("live graph status %+v", st)
	}

	// Gone, it leaves the graph with its edges.
	must(t, p2.Stop(context.Background()))
	if e := live("removeedge").Message.(wire.RemoveEdge); e.Tgt != ref("lp2"+s, "in") {
		t.Fatalf("removeedge %+v", e)
	}
	if n := live("removenode").Message.(wire.RemoveNode); n.ID != "lp2"+s {
		t.Fatalf("removenode %+v", n)
	}
}
