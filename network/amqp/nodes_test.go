package amqp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// dialOpts is dialVia with opts (its logger, discovery queue and backoffs
// replaced).
func dialOpts(t *testing.T, url string, opts msgamqp.Options) *msgamqp.Broker {
	t.Helper()
	opts.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	opts.DiscoveryQueue = discoveryQueue
	opts.BackoffMin, opts.BackoffMax = 5*time.Millisecond, 50*time.Millisecond
	b, err := msgamqp.Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// With a list of URLs, the broker connects to the first that answers and,
// when that connection drops, goes on to the next one, where consumers
// resume.
func TestNodeListFailover(t *testing.T) {
	_, first, firstProxy := proxied(t)
	_, second, secondProxy := proxied(t)
	dead := "amqp://guest:guest@127.0.0.1:1/"
	b := dialVia(t, dead+", "+first+","+second)
	if got := b.ConnectedURL(); got != first {
		t.Fatalf("connected to %s, want the first URL that answers, %s", got, first)
	}
	if got := b.URL(); got != dead+", "+first+","+second {
		t.Fatalf("URL() = %s, want the list as given", got)
	}
	events := connectionEvents(b)
	ctx := context.Background()
	q := brokertest.Role("nodes") + ".IN"
	must(t, b.DeclareInport(ctx, q, network.QueueOptions{}))
	in := brokertest.NewInbox(100)
	sub, err := b.Consume(ctx, q, 0, in.Ack)
	must(t, err)
	defer sub.Close()
	must(t, b.Send(ctx, q, []byte(`"before"`)))
	in.Expect(t, `"before"`)

	firstProxy.Block() // the node is down
	firstProxy.Cut()
	waitConnection(t, events, false)
	waitConnection(t, events, true)
	if got := b.ConnectedURL(); got != second {
		t.Fatalf("after losing %s, connected to %s, want %s", first, got, second)
	}
	if secondProxy.Accepted() == 0 {
		t.Fatal("nothing went through the second node")
	}
	must(t, b.Send(ctx, q, []byte(`"after"`)))
	for in.Next(t) != `"after"` { // "before" may come again
	}

	// And on from the last one to the first that answers again.
	firstProxy.Unblock()
	secondProxy.Block()
	secondProxy.Cut()
	waitConnection(t, events, false)
	waitConnection(t, events, true)
	if got := b.ConnectedURL(); got != first {
		t.Fatalf("after losing %s, connected to %s, want %s", second, got, first)
	}
	must(t, b.Send(ctx, q, []byte(`"back"`)))
	// "after" may come again: its ack may have been lost with the
	// connection (at-least-once).
	for in.Next(t) != `"back"` {
	}
}

func TestNodeListErrors(t *testing.T) {
	for _, u := range []string{"", " , ", "amqp://127.0.0.1:1/,mqtt://localhost"} {
		if b, err := msgamqp.Dial(context.Background(), u, msgamqp.Options{ConnectTimeout: time.Second}); err == nil {
			b.Close()
			t.Errorf("Dial(%q) succeeded", u)
		}
	}
	// No node answers: the error names each (password hidden).
	_, err := msgamqp.Dial(context.Background(), "amqp://u:secret@127.0.0.1:1/,amqp://u:secret@127.0.0.1:2/", msgamqp.Options{ConnectTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "127.0.0.1:2") || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v should name both nodes, without the password", err)
	}
}

// A publish whose confirm was lost with the connection is published again
// on the next one: Wait returns nil and the message is in the queue.
func TestConfirmLostIsPublishedAgain(t *testing.T) {
	_, through, proxy := proxied(t)
	b := dialVia(t, through)
	events := connectionEvents(b)
	ctx := context.Background()
	q := brokertest.Role("confirm") + ".IN"
	must(t, b.DeclareInport(ctx, q, network.QueueOptions{}))
	// The first publish opens the confirming channel (opening it needs
	// the broker's replies).
	must(t, b.Publish(ctx, q, []byte(`"first"`)))
	proxy.HoldReplies() // the confirm will not come on this connection
	pd, err := b.PublishAsync(ctx, q, []byte(`"held"`))
	must(t, err)
	proxy.Cut()
	waitConnection(t, events, false)
	wctx, cancel := context.WithTimeout(ctx, brokertest.Timeout)
	defer cancel()
	if err := pd.Wait(wctx); err != nil {
		t.Fatalf("Wait after the connection was lost: %v", err)
	}
	in := brokertest.NewInbox(10)
	sub, err := b.Consume(ctx, q, 0, in.Ack)
	must(t, err)
	defer sub.Close()
	collectSet(t, in, []string{`"first"`, `"held"`}) // "held" once or twice
}

// --queue-type quorum declares durable inports (and the discovery queue)
// as quorum queues, with their dead letters; non-persistent ones stay
// classic. A queue that exists with the other type is a clear error that
// leaves the broker usable.
func TestQueueType(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	quorum := dialOpts(t, url, msgamqp.Options{QueueType: msgamqp.QueueTypeQuorum})
	classic := dialOpts(t, url, msgamqp.Options{})
	ctx := context.Background()

	q := brokertest.Role("quorum") + ".IN"
	dead := brokertest.Role("quorumdead") + ".IN"
	declareDeadLettered(t, quorum, q, dead)
	err := classic.DeclareInport(ctx, q, network.QueueOptions{})
	if err == nil || !strings.Contains(err.Error(), q) || !strings.Contains(err.Error(), "--queue-type") {
		t.Fatalf("declaring quorum queue %s as classic: got %v, want an error naming the queue and --queue-type", q, err)
	}

	c := brokertest.Role("classic") + ".IN"
	must(t, classic.DeclareInport(ctx, c, network.QueueOptions{}))
	err = quorum.DeclareInport(ctx, c, network.QueueOptions{})
	if err == nil || !strings.Contains(err.Error(), c) || !strings.Contains(err.Error(), "--queue-type") {
		t.Fatalf("declaring classic queue %s as quorum: got %v, want an error naming the queue and --queue-type", c, err)
	}

	// Both brokers carry on; the quorum queue takes, delivers and
	// dead-letters messages.
	deadIn := brokertest.NewInbox(10)
	ds, err := quorum.Consume(ctx, dead, 0, deadIn.Ack)
	must(t, err)
	defer ds.Close()
	in := brokertest.NewInbox(10)
	s, err := quorum.Consume(ctx, q, 0, func(d network.Delivery) {
		if string(d.Data()) == `"bad"` {
			_ = d.Nack()
			return
		}
		in.Ack(d)
	})
	must(t, err)
	defer s.Close()
	must(t, classic.Send(ctx, q, []byte(`"good"`)))
	in.Expect(t, `"good"`)
	must(t, quorum.Send(ctx, q, []byte(`"bad"`)))
	deadIn.Expect(t, `"bad"`)

	// Non-persistent: auto-deleted, so classic.
	np := brokertest.Role("quorumnp") + ".IN"
	must(t, quorum.DeclareInport(ctx, np, network.QueueOptions{NonPersistent: true}))
	must(t, quorum.Delete(ctx, q, dead, c, np, "dead-"+q))

	if _, err := msgamqp.Dial(ctx, url, msgamqp.Options{QueueType: "mirrored"}); err == nil || !strings.Contains(err.Error(), "mirrored") {
		t.Errorf("queue type mirrored: got %v, want an error", err)
	}
}

// A publish the broker refuses (basic.nack, as while a quorum queue elects
// its leader) is published again until confirmed, by Publish and by
// PublishAsync's Wait alike: both return nil and the messages are in the
// queue (the proxy refused confirms of messages the broker had, so they
// are there more than once).
func TestRefusedPublishIsPublishedAgain(t *testing.T) {
	_, through, proxy := proxied(t)
	b := dialVia(t, through)
	ctx := context.Background()
	q := brokertest.Role("refused") + ".IN"
	must(t, b.DeclareInport(ctx, q, network.QueueOptions{}))
	proxy.RefuseConfirms(2)
	must(t, b.Publish(ctx, q, []byte(`"sync"`)))
	proxy.RefuseConfirms(2)
	pd, err := b.PublishAsync(ctx, q, []byte(`"async"`))
	must(t, err)
	wctx, cancel := context.WithTimeout(ctx, brokertest.Timeout)
	defer cancel()
	if err := pd.Wait(wctx); err != nil {
		t.Fatalf("Wait after refusals: %v", err)
	}
	if got := proxy.RefusedConfirms(); got != 4 {
		t.Fatalf("%d confirms refused, want 4", got)
	}
	in := brokertest.NewInbox(10)
	sub, err := b.Consume(ctx, q, 0, in.Ack)
	must(t, err)
	defer sub.Close()
	collectSet(t, in, []string{`"sync"`, `"async"`})
}

// Publishes go through several channels, but those to one exchange always
// through the same one: their order is kept, confirmed asynchronously or
// not, while publishes to other exchanges interleave.
func TestPublishOrderPerExchange(t *testing.T) {
	b := dialVia(t, brokertest.RabbitMQURL(t))
	ctx := context.Background()
	const exchanges, n = 6, 200
	type port struct{ exchange, queue string }
	var ports []port
	for range exchanges {
		p := port{brokertest.Role("order") + ".OUT", brokertest.Role("orderq") + ".IN"}
		must(t, b.DeclareOutport(ctx, p.exchange, network.QueueOptions{}))
		must(t, b.DeclareInport(ctx, p.queue, network.QueueOptions{}))
		must(t, b.Bind(ctx, p.exchange, p.queue))
		ports = append(ports, p)
	}
	var pending []network.Pending
	for i := range n {
		for e, p := range ports {
			data := []byte(fmt.Sprint(i))
			if e%2 == 0 {
				pd, err := b.PublishAsync(ctx, p.exchange, data)
				must(t, err)
				pending = append(pending, pd)
			} else {
				must(t, b.PublishTransient(ctx, p.exchange, data))
			}
		}
	}
	for _, pd := range pending {
		must(t, pd.Wait(ctx))
	}
	for _, p := range ports {
		in := brokertest.NewInbox(n)
		sub, err := b.Consume(ctx, p.queue, 0, in.Ack)
		must(t, err)
		for i := range n {
			if got := in.Next(t); got != fmt.Sprint(i) {
				t.Fatalf("%s: message %d is %s", p.queue, i, got)
			}
		}
		sub.Close()
	}
}
