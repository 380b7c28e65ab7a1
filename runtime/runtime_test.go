package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

const waitLimit = 10 * time.Second

// recorder is a Sink that hands events to the test.
type recorder struct{ ch chan Event }

func (r *recorder) Broadcast(ev Event) {
	select {
	case r.ch <- ev:
	default:
		panic("test sink full")
	}
}

type fixture struct {
	t      *testing.T
	rt     *Runtime
	events *recorder
	emb    *embedded.Server
	broker network.Broker
	// ext is a connection of the test's own to the runtime's broker (the
	// runtime's own on the embedded broker).
	ext network.Broker
	// passes gets, after each reconcile pass, the number of edge taps.
	passes chan int
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	emb, err := embedded.Start(context.Background(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := startFixture(t, emb.Broker(), emb.Broker(), mod, func() { _ = emb.Close() })
	f.emb = emb
	return f
}

// fixtureBrokers are the brokers the data-plane tests run on: the embedded
// one, RabbitMQ and Mosquitto.
var fixtureBrokers = []struct {
	name string
	new  func(t *testing.T, mod func(*Options)) *fixture
}{
	{"embedded", newFixture},
	{"amqp", func(t *testing.T, mod func(*Options)) *fixture {
		u := brokertest.RabbitMQURL(t)
		disc := "fbp-rt-" + uuid.New()[:8]
		dial := func() network.Broker {
			b, err := amqp.Dial(context.Background(), u, amqp.Options{Logger: zerolog.Nop(), DiscoveryQueue: disc})
			must(t, err)
			return b
		}
		rb, ext := dial(), dial()
		return startFixture(t, rb, ext, mod, func() { _ = ext.Close(); _ = rb.Close() })
	}},
	{"mqtt", func(t *testing.T, mod func(*Options)) *fixture {
		u := brokertest.MosquittoURL(t)
		dial := func() network.Broker {
			b, err := mqtt.Dial(context.Background(), u, mqtt.Options{Logger: zerolog.Nop()})
			must(t, err)
			return b
		}
		rb, ext := dial(), dial()
		return startFixture(t, rb, ext, mod, func() { _ = ext.Close(); _ = rb.Close() })
	}},
}

func startFixture(t *testing.T, b, ext network.Broker, mod func(*Options), closeBrokers func()) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts := Options{
		ID:         "rt",
		Broker:     b,
		Components: participant.CoreComponents(),
		RetryDelay: 10 * time.Millisecond,
		Logger:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	if mod != nil {
		mod(&opts)
	}
	rec := &recorder{ch: make(chan Event, 10000)}
	opts.Sink = rec
	rt, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	passes := make(chan int, 1000)
	rt.wiring.reconciled = func() {
		select {
		case passes <- len(rt.wiring.taps): // on the Run goroutine, which owns taps
		default:
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = rt.Run(ctx) }()
	waitReady(t, rt)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		closeBrokers()
	})
	return &fixture{t: t, rt: rt, events: rec, broker: b, ext: ext, passes: passes}
}

// waitReady waits until rt listens for announcements.
func waitReady(t testing.TB, rt *Runtime) {
	t.Helper()
	select {
	case <-rt.Ready():
	case <-time.After(waitLimit):
		t.Fatalf("the runtime was not ready within %s", waitLimit)
	}
}

// nextPass waits for the next reconcile pass and returns its tap count.
func (f *fixture) nextPass() int {
	f.t.Helper()
	select {
	case n := <-f.passes:
		return n
	case <-time.After(waitLimit):
		f.t.Fatalf("no reconcile pass within %s", waitLimit)
		return 0
	}
}

// pass waits for a reconcile pass that started after the call and returns
// the number of edge taps after it. A pass already under way when pass is
// called may not have seen what came just before, so it waits for the one
// after that.
func (f *fixture) pass() int {
	for len(f.passes) > 0 {
		<-f.passes
	}
	f.rt.poke()
	f.nextPass()
	f.rt.poke()
	return f.nextPass()
}

// waitEvent skips events until one matches.
func (f *fixture) waitEvent(protocol, command string, match func(Event) bool) Event {
	f.t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case ev := <-f.events.ch:
			if ev.Protocol() == protocol && ev.Command() == command && (match == nil || match(ev)) {
				return ev
			}
		case <-deadline:
			f.t.Fatalf("no %s:%s event within %s", protocol, command, waitLimit)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ref(node, port string) wire.PortRef { return wire.PortRef{Node: node, Port: port} }

// collect consumes an inport queue on its own connection (another process,
// as far as the runtime can tell) and hands the data to the test.
func (f *fixture) collect(queue string) <-chan string {
	f.t.Helper()
	out := make(chan string, 10000)
	must(f.t, f.ext.DeclareInport(context.Background(), queue, network.QueueOptions{NonPersistent: true}))
	sub, err := f.ext.Consume(context.Background(), queue, 0, func(d network.Delivery) {
		out <- string(d.Data())
		_ = d.Ack()
	})
	must(f.t, err)
	f.t.Cleanup(func() { _ = sub.Close() })
	return out
}

func receive(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(waitLimit):
		t.Fatal("nothing received")
	}
	return ""
}

func TestInProcessParticipantsFollowTheGraph(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "rep", Component: "core/Repeat", Graph: "g"}))
	f.waitEvent("graph", "addnode", nil)
	// Its participant announces itself like any other.
	disc := make(chan network.Definition, 100)
	sub, err := f.broker.SubscribeDiscovery(context.Background(), func(_ string, data []byte) {
		if def, err := network.DecodeDiscovery(data); err == nil {
			disc <- def
		}
	})
	must(t, err)
	defer sub.Close()
	must(t, f.rt.RenameNode(wire.RenameNode{From: "rep", To: "rep2", Graph: "g"}))
	for {
		select {
		case def := <-disc:
			if def.Role != "rep2" {
				continue
			}
			if def.Component != "core/Repeat" || def.Inports[0].Queue != "rep2.IN" || def.Outports[0].Queue != "rep2.OUT" {
				t.Fatalf("announced %+v", def)
			}
		case <-time.After(waitLimit):
			t.Fatal("renamed node's participant never announced itself")
		}
		break
	}
	f.rt.mu.Lock()
	old := f.rt.local.has("rep")
	f.rt.mu.Unlock()
	if old {
		t.Fatal("participant of the old role still runs")
	}
}

