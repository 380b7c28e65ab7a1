package amqp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/participant"
)

// deadLetters binds a queue of its own to the dead-letter exchange of
// role's inport, dead-ROLE.IN (as msgflo-setup arranges it), and consumes it.
func deadLetters(t *testing.T, b network.Broker, role string) *brokertest.Inbox {
	t.Helper()
	ctx := context.Background()
	dead := brokertest.Role("deadletters") + ".IN"
	must(t, b.DeclareOutport(ctx, "dead-"+role+".IN", network.QueueOptions{}))
	must(t, b.DeclareInport(ctx, dead, network.QueueOptions{}))
	must(t, b.Bind(ctx, "dead-"+role+".IN", dead))
	in := brokertest.NewInbox(100)
	sub, err := b.Consume(ctx, dead, 0, in.Ack)
	must(t, err)
	t.Cleanup(func() { sub.Close() })
	return in
}

func sink(t *testing.T, b network.Broker, outport string) *brokertest.Inbox {
	t.Helper()
	ctx := context.Background()
	q := brokertest.Role("sink") + ".IN"
	must(t, b.DeclareInport(ctx, q, network.QueueOptions{}))
	in := brokertest.NewInbox(100)
	sub, err := b.Consume(ctx, q, 0, in.Ack)
	must(t, err)
	t.Cleanup(func() { sub.Close() })
	must(t, b.Bind(ctx, outport, q))
	return in
}

// A Go participant refuses (nacks) a message whose processing fails or
// panics: RabbitMQ dead-letters them to dead-ROLE.IN, in order, and the
// participant goes on with the next. A body that is not JSON is data (its
// text as a JSON string), not refused.
func TestParticipantFailuresAreDeadLettered(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	b := dialVia(t, url)
	ctx := context.Background()
	role := brokertest.Role("picky")
	c := participant.Component{
		Name:     "test/Picky",
		Inports:  []participant.Port{{ID: "in"}},
		Outports: []participant.Port{{ID: "out"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			switch string(in.Data) {
			case `"fail"`:
				return errors.New("refused")
			case `"panic"`:
				panic("boom")
			}
			return out.Send("out", in.Data)
		},
	}
	p, err := participant.New(b, c, role, participant.Options{})
	must(t, err)
	must(t, p.Declare(ctx))
	dead := deadLetters(t, b, role)
	out := sink(t, b, role+".OUT")
	must(t, p.Start(ctx))
	t.Cleanup(func() { p.Stop(context.Background()) })
	for _, v := range []string{`"fail"`, `"panic"`, `not json`, `"good"`} {
		must(t, b.Send(ctx, role+".IN", []byte(v)))
	}
	out.Expect(t, `"not json"`, `"good"`) // not JSON is data (its text)
	dead.Expect(t, `"fail"`, `"panic"`)
	// "good" was acknowledged, not dead-lettered: a marker sent to the
	// dead letters after it comes next.
	must(t, b.Publish(ctx, "dead-"+role+".IN", []byte(`"marker"`)))
	dead.Expect(t, `"marker"`)
}

// An output the broker refuses is not the participant's failure: it is
// published again until confirmed, and the input is acknowledged then,
// never dead-lettered.
func TestRefusedOutputIsNotADeadLetter(t *testing.T) {
	direct, through, proxy := proxied(t)
	b := dialVia(t, through)
	other := dialVia(t, direct)
	ctx := context.Background()
	role := brokertest.Role("refusedout")
	rep, _ := participant.LookupCore("core/Repeat")
	p, err := participant.New(b, rep, role, participant.Options{})
	must(t, err)
	must(t, p.Declare(ctx))
	dead := deadLetters(t, other, role)
	out := sink(t, other, role+".OUT")
	must(t, p.Start(ctx))
	t.Cleanup(func() { p.Stop(context.Background()) })
	proxy.RefuseConfirms(5)
	want := []string{`"a"`, `"b"`, `"c"`}
	for _, v := range want {
		must(t, other.Send(ctx, role+".IN", []byte(v)))
	}
	collectSet(t, out, want)
	// Every input is settled: once the refusals are used up, a marker
	// goes through after them.
	for proxy.RefusedConfirms() < 5 {
		must(t, other.Send(ctx, role+".IN", []byte(`"more"`)))
		out.Next(t)
	}
	must(t, other.Send(ctx, role+".IN", []byte(`"marker"`)))
	for out.Next(t) != `"marker"` {
	}
	must(t, other.Publish(ctx, "dead-"+role+".IN", []byte(`"deadmarker"`)))
	if got := dead.Next(t); got != `"deadmarker"` {
		t.Fatalf("dead-lettered %s: a refused output made its input a dead letter", got)
	}
}

// A participant acknowledges a message only once the broker has confirmed
// its outputs: while the confirms are withheld (the proxy holds what the
// broker sends), the input stays unacknowledged, so when the connection
// drops RabbitMQ gives it again and it is processed a second time.
func TestInputAckedOnlyAfterOutputsConfirmed(t *testing.T) {
	direct, through, proxy := proxied(t)
	b := dialVia(t, through)
	other := dialVia(t, direct)
	events := connectionEvents(b)
	ctx := context.Background()
	role := brokertest.Role("confirm")
	processed := make(chan string, 100)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c := participant.Component{
		Name:     "test/Gate",
		Inports:  []participant.Port{{ID: "in"}},
		Outports: []participant.Port{{ID: "out"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			if string(in.Data) == `"x"` {
				once.Do(func() { // the first "x" waits for the test
					close(entered)
					<-release
				})
			}
			processed <- string(in.Data)
			return out.Send("out", in.Data)
		},
	}
	p, err := participant.New(b, c, role, participant.Options{Prefetch: 1})
	must(t, err)
	must(t, p.Declare(ctx))
	out := sink(t, other, role+".OUT")
	must(t, p.Start(ctx))
	t.Cleanup(func() { p.Stop(context.Background()) })

	// A first message opens the publishing channel of role.OUT while the
	// broker still answers: held replies must hold confirms, not the
	// channel's opening (the output would then wait for the heartbeat
	// timeout and reach the broker on the next connection).
	must(t, other.Send(ctx, role+".IN", []byte(`"warm"`)))
	out.Expect(t, `"warm"`)
	if got := next(t, processed); got != `"warm"` {
		t.Fatalf("processed %s", got)
	}
	must(t, other.Send(ctx, role+".IN", []byte(`"x"`)))
	select {
	case <-entered:
	case <-time.After(brokertest.Timeout):
		t.Fatal("the message never reached the participant")
	}
	// From now on the participant hears nothing from the broker: its
	// output is published but never confirmed.
	proxy.HoldReplies()
	close(release)
	out.Expect(t, `"x"`) // the broker has the output
	if got := next(t, processed); got != `"x"` {
		t.Fatalf("processed %s", got)
	}
	proxy.Cut()
	waitConnection(t, events, false)
	// Unacknowledged, "x" goes back to the head of the queue: after the
	// participant is back it comes before a marker sent now.
	must(t, other.Send(ctx, role+".IN", []byte(`"marker"`)))
	waitConnection(t, events, true)
	if got := next(t, processed); got != `"x"` {
		t.Fatalf("after the connection dropped the participant got %s first; the unconfirmed input was acknowledged", got)
	}
	if got := next(t, processed); got != `"marker"` {
		t.Fatalf("then %s, want the marker", got)
	}
}

func next(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(brokertest.Timeout):
		t.Fatalf("nothing within %s", brokertest.Timeout)
		return ""
	}
}
