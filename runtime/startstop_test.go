package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/memory"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// network:stop pauses a graph's in-process participants and unbinds
// nothing: messages published into a stopped chain wait (in their queues,
// or in the runtime's memory on MQTT) and all arrive, once each, after
// network:start.
func TestStoppedChainLosesNothing(t *testing.T) {
	for _, bk := range fixtureBrokers {
		t.Run(bk.name, func(t *testing.T) {
			f := bk.new(t, nil)
			ctx := context.Background()
			s := uuid.New()[:8]
			a, b, c := "ssa"+s, "ssb"+s, "ssc"+s
			must(t, f.rt.Clear(wire.Clear{ID: "g"}))
			for _, n := range []string{a, b, c} {
				must(t, f.rt.AddNode(wire.AddNode{ID: n, Component: "core/Repeat", Graph: "g"}))
			}
			must(t, f.rt.AddEdge(wire.AddEdge{Src: ref(a, "out"), Tgt: ref(b, "in"), Graph: "g"}))
			must(t, f.rt.AddEdge(wire.AddEdge{Src: ref(b, "out"), Tgt: ref(c, "in"), Graph: "g"}))
			must(t, f.rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: a, Port: "in", Graph: "g"}))
			// A second chain, in a graph that stays started, carries the
			// marker of the negative check below.
			d, e, m := "ssd"+s, "sse"+s, "ssm"+s
			must(t, f.rt.Clear(wire.Clear{ID: "h"}))
			for _, n := range []string{d, e, m} {
				must(t, f.rt.AddNode(wire.AddNode{ID: n, Component: "core/Repeat", Graph: "h"}))
			}
			must(t, f.rt.AddEdge(wire.AddEdge{Src: ref(d, "out"), Tgt: ref(e, "in"), Graph: "h"}))
			must(t, f.rt.AddEdge(wire.AddEdge{Src: ref(e, "out"), Tgt: ref(m, "in"), Graph: "h"}))
			must(t, f.rt.Start("h"))
			collector := "sscollect" + s + ".IN"
			out := f.collect(collector)
			for _, last := range []string{c, m} {
				must(t, f.ext.DeclareOutport(ctx, last+".OUT", noOpts))
				must(t, f.ext.Bind(ctx, last+".OUT", collector))
			}
			waitBound(t, f, d+".OUT", e+".IN")
			waitBound(t, f, e+".OUT", m+".IN")

			// Wired and flowing while started.
			must(t, f.rt.Start("g"))
			_, err := f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf("first"), Graph: "g"})
			must(t, err)
			if got := receive(t, out); got != `"first"` {
				t.Fatalf("got %s", got)
			}

			must(t, f.rt.Stop("g"))
			st, err := f.rt.Status("g")
			must(t, err)
			if st.Running || st.Started {
				t.Fatalf("status of a stopped graph: %+v", st)
			}
			// The participants are paused as stop answers: no pass needed.
			const total = 1000
			for i := range total {
				must(t, f.ext.Send(ctx, a+".IN", fmt.Appendf(nil, `{"seq":%d}`, i)))
			}
			// Nothing came through while stopped: a marker sent after the
			// last of them through a running chain like this one is first.
			must(t, f.ext.Send(ctx, d+".IN", []byte(`"marker"`)))
			if got := receive(t, out); got != `"marker"` {
				t.Fatalf("a stopped chain passed %s on", got)
			}

			must(t, f.rt.Start("g"))
			// The end marker goes in last; the chain keeps order, so when
			// it arrives everything before it has.
			must(t, f.ext.Send(ctx, a+".IN", []byte(`"end"`)))
			seen := map[int]int{}
			for {
				got := receive(t, out)
				if got == `"end"` {
					break
				}
				var m struct{ Seq int }
				if err := json.Unmarshal([]byte(got), &m); err != nil {
					t.Fatalf("got %s", got)
				}
				seen[m.Seq]++
			}
			for i := range total {
				if seen[i] != 1 {
					t.Fatalf("message %d arrived %d times (%d distinct of %d)", i, seen[i], len(seen), total)
				}
			}
		})
	}
}