// waitUnbound waits until the runtime has removed a binding.
func waitUnbound(t *testing.T, f *fixture, src, tgt string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		f.rt.mu.Lock()
		bound := f.rt.wiring.isBound(plan.Binding{Src: src, Tgt: tgt})
		f.rt.mu.Unlock()
		if !bound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -> %s still bound", src, tgt)
		}
		f.rt.poke()
		time.Sleep(time.Millisecond) // polling reconciler state; no event exists for it
	}
}

func TestIIPWaitsForItsParticipant(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "late", Component: "ext/Late", Graph: "g"}))
	must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: json.RawMessage(`{"x":1}`)}, Tgt: ref("late", "in"), Graph: "g"}))
	must(t, f.rt.Start("g"))
	st, err := f.rt.Status("g")
	must(t, err)
	if !st.Running || !st.Started {
		t.Fatalf("status while an IIP waits: %+v", st)
	}
	// The participant shows up later, from another connection.
	got := make(chan string, 1)
	comp := participant.Component{
		Name:    "ext/Late",
		Inports: []participant.Port{{ID: "in", Type: "object"}},
		Process: func(_ context.Context, in participant.Input, _ participant.Output) error {
			got <- string(in.Data)
			return nil
		},
	}
	p, err := participant.New(f.broker, comp, "late", participant.Options{})
	must(t, err)
	must(t, p.Start(context.Background()))
	defer p.Stop(context.Background())
	select {
	case data := <-got:
		var v map[string]any
		if json.Unmarshal([]byte(data), &v) != nil || v["x"] != 1.0 {
			t.Fatalf("participant got %q", data)
		}
	case <-time.After(waitLimit):
		t.Fatal("IIP never delivered")
	}
	ev := f.waitEvent("component", "component", func(ev Event) bool { return ev.Message.(wire.Component).Name == "ext/Late" })
	_ = ev
}

