package amqp_test

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/participant"
)

// discoveryQueue is this test binary's own: go test runs packages in
// parallel against the same RabbitMQ, and consumers of one queue share its
// messages.
var discoveryQueue = "fbp-test-" + uuid.New()[:8]

func TestMain(m *testing.M) {
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// cleanup deletes the durable queues and exchanges the tests declared.
func cleanup() {
	url := os.Getenv(brokertest.EnvAMQP)
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		return
	}
	defer conn.Close()
	names := []string{discoveryQueue, discoveryQueue + ".discovery"}
	for _, r := range brokertest.Roles() {
		names = append(names, r+".IN", r+".OUT", "dead-"+r+".IN")
	}
	for _, n := range names {
		for _, del := range []func(ch *amqp.Channel) error{
			func(ch *amqp.Channel) error { _, err := ch.QueueDelete(n, false, false, false); return err },
			func(ch *amqp.Channel) error { return ch.ExchangeDelete(n, false, false) },
		} {
			ch, err := conn.Channel()
			if err != nil {
				return
			}
			_ = del(ch)
			_ = ch.Close()
		}
	}
}

func dial(t *testing.T, url string) *msgamqp.Broker {
	t.Helper()
	b, err := msgamqp.Dial(context.Background(), url, msgamqp.Options{Logger: zerolog.Nop(), DiscoveryQueue: discoveryQueue})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformanceRabbitMQ(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	brokertest.Run(t, func(t *testing.T) network.Broker { return dial(t, url) })
	brokertest.RunParticipant(t, func(t *testing.T) network.Broker { return dial(t, url) })
}

// dialVia dials url with the test's logger and short reconnection
// backoffs, closed after the test.
func dialVia(t *testing.T, url string) *msgamqp.Broker {
	t.Helper()
	return dialOpts(t, url, msgamqp.Options{})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// proxied returns a URL that reaches RabbitMQ through a fault proxy.
func proxied(t *testing.T) (direct, through string, proxy *brokertest.Proxy) {
	direct = brokertest.RabbitMQURL(t)
	u, err := neturl.Parse(direct)
	must(t, err)
	host := u.Host
	if u.Port() == "" {
		host += ":5672"
	}
	proxy = brokertest.NewProxy(t, host)
	v := *u
	v.Host = proxy.Addr()
	return direct, v.String(), proxy
}

// connectionEvents reports the broker's connection going down and up.
func connectionEvents(b *msgamqp.Broker) chan bool {
	ch := make(chan bool, 100)
	b.OnConnection(func(up bool) { ch <- up })
	return ch
}

func waitConnection(t *testing.T, events chan bool, want bool) {
	t.Helper()
	for {
		select {
		case got := <-events:
			if got == want {
				return
			}
		case <-time.After(brokertest.Timeout):
			t.Fatalf("connection never became %v", want)
		}
	}
}

// collectSet reads from in until every one of want has arrived (duplicates
// are allowed: delivery is at-least-once).
func collectSet(t *testing.T, in *brokertest.Inbox, want []string) {
	t.Helper()
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	for len(missing) > 0 {
		got := in.Next(t)
		delete(missing, got)
	}
}

// Nothing published before or during an outage is lost: publishes made
// while the connection is down wait for the next one, messages sent by
// others meanwhile wait in the durable queue, and unacknowledged deliveries
// come back.
func TestReconnectLosesNothing(t *testing.T) {
	direct, through, proxy := proxied(t)
	b := dialVia(t, through)
	other := dialVia(t, direct)
	events := connectionEvents(b)
	ctx := context.Background()
	src, tgt := brokertest.Role("a")+".OUT", brokertest.Role("b")+".IN"
	must(t, b.DeclareOutport(ctx, src, network.QueueOptions{}))
	must(t, b.DeclareInport(ctx, tgt, network.QueueOptions{}))
	must(t, b.Bind(ctx, src, tgt))
	in := brokertest.NewInbox(1000)
	sub, err := b.Consume(ctx, tgt, 5, in.Ack)
	must(t, err)
	defer sub.Close()

	var want []string
	for i := range 10 {
		v := fmt.Sprintf(`{"before":%d}`, i)
		want = append(want, v)
		must(t, b.Publish(ctx, src, []byte(v)))
	}
	proxy.Block()
	proxy.Cut()
	waitConnection(t, events, false)

	done := make(chan error, 1)
	go func() {
		for i := range 10 {
			if err := b.Publish(ctx, src, fmt.Appendf(nil, `{"during":%d}`, i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range 10 {
		want = append(want, fmt.Sprintf(`{"during":%d}`, i))
		v := fmt.Sprintf(`{"others":%d}`, i)
		want = append(want, v)
		must(t, other.Publish(ctx, src, []byte(v)))
	}
	proxy.Unblock()
	waitConnection(t, events, true)
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(brokertest.Timeout):
		t.Fatal("publishes made during the outage never completed")
	}
	for i := range 10 {
		v := fmt.Sprintf(`{"after":%d}`, i)
		want = append(want, v)
		must(t, b.Publish(ctx, src, []byte(v)))
	}
	collectSet(t, in, want)
	if proxy.Accepted() < 2 {
		t.Fatalf("the broker never reconnected through the proxy (%d connections)", proxy.Accepted())
	}
}

// Non-persistent queues go away with the connection; the broker declares
// them again, binds them again and restarts its consumers and taps.
func TestReconnectRestoresTopology(t *testing.T) {
	_, through, proxy := proxied(t)
	b := dialVia(t, through)
	events := connectionEvents(b)
	ctx := context.Background()
	src, tgt := brokertest.Role("a")+".OUT", brokertest.Role("b")+".IN"
	np := network.QueueOptions{NonPersistent: true}
	must(t, b.DeclareOutport(ctx, src, np))
	must(t, b.DeclareInport(ctx, tgt, np))
	must(t, b.Bind(ctx, src, tgt))
	in := brokertest.NewInbox(100)
	sub, err := b.Consume(ctx, tgt, 0, in.Ack)
	must(t, err)
	defer sub.Close()
	seen := brokertest.NewInbox(100)
	tap, err := b.Tap(ctx, src, seen.Data)
	must(t, err)
	defer tap.Close()
	discovered := brokertest.NewInbox(100)
	disc, err := b.SubscribeDiscovery(ctx, discovered.Data)
	must(t, err)
	defer disc.Close()

	must(t, b.Publish(ctx, src, []byte(`1`)))
	in.Expect(t, `1`)
	seen.Expect(t, `1`)

	for round := range 3 {
		proxy.Cut()
		waitConnection(t, events, false)
		waitConnection(t, events, true)
		// The consumer and the tap re-attach in the background after the
		// connection is back, and a non-persistent queue takes what is
		// published only once it is there again: probe until a message
		// comes through, then check that everything flows.
		probe(t, b, src, in, seen)
		v := []byte(strconv.Itoa(100 + round))
		must(t, b.Publish(ctx, src, v))
		expectAfterProbes(t, in, string(v))
		expectAfterProbes(t, seen, string(v))
		must(t, b.Announce(ctx, []byte(`{"round":`+string(v)+`}`)))
		// Other tests' participants announce on this binary's queue too.
		for discovered.Next(t) != `{"round":`+string(v)+`}` {
		}
	}
}

// A nacked message goes to the queue's dead-letter exchange, dead-QUEUE,
// as msgflo arranges it.
func TestNackDeadLetters(t *testing.T) {
	b := dialVia(t, brokertest.RabbitMQURL(t))
	ctx := context.Background()
	q := brokertest.Role("d") + ".IN"
	dead := brokertest.Role("deadletters") + ".IN"
	declareDeadLettered(t, b, q, dead)
	deadIn := brokertest.NewInbox(10)
	ds, err := b.Consume(ctx, dead, 0, deadIn.Ack)
	must(t, err)
	defer ds.Close()
	s, err := b.Consume(ctx, q, 0, func(d network.Delivery) {
		if string(d.Data()) == `"bad"` {
			_ = d.Nack()
			return
		}
		_ = d.Ack()
	})
	must(t, err)
	defer s.Close()
	must(t, b.Send(ctx, q, []byte(`"bad"`)))
	deadIn.Expect(t, `"bad"`)
}

// Several participants of one role share the inport queue: each message
// goes to one of them.
func TestSameRoleSharesTheQueue(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	b1, b2 := dialVia(t, url), dialVia(t, url)
	ctx := context.Background()
	q := brokertest.Role("shared") + ".IN"
	must(t, b1.DeclareInport(ctx, q, network.QueueOptions{}))
	must(t, b2.DeclareInport(ctx, q, network.QueueOptions{}))
	all := brokertest.NewInbox(100)
	var n1, n2 atomic.Int32
	s1, err := b1.Consume(ctx, q, 1, func(d network.Delivery) { n1.Add(1); all.Ack(d) })
	must(t, err)
	defer s1.Close()
	s2, err := b2.Consume(ctx, q, 1, func(d network.Delivery) { n2.Add(1); all.Ack(d) })
	must(t, err)
	defer s2.Close()
	var want []string
	for i := range 20 {
		v := strconv.Itoa(i)
		want = append(want, v)
		must(t, b1.Send(ctx, q, []byte(v)))
	}
	got := map[string]int{}
	for range want {
		got[all.Next(t)]++
	}
	for _, w := range want {
		if got[w] != 1 {
			t.Fatalf("message %s delivered %d times", w, got[w])
		}
	}
	if n1.Load() == 0 || n2.Load() == 0 {
		t.Fatalf("one consumer got everything: %d and %d", n1.Load(), n2.Load())
	}
}

// The queues and exchanges are declared exactly as msgflo-nodejs declares
// them, so either side may declare first: redeclaring with its arguments
// must not fail (RabbitMQ refuses a declaration whose arguments differ).
func TestTopologyMatchesMsgfloNodejs(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	b := dialVia(t, url)
	ctx := context.Background()
	role := brokertest.Role("compat")
	must(t, b.DeclareInport(ctx, role+".IN", network.QueueOptions{}))
	must(t, b.DeclareOutport(ctx, role+".OUT", network.QueueOptions{}))
	ch := rawChannel(t, url)
	// What msgflo-nodejs's createQueue('inqueue' / 'outqueue') declares.
	_, err := ch.QueueDeclare(role+".IN", true, false, false, false, amqp.Table{"x-dead-letter-exchange": "dead-" + role + ".IN"})
	must(t, err)
	must(t, ch.ExchangeDeclare(role+".IN", "fanout", true, false, false, false, nil))
	must(t, ch.ExchangeDeclare(role+".OUT", "fanout", true, false, false, false, nil))
	_, err = ch.QueueDeclare(discoveryQueue, true, false, false, false, nil)
	must(t, err)
	// And publishing to the inport's exchange reaches its queue.
	in := brokertest.NewInbox(1)
	s, err := b.Consume(ctx, role+".IN", 0, in.Ack)
	must(t, err)
	defer s.Close()
	must(t, b.Publish(ctx, role+".IN", []byte(`"via exchange"`)))
	in.Expect(t, `"via exchange"`)
}

func TestDialErrors(t *testing.T) {
	for _, u := range []string{"mqtt://localhost", "::bad", "amqp://guest:guest@127.0.0.1:1/"} {
		if b, err := msgamqp.Dial(context.Background(), u, msgamqp.Options{ConnectTimeout: time.Second}); err == nil {
			b.Close()
			t.Errorf("Dial(%q) succeeded", u)
		}
	}
}

// probe publishes on src until something has arrived in each inbox.
func probe(t *testing.T, b *msgamqp.Broker, src string, inboxes ...*brokertest.Inbox) {
	t.Helper()
	deadline := time.Now().Add(brokertest.Timeout)
	got := make([]bool, len(inboxes))
	for i := 0; ; i++ {
		must(t, b.Publish(context.Background(), src, fmt.Appendf(nil, `"probe %d"`, i)))
		all := true
		for j, in := range inboxes {
			got[j] = got[j] || in.TryNext(50*time.Millisecond)
			all = all && got[j]
		}
		if all {
			for _, in := range inboxes {
				drain(in)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing arrives on %s after the reconnect", src)
		}
	}
}

// expectAfterProbes requires want to be the next message that is not a
// late probe.
func expectAfterProbes(t *testing.T, in *brokertest.Inbox, want string) {
	t.Helper()
	for {
		got := in.Next(t)
		if strings.HasPrefix(got, `"probe `) {
			continue
		}
		if got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		return
	}
}

func drain(in *brokertest.Inbox) {
	for in.TryNext(0) {
	}
}

// A participant sends persistent messages unless asked for transient ones
// (--persistent-messages=false), which it must then really send transient:
// the broker says which in each delivery.
func TestParticipantDeliveryMode(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	for _, tc := range []struct {
		transient bool
		want      uint8
	}{{false, amqp.Persistent}, {true, amqp.Transient}} {
		t.Run(fmt.Sprintf("transient=%v", tc.transient), func(t *testing.T) {
			b := dialVia(t, url)
			ctx := context.Background()
			rep, _ := participant.LookupCore("core/Repeat")
			role := brokertest.Role("mode")
			p, err := participant.New(b, rep, role, participant.Options{TransientMessages: tc.transient})
			must(t, err)
			must(t, p.Start(ctx))
			defer p.Stop(ctx)
			sink := brokertest.Role("modesink") + ".IN"
			must(t, b.DeclareInport(ctx, sink, network.QueueOptions{}))
			must(t, b.Bind(ctx, role+".OUT", sink))

			ch := rawChannel(t, url)
			deliveries, err := ch.Consume(sink, "", true, false, false, false, nil)
			must(t, err)
			must(t, p.Send(ctx, "in", []byte(`{"n":1}`)))
			select {
			case d := <-deliveries:
				if string(d.Body) != `{"n":1}` || d.DeliveryMode != tc.want {
					t.Fatalf("got %s with delivery mode %d, want mode %d", d.Body, d.DeliveryMode, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no message within 10 s")
			}
		})
	}
}

// Every coordinator gets every announcement once: those of msgflo's
// participants (sent to the discovery queue, taken by one coordinator and
// relayed to the discovery exchange) and ours (published to the
// exchange). Nothing is relayed twice: after each announcement, a marker
// sent the same way arrives next, with no second copy before it.
func TestDiscoveryReachesEveryCoordinatorOnce(t *testing.T) {
	ctx := context.Background()
	url, queue, dialB := discoveryBed(t)
	var inboxes []chan string
	for range 2 {
		in := make(chan string, 100)
		inboxes = append(inboxes, in)
		sub, err := dialB().SubscribeDiscovery(ctx, func(_ string, data []byte) { in <- string(data) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
	}
	announcer := dialB()
	ch := rawChannel(t, url)
	sendToQueue := func(msg string) { // as msgflo-nodejs does
		if err := ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{Body: []byte(msg)}); err != nil {
			t.Fatal(err)
		}
	}
	announce := func(msg string) {
		if err := announcer.Announce(ctx, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	next := func(i int, want string) {
		t.Helper()
		select {
		case got := <-inboxes[i]:
			if got != want {
				t.Fatalf("coordinator %d got %q, want %q", i+1, got, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("coordinator %d never got %q", i+1, want)
		}
	}
	for _, send := range []func(string){sendToQueue, announce} {
		for _, msg := range []string{`{"n":1}`, `{"marker":1}`, `{"n":2}`, `{"marker":2}`} {
			send(msg)
			next(0, msg)
			next(1, msg)
		}
	}
}

// An announcement of ours published while no coordinator listens (a Go
// participant started before the runtime) reaches the coordinator that
// comes later, from the discovery queue, as msgflo's announcements do,
// unless it is minutes old; announcements published after it listens still
// arrive once.
func TestAnnouncementBeforeTheCoordinatorIsDiscovered(t *testing.T) {
	ctx := context.Background()
	url, queue, dialB := discoveryBed(t)
	announcer := dialB()
	announce := func(msg string) {
		t.Helper()
		if err := announcer.Announce(ctx, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// One published long before (a participant gone since) is not.
	ch := rawChannel(t, url)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	stale := amqp.Table{"msgflo-fanout": true, "msgflo-announced-at": time.Now().Add(-10 * time.Minute).UnixMilli()}
	if err := ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{Headers: stale, Body: []byte(`{"stale":1}`)}); err != nil {
		t.Fatal(err)
	}
	announce(`{"early":1}`)
	in := make(chan string, 100)
	sub, err := dialB().SubscribeDiscovery(ctx, func(_ string, data []byte) { in <- string(data) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	next := func(want string) {
		t.Helper()
		select {
		case got := <-in:
			if got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("never got %q", want)
		}
	}
	next(`{"early":1}`)
	for _, msg := range []string{`{"n":1}`, `{"marker":1}`} {
		announce(msg)
		next(msg)
	}
}

// declareDeadLettered declares inport q with its dead-letter exchange,
// dead-q, bound to inport dead.
func declareDeadLettered(t *testing.T, b *msgamqp.Broker, q, dead string) {
	t.Helper()
	ctx := context.Background()
	must(t, b.DeclareInport(ctx, q, network.QueueOptions{}))
	must(t, b.DeclareInport(ctx, dead, network.QueueOptions{}))
	must(t, b.DeclareOutport(ctx, "dead-"+q, network.QueueOptions{}))
	must(t, b.Bind(ctx, "dead-"+q, dead))
}

// rawChannel is a plain amqp091-go channel on url, for doing what other
// clients do; its connection is closed after the test.
func rawChannel(t *testing.T, url string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	must(t, err)
	return ch
}

// discoveryBed gives a test a discovery queue (and exchange) of its own,
// deleted after it (announcements other tests left in the package's queue
// would reach a coordinator that starts later), and dials brokers that use
// it, closed after the test.
func discoveryBed(t *testing.T) (url, queue string, dial func() *msgamqp.Broker) {
	t.Helper()
	url = brokertest.RabbitMQURL(t)
	queue = "fbp-test-own-" + uuid.New()[:8]
	t.Cleanup(func() {
		if conn, err := amqp.Dial(url); err == nil {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(queue, false, false, false)
				_ = ch.ExchangeDelete(queue+".discovery", false, false)
			}
			conn.Close()
		}
	})
	dial = func() *msgamqp.Broker {
		b, err := msgamqp.Dial(context.Background(), url, msgamqp.Options{Logger: zerolog.Nop(), DiscoveryQueue: queue})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	return url, queue, dial
}
