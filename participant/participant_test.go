package participant_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/participant"
)

func broker(t *testing.T) network.Broker {
	t.Helper()
	srv, err := embedded.Start(context.Background(), embedded.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b := srv.Broker()
	t.Cleanup(func() { b.Close() })
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, b network.Broker, c participant.Component, role string) *participant.Participant {
	t.Helper()
	p, err := participant.New(b, c, role, participant.Options{})
	must(t, err)
	must(t, p.Start(context.Background()))
	t.Cleanup(func() { p.Stop(context.Background()) })
	return p
}

// collect consumes the outport queue of role.port through a bound inbox.
func collect(t *testing.T, b network.Broker, outQueue string) *brokertest.Inbox {
	t.Helper()
	in := brokertest.NewInbox(100)
	q := brokertest.Role("sink") + ".IN"
	must(t, b.DeclareInport(context.Background(), q, network.QueueOptions{}))
	sub, err := b.Consume(context.Background(), q, 0, in.Ack)
	must(t, err)
	t.Cleanup(func() { sub.Close() })
	must(t, b.Bind(context.Background(), outQueue, q))
	return in
}

func TestDefinition(t *testing.T) {
	b := broker(t)
	c, _ := participant.LookupCore("core/Repeat")
	p, err := participant.New(b, c, "rep", participant.Options{})
	must(t, err)
	d := p.Definition()
	if d.Role != "rep" || !strings.HasPrefix(d.ID, "rep-") || len(d.ID) != len("rep-")+36 || d.Component != "core/Repeat" {
		t.Fatalf("definition %+v", d)
	}
	if d.Inports[0].Queue != "rep.IN" || d.Outports[0].Queue != "rep.OUT" || d.Inports[0].Type != "any" {
		t.Fatalf("ports %+v %+v", d.Inports, d.Outports)
	}
}

func TestNewRejects(t *testing.T) {
	b := broker(t)
	rep, _ := participant.LookupCore("core/Repeat")
	noProc := rep
	noProc.Process = nil
	dup := rep
	dup.Inports = []participant.Port{{ID: "in"}, {ID: "IN"}}
	for name, tc := range map[string]struct {
		c    participant.Component
		role string
	}{
		"empty role":       {rep, ""},
		"wildcard role":    {rep, "a#"},
		"no name":          {participant.Component{}, "r"},
		"no process":       {noProc, "r"},
		"duplicate inport": {dup, "r"},
	} {
		if _, err := participant.New(b, tc.c, tc.role, participant.Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRepeatChain(t *testing.T) {
	b := broker(t)
	rep, _ := participant.LookupCore("core/Repeat")
	r1, r2 := brokertest.Role("r1"), brokertest.Role("r2")
	p1 := start(t, b, rep, r1)
	start(t, b, rep, r2)
	must(t, b.Bind(context.Background(), r1+".OUT", r2+".IN"))
	out := collect(t, b, r2+".OUT")
	for _, v := range []string{`{"a":1}`, `"ünïcødé ✓"`, `[1,2,3]`, `42`, `null`} {
		must(t, p1.Send(context.Background(), "in", json.RawMessage(v)))
		out.Expect(t, v)
	}
}

func TestAnnouncesAndHeartbeats(t *testing.T) {
	b := broker(t)
	seen := brokertest.NewInbox(1000)
	sub, err := b.SubscribeDiscovery(context.Background(), seen.Data)
	must(t, err)
	defer sub.Close()
	rep, _ := participant.LookupCore("core/Repeat")
	role := brokertest.Role("hb")
	p, err := participant.New(b, rep, role, participant.Options{DiscoveryPeriod: 20 * time.Millisecond})
	must(t, err)
	must(t, p.Start(context.Background()))
	defer p.Stop(context.Background())
	count := 0
	for count < 3 { // the first announcement and two heartbeats
		def, err := network.DecodeDiscovery([]byte(seen.Next(t)))
		must(t, err)
		if def.Role == role {
			if def.ID != p.Definition().ID {
				t.Fatalf("announced id %s, want %s", def.ID, p.Definition().ID)
			}
			count++
		}
	}
}

func TestStartTwice(t *testing.T) {
	b := broker(t)
	rep, _ := participant.LookupCore("core/Repeat")
	p := start(t, b, rep, brokertest.Role("x"))
	if err := p.Start(context.Background()); err == nil {
		t.Fatal("second Start accepted")
	}
}

func TestCoreComponents(t *testing.T) {
	names := participant.CoreNames()
	if strings.Join(names, ",") != "core/Counter,core/Delay,core/Drop,core/Output,core/Pick,core/Repeat" {
		t.Fatalf("core components %v", names)
	}
	if _, ok := participant.LookupCore("core/Nope"); ok {
		t.Fatal("found core/Nope")
	}
}

func TestDiscoveryPeriodFromEnv(t *testing.T) {
	t.Setenv("MSGFLO_DISCOVERY_PERIOD", "5")
	if d := participant.DiscoveryPeriodFromEnv(); d != 5*time.Second {
		t.Fatalf("got %s", d)
	}
	t.Setenv("MSGFLO_DISCOVERY_PERIOD", "x")
	if d := participant.DiscoveryPeriodFromEnv(); d != 0 {
		t.Fatalf("got %s", d)
	}
}

// A participant that upper-cases strings, on the embedded broker.
func Example() {
	ctx := context.Background()
	srv, err := embedded.Start(ctx, embedded.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	b := srv.Broker()
	defer b.Close()

	upper := participant.Component{
		Name:     "example/Upper",
		Inports:  []participant.Port{{ID: "in", Type: "string"}},
		Outports: []participant.Port{{ID: "out", Type: "string"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			var s string
			if err := json.Unmarshal(in.Data, &s); err != nil {
				return err // nacked
			}
			return participant.SendValue(out, "out", strings.ToUpper(s))
		},
	}
	p, err := participant.New(b, upper, "upper", participant.Options{})
	if err != nil {
		panic(err)
	}
	if err := p.Start(ctx); err != nil {
		panic(err)
	}
	defer p.Stop(ctx)

	// Read what it sends: consume a queue bound to its outport.
	got := make(chan string)
	_ = b.DeclareInport(ctx, "reader.IN", network.QueueOptions{})
	sub, _ := b.Consume(ctx, "reader.IN", 0, func(d network.Delivery) {
		got <- string(d.Data())
		_ = d.Ack()
	})
	defer sub.Close()
	_ = b.Bind(ctx, "upper.OUT", "reader.IN")

	_ = p.Send(ctx, "in", json.RawMessage(`"hello msgflo"`))
	select {
	case s := <-got:
		fmt.Println(s)
	case <-time.After(10 * time.Second):
		fmt.Println("nothing came")
	}
	// Output: "HELLO MSGFLO"
}

func TestCounterCountsPerInstance(t *testing.T) {
	b := broker(t)
	c, _ := participant.LookupCore("core/Counter")
	r1, r2 := brokertest.Role("c1"), brokertest.Role("c2")
	p1, p2 := start(t, b, c, r1), start(t, b, c, r2)
	o1, o2 := collect(t, b, r1+".COUNT"), collect(t, b, r2+".COUNT")
	for range 3 {
		must(t, p1.Send(context.Background(), "in", json.RawMessage(`"x"`)))
	}
	must(t, p2.Send(context.Background(), "in", json.RawMessage(`{}`)))
	o1.Expect(t, "1", "2", "3")
	o2.Expect(t, "1")
}

func TestPick(t *testing.T) {
	b := broker(t)
	c, _ := participant.LookupCore("core/Pick")
	role := brokertest.Role("pick")
	p := start(t, b, c, role)
	out, missing := collect(t, b, role+".OUT"), collect(t, b, role+".MISSING")
	// Ports are separate queues: the path may be taken after data sent
	// later. Send the object until the path is in effect.
	must(t, p.Send(context.Background(), "path", json.RawMessage(`"user.langs.1"`)))
	for {
		must(t, p.Send(context.Background(), "in", json.RawMessage(`{"user":{"langs":["en","fr"]}}`)))
		if out.Next(t) == `"fr"` {
			break
		}
	}
	must(t, p.Send(context.Background(), "in", json.RawMessage(`{"user":{}}`)))
	missing.Expect(t, `{"user":{}}`)
	must(t, p.Send(context.Background(), "in", json.RawMessage(`{"user":{"langs":[{"n":null}, [1]]}}`)))
	out.Expect(t, `[1]`)
	// The value picked keeps its bytes.
	must(t, p.Send(context.Background(), "in", json.RawMessage(`{"user":{"langs":[0, {"z":12345678901234567890, "a":1.10,"s":"\u00e6<"}]}}`)))
	out.Expect(t, `{"z":12345678901234567890, "a":1.10,"s":"\u00e6<"}`)
}

func TestDelayKeepsOrder(t *testing.T) {
	b := broker(t)
	c, _ := participant.LookupCore("core/Delay")
	role := brokertest.Role("delay")
	p := start(t, b, c, role)
	out := collect(t, b, role+".OUT")
	must(t, p.Send(context.Background(), "delay", json.RawMessage(`5`)))
	for _, v := range []string{"1", "2", "3"} {
		must(t, p.Send(context.Background(), "in", json.RawMessage(v)))
	}
	out.Expect(t, "1", "2", "3")
}

// A source has no inports: it emits on its own.
func TestSourceEmits(t *testing.T) {
	b := broker(t)
	role := brokertest.Role("ticker")
	src := participant.Component{
		Name:     "test/Ticker",
		Outports: []participant.Port{{ID: "tick", Type: "integer"}},
	}
	p := start(t, b, src, role)
	out := collect(t, b, role+".TICK")
	for _, v := range []string{"1", "2"} {
		must(t, p.Emit(context.Background(), "tick", json.RawMessage(v)))
	}
	out.Expect(t, "1", "2")
	if err := p.Emit(context.Background(), "nope", json.RawMessage("1")); err == nil {
		t.Fatal("emitted on a port it does not have")
	}
}