func TestSilentParticipantExpires(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.HeartbeatExpiry = 50 * time.Millisecond })
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "ghost", Component: "ext/Ghost", Graph: "g"}))
	def := network.Definition{ID: "ghost-1", Role: "ghost", Component: "ext/Ghost", Inports: []network.Port{{ID: "in", Queue: "ghost.IN"}}, Outports: []network.Port{}}
	msg, err := network.EncodeDiscovery(def)
	must(t, err)
	must(t, f.broker.Announce(context.Background(), msg))
	f.waitEvent("component", "component", nil)
	ev := f.waitEvent("network", "processerror", nil)
	p := ev.Message.(wire.ProcessError)
	if p.ID != "ghost" || p.Graph != "g" {
		t.Fatalf("processerror %+v", p)
	}
}

func TestMalformedDiscoveryIsDropped(t *testing.T) {
	f := newFixture(t, nil)
	for _, bad := range []string{`{`, `[]`, `{"protocol":"discovery","command":"participant","payload":{"id":"x"}}`, `{"protocol":"other"}`} {
		must(t, f.broker.Announce(context.Background(), []byte(bad)))
	}
	good, err := network.EncodeDiscovery(network.Definition{ID: "ok-1", Role: "ok", Component: "ext/OK", Inports: []network.Port{}, Outports: []network.Port{}})
	must(t, err)
	must(t, f.broker.Announce(context.Background(), good))
	ev := f.waitEvent("component", "component", nil)
	if ev.Message.(wire.Component).Name != "ext/OK" {
		t.Fatalf("got %+v", ev.Message)
	}
}

// A packet for a started graph waits until every edge is bound: sent
// before the downstream participant shows up, it would otherwise leave the
// first node into an exchange with nothing bound to it, and be lost.
func TestPacketsWaitForTheWholeGraph(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "first", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "later", Component: "ext/Later", Graph: "g"}))
	must(t, f.rt.AddEdge(wire.AddEdge{Src: ref("first", "out"), Tgt: ref("later", "in"), Graph: "g"}))
	must(t, f.rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: "first", Port: "in", Graph: "g"}))
	must(t, f.rt.Start("g"))
	for i := range 3 {
		_, err := f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf(i), Graph: "g"})
		must(t, err)
	}
	// Let the reconciler act on the packets while "later" is unknown.
	f.pass()
	got := make(chan string, 10)
	p, err := participant.New(f.broker, participant.Component{
		Name:    "ext/Later",
		Inports: []participant.Port{{ID: "in"}},
		Process: func(_ context.Context, in participant.Input, _ participant.Output) error {
			got <- string(in.Data)
			return nil
		},
	}, "later", participant.Options{})
	must(t, err)
	must(t, p.Start(context.Background()))
	defer p.Stop(context.Background())
	for i := range 3 {
		if v := receive(t, got); v != fmt.Sprint(i) {
			t.Fatalf("got %s, want %d", v, i)
		}
	}
}

var noOpts = network.QueueOptions{}

// waitBound waits until the runtime has made a binding.
func waitBound(t *testing.T, f *fixture, src, tgt string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		f.rt.mu.Lock()
		bound := f.rt.wiring.isBound(plan.Binding{Src: src, Tgt: tgt})
		f.rt.mu.Unlock()
		if bound {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s -> %s never bound", src, tgt)
		}
		f.rt.poke()
		time.Sleep(time.Millisecond) // polling reconciler state; no event exists for it
	}
}

var ctxBG = context.Background()

func contains(s, sub string) bool { return strings.Contains(s, sub) }