// As in msgflo, a graph that is never started still wires its edges: two
// participants of other processes pass data along them.
func TestNeverStartedGraphWiresExternalParticipants(t *testing.T) {
	for _, bk := range fixtureBrokers {
		t.Run(bk.name, func(t *testing.T) {
			f := bk.new(t, nil)
			ctx := context.Background()
			s := uuid.New()[:8]
			x, y := "nsx"+s, "nsy"+s
			got := make(chan string, 10)
			rep, _ := participant.LookupCore("core/Repeat")
			rep.Name = "ext/Repeat"
			px, err := participant.New(f.ext, rep, x, participant.Options{})
			must(t, err)
			must(t, px.Start(ctx))
			defer px.Stop(ctx)
			py, err := participant.New(f.ext, participant.Component{
				Name:    "ext/Sink",
				Inports: []participant.Port{{ID: "in"}},
				Process: func(_ context.Context, in participant.Input, _ participant.Output) error {
					got <- string(in.Data)
					return nil
				},
			}, y, participant.Options{})
			must(t, err)
			must(t, py.Start(ctx))
			defer py.Stop(ctx)

			must(t, f.rt.Clear(wire.Clear{ID: "g"}))
			must(t, f.rt.AddNode(wire.AddNode{ID: x, Component: "ext/Repeat", Graph: "g"}))
			must(t, f.rt.AddNode(wire.AddNode{ID: y, Component: "ext/Sink", Graph: "g"}))
			must(t, f.rt.AddEdge(wire.AddEdge{Src: ref(x, "out"), Tgt: ref(y, "in"), Graph: "g"}))
			waitBound(t, f, x+".OUT", y+".IN")
			must(t, px.Send(ctx, "in", json.RawMessage(`{"hello":1}`)))
			if v := receive(t, got); v != `{"hello":1}` {
				t.Fatalf("got %s", v)
			}
			// Removing the edge unbinds it.
			must(t, f.rt.RemoveEdge(wire.RemoveEdge{Src: ref(x, "out"), Tgt: ref(y, "in"), Graph: "g"}))
			waitUnbound(t, f, x+".OUT", y+".IN")
		})
	}
}

// An initial packet is sent once per start of its graph: adding one to a
// started graph sends it now, starting a started graph sends nothing
// again, and neither does setting it again to the same value.
func TestIIPsOncePerStart(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "once", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: "once", Port: "in", Graph: "g"}))
	out := f.collect("oncecollect.IN")
	must(t, f.ext.DeclareOutport(ctxBG, "once.OUT", noOpts))
	must(t, f.ext.Bind(ctxBG, "once.OUT", "oncecollect.IN"))
	must(t, f.rt.Start("g"))
	st, err := f.rt.Status("g")
	must(t, err)
	if !st.Running || !st.Started {
		t.Fatalf("status of a started graph with an inport: %+v", st)
	}
	must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf("iip")}, Tgt: ref("once", "in"), Graph: "g"}))
	if got := receive(t, out); got != `"iip"` {
		t.Fatalf("got %s", got)
	}
	must(t, f.rt.Start("g"))
	f.pass()
	_, err = f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf("marker"), Graph: "g"})
	must(t, err)
	if got := receive(t, out); got != `"marker"` {
		t.Fatalf("starting a started graph sent %s again", got)
	}
	// A new start sends it again, once.
	must(t, f.rt.Stop("g"))
	must(t, f.rt.Start("g"))
	if got := receive(t, out); got != `"iip"` {
		t.Fatalf("got %s", got)
	}
	_, err = f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf("marker2"), Graph: "g"})
	must(t, err)
	if got := receive(t, out); got != `"marker2"` {
		t.Fatalf("a start sent %s twice", got)
	}
	// Set again to the value already sent (Flowhub's removeinitial and
	// addinitial of the same packet): not sent again. A new value is sent,
	// and so is the old one set back after it.
	reset := func(data string) {
		t.Helper()
		must(t, f.rt.RemoveInitial(wire.RemoveInitial{Tgt: ref("once", "in"), Graph: "g"}))
		must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf(data)}, Tgt: ref("once", "in"), Graph: "g"}))
	}
	reset("iip")
	f.pass() // what the outbox holds is sent
	reset("changed")
	if got := receive(t, out); got != `"changed"` {
		t.Fatalf("setting the IIP again to its value sent %s again", got)
	}
	reset("iip")
	if got := receive(t, out); got != `"iip"` {
		t.Fatalf("got %s, want the IIP set back to its first value", got)
	}
}

// A participant instance heard from for the first time (a new id, e.g. a
// restarted process) gets the initial packets of its nodes in started
// graphs (msgflo issue 127).
func TestNewParticipantInstanceGetsIIPs(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "inst", Component: "ext/Inst", Graph: "g"}))
	must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: jsonOf("config")}, Tgt: ref("inst", "in"), Graph: "g"}))
	must(t, f.rt.Start("g"))
	got := make(chan string, 10)
	comp := participant.Component{
		Name:    "ext/Inst",
		Inports: []participant.Port{{ID: "in"}},
		Process: func(_ context.Context, in participant.Input, _ participant.Output) error {
			got <- string(in.Data)
			return nil
		},
	}
	for _, id := range []string{"inst-1", "inst-2"} {
		p, err := participant.New(f.ext, comp, "inst", participant.Options{ID: id})
		must(t, err)
		must(t, p.Start(ctxBG))
		if v := receive(t, got); v != `"config"` {
			t.Fatalf("%s got %s", id, v)
		}
		must(t, p.Stop(ctxBG))
	}
	// A heartbeat of a known instance sends nothing.
	p, err := participant.New(f.ext, comp, "inst", participant.Options{ID: "inst-2"})
	must(t, err)
	must(t, p.Start(ctxBG))
	defer p.Stop(ctxBG)
	f.pass()
	must(t, p.Send(ctxBG, "in", json.RawMessage(`"marker"`)))
	if v := receive(t, got); v != `"marker"` {
		t.Fatalf("a known instance got %s again", v)
	}
}

// network:stop pauses the in-process participants before it answers, not
// in a reconcile pass to come: a message a client sends once it has
// "stopped" waits in the queue. Here no reconcile loop runs at all after
// the participants started. A participant whose role also has a node in a
// graph still started keeps taking messages.
func TestStopPausesBeforeItAnswers(t *testing.T) {
	srv := memory.NewServer()
	conn := srv.Connect()
	rt, err := New(Options{ID: "rt", Broker: conn, Components: participant.CoreComponents(),
		Sink: &recorder{ch: make(chan Event, 1000)}, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	must(t, err)
	t.Cleanup(func() { rt.shutdown(); _ = conn.Close() })
	must(t, rt.Clear(wire.Clear{ID: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "mine", Component: "core/Repeat", Graph: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "shared", Component: "core/Repeat", Graph: "g"}))
	must(t, rt.Clear(wire.Clear{ID: "h"}))
	must(t, rt.AddNode(wire.AddNode{ID: "shared", Component: "core/Repeat", Graph: "h"}))
	must(t, rt.Start("g"))
	must(t, rt.Start("h"))
	ctx := context.Background()
	for range 3 { // start, then run once their outputs are wired
		rt.wiring.reconcile(ctx)
	}
	for _, role := range []string{"mine", "shared"} {
		if st, _ := rt.local.state(role); st != NodeRunning {
			t.Fatalf("%s is %q before the stop, want %q", role, st, NodeRunning)
		}
	}
	must(t, rt.Stop("g"))
	if st, _ := rt.local.state("mine"); st != NodePaused {
		t.Errorf("mine is %q once network:stop answered, want %q", st, NodePaused)
	}
	if st, _ := rt.local.state("shared"); st != NodeRunning {
		t.Errorf("shared, a node of the started graph h too, is %q, want %q", st, NodeRunning)
	}
}

// A plan made while a network was started and acted on once network:stop
// answered does not open what the stop closed: the gate of a participant
// running, nor that of one the plan starts. The pass runs without the
// store's lock, so a stop can come between its snapshot and its gates.
// Seen failing (both running) when the gates followed the plan alone.
func TestStopBetweenPlanAndActKeepsGatesClosed(t *testing.T) {
	srv := memory.NewServer()
	conn := srv.Connect()
	rt, err := New(Options{ID: "rt", Broker: conn, Components: participant.CoreComponents(),
		Sink: &recorder{ch: make(chan Event, 1000)}, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	must(t, err)
	t.Cleanup(func() { rt.shutdown(); _ = conn.Close() })
	ctx := context.Background()
	w := rt.wiring
	must(t, rt.Clear(wire.Clear{ID: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "old", Component: "core/Repeat", Graph: "g"}))
	for range 3 { // start, then run once their outputs are wired
		w.reconcile(ctx)
	}
	if st, _ := rt.local.state("old"); st != NodePaused {
		t.Fatalf("old is %q in a graph never started, want %q", st, NodePaused)
	}
	must(t, rt.Start("g"))
	must(t, rt.AddNode(wire.AddNode{ID: "new", Component: "core/Repeat", Graph: "g"}))
	rt.mu.Lock()
	p := plan.Make(w.snapshotLocked())
	rt.mu.Unlock()
	must(t, rt.Stop("g"))
	w.act(ctx, p)
	for _, role := range []string{"old", "new"} {
		if lp := rt.local.get(role); lp == nil || lp.gate.isOpen() {
			t.Errorf("%s: gate open (or no participant) once the stopped network's stale plan was acted on", role)
		}
	}
}
