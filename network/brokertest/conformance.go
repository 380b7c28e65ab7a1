package brokertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
)

// Timeout bounds every wait in the suite. It is a deadline for declaring a
// failure, never a synchronisation sleep.
const Timeout = 30 * time.Second

// Run is the conformance suite: every network.Broker must pass it. open
// returns a fresh connection; the suite closes what it opens. Queue names
// are unique per run, so the suite can share a broker with other tests.
func Run(t *testing.T, open func(t *testing.T) network.Broker) {
	t.Run("SendConsume", func(t *testing.T) { sendConsume(t, open(t)) })
	t.Run("BindPublish", func(t *testing.T) { bindPublish(t, open(t)) })
	t.Run("BindTwiceDeliversOnce", func(t *testing.T) { bindTwice(t, open(t)) })
	t.Run("Unbind", func(t *testing.T) { unbind(t, open(t)) })
	t.Run("FanOutAndFanIn", func(t *testing.T) { fanOutIn(t, open(t)) })
	t.Run("NackDoesNotStall", func(t *testing.T) { nack(t, open(t)) })
	t.Run("Tap", func(t *testing.T) { tap(t, open(t)) })
	t.Run("Discovery", func(t *testing.T) { discovery(t, open(t)) })
	t.Run("DiscoveryReachesEverySubscriber", func(t *testing.T) { discoveryEverySubscriber(t, open) })
	t.Run("TapExchange", func(t *testing.T) { tapExchange(t, open) })
	t.Run("TwoConnections", func(t *testing.T) { twoConnections(t, open) })
	t.Run("ClosedBroker", func(t *testing.T) { closed(t, open(t)) })
	t.Run("AsyncPublisherDrains", func(t *testing.T) { asyncDrains(t, open(t)) })
}

// asyncDrains: a broker that confirms publishes asynchronously
// (network.AsyncPublisher) has consumers that drain (network.Drainer):
// the participant SDK then settles its inputs in batches, and must know
// that no handler call is under way before it stops settling. Drain
// returns once the call under way has returned; what was handled can
// still be acknowledged; what was delivered but not handled goes back to
// the queue at Close.
func asyncDrains(t *testing.T, b network.Broker) {
	defer b.Close()
	if _, ok := b.(network.AsyncPublisher); !ok {
		t.Skip("not an AsyncPublisher: its consumers need not drain")
	}
	q := Role("drain") + ".IN"
	must(t, b.DeclareInport(ctx(t), q, network.QueueOptions{}))
	entered, release := make(chan network.Delivery, 10), make(chan struct{})
	var returned atomic.Bool
	sub, err := b.Consume(ctx(t), q, 10, func(d network.Delivery) {
		entered <- d
		<-release
		returned.Store(true)
	})
	must(t, err)
	drainer, ok := sub.(network.Drainer)
	if !ok {
		sub.Close()
		t.Fatalf("%T is an AsyncPublisher whose subscription %T cannot drain", b, sub)
	}
	must(t, b.Send(ctx(t), q, []byte(`1`)))
	must(t, b.Send(ctx(t), q, []byte(`2`)))
	var first network.Delivery
	select {
	case first = <-entered:
	case <-time.After(Timeout):
		t.Fatal("no delivery")
	}
	drained := make(chan error, 1)
	go func() { drained <- drainer.Drain() }()
	close(release)
	select {
	case err := <-drained:
		must(t, err)
	case <-time.After(Timeout):
		t.Fatal("Drain did not return")
	}
	if !returned.Load() {
		t.Fatal("Drain returned before the handler call under way")
	}
	must(t, first.Ack())
	must(t, sub.Close())
	for {
		select {
		case d := <-entered:
			if string(d.Data()) != `2` {
				t.Fatalf("message %s handled after Drain", d.Data())
			}
			// 2 may have been handed to the handler before Drain
			// began (delivered, then handled once released).
			continue
		default:
		}
		break
	}
	in := NewInbox(10)
	again, err := b.Consume(ctx(t), q, 0, in.Ack)
	must(t, err)
	defer again.Close()
	in.Expect(t, `2`)
}

var (
	rolesMu sync.Mutex
	roles   []string
)

// Role returns a role name unique to this test run.
func Role(name string) string {
	r := "bt" + uuid.New()[:8] + name
	rolesMu.Lock()
	roles = append(roles, r)
	rolesMu.Unlock()
	return r
}

// Roles lists every role Role made, so that tests on a persistent broker
// can delete what they declared.
func Roles() []string {
	rolesMu.Lock()
	defer rolesMu.Unlock()
	return append([]string(nil), roles...)
}

// Inbox collects data handed to it, in order.
type Inbox struct {
	ch chan string
}

// NewInbox makes an Inbox with room for n messages.
func NewInbox(n int) *Inbox { return &Inbox{ch: make(chan string, n)} }

// Data is a network.DataHandler.
func (in *Inbox) Data(_ string, data []byte) { in.ch <- string(data) }

// Ack is a network.Handler that acknowledges and records.
func (in *Inbox) Ack(d network.Delivery) {
	in.ch <- string(d.Data())
	_ = d.Ack()
}

// Next waits for the next message.
func (in *Inbox) Next(t testing.TB) string {
	t.Helper()
	select {
	case s := <-in.ch:
		return s
	case <-time.After(Timeout):
		t.Fatalf("no message within %s", Timeout)
		return ""
	}
}

// TryNext reports whether a message arrives within d (and drops it).
func (in *Inbox) TryNext(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-in.ch:
			return true
		default:
			return false
		}
	}
	select {
	case <-in.ch:
		return true
	case <-time.After(d):
		return false
	}
}

// Expect requires the next messages to be want, in order.
func (in *Inbox) Expect(t testing.TB, want ...string) {
	t.Helper()
	for i, w := range want {
		if got := in.Next(t); got != w {
			t.Fatalf("message %d: got %s, want %s", i, got, w)
		}
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// inport declares queue and consumes it into a new inbox.
func inport(t *testing.T, b network.Broker, queue string) *Inbox {
	t.Helper()
	must(t, b.DeclareInport(ctx(t), queue, network.QueueOptions{}))
	in := NewInbox(100)
	sub, err := b.Consume(ctx(t), queue, 0, in.Ack)
	must(t, err)
	t.Cleanup(func() { sub.Close() })
	return in
}

func outport(t *testing.T, b network.Broker, queue string) {
	t.Helper()
	must(t, b.DeclareOutport(ctx(t), queue, network.QueueOptions{}))
}

func sendConsume(t *testing.T, b network.Broker) {
	defer b.Close()
	q := Role("a") + ".IN"
	in := inport(t, b, q)
	for i := range 5 {
		must(t, b.Send(ctx(t), q, fmt.Appendf(nil, `{"n":%d}`, i)))
	}
	in.Expect(t, `{"n":0}`, `{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`)
}

func bindPublish(t *testing.T, b network.Broker) {
	defer b.Close()
	src, tgt := Role("a")+".OUT", Role("b")+".IN"
	outport(t, b, src)
	in := inport(t, b, tgt)
	must(t, b.Bind(ctx(t), src, tgt))
	must(t, b.Publish(ctx(t), src, []byte(`"hello"`)))
	must(t, b.Publish(ctx(t), src, []byte(`[1,2]`)))
	in.Expect(t, `"hello"`, `[1,2]`)
}

// marker proves what an inbox did not get: after a message has gone through
// a sibling binding, a marker sent straight to the inport must be the next
// thing the inbox sees.
func noMore(t *testing.T, b network.Broker, queue string, in *Inbox) {
	t.Helper()
	must(t, b.Send(ctx(t), queue, []byte(`"marker"`)))
	if got := in.Next(t); got != `"marker"` {
		t.Fatalf("got %s before the marker; expected nothing", got)
	}
}

func bindTwice(t *testing.T, b network.Broker) {
	defer b.Close()
	src, tgt, side := Role("a")+".OUT", Role("b")+".IN", Role("c")+".IN"
	outport(t, b, src)
	in := inport(t, b, tgt)
	sideIn := inport(t, b, side)
	must(t, b.Bind(ctx(t), src, tgt))
	must(t, b.Bind(ctx(t), src, tgt))
	must(t, b.Bind(ctx(t), src, side))
	must(t, b.Publish(ctx(t), src, []byte(`1`)))
	sideIn.Expect(t, `1`)
	in.Expect(t, `1`)
	noMore(t, b, tgt, in)
}

func unbind(t *testing.T, b network.Broker) {
	defer b.Close()
	src, tgt, side := Role("a")+".OUT", Role("b")+".IN", Role("c")+".IN"
	outport(t, b, src)
	in := inport(t, b, tgt)
	sideIn := inport(t, b, side)
	must(t, b.Bind(ctx(t), src, tgt))
	must(t, b.Bind(ctx(t), src, side))
	must(t, b.Publish(ctx(t), src, []byte(`"before"`)))
	in.Expect(t, `"before"`)
	sideIn.Expect(t, `"before"`)
	must(t, b.Unbind(ctx(t), src, tgt))
	must(t, b.Unbind(ctx(t), src, tgt)) // not bound: no error
	must(t, b.Publish(ctx(t), src, []byte(`"after"`)))
	sideIn.Expect(t, `"after"`)
	noMore(t, b, tgt, in)
	// Binding again works after an unbind.
	must(t, b.Bind(ctx(t), src, tgt))
	must(t, b.Publish(ctx(t), src, []byte(`"again"`)))
	in.Expect(t, `"again"`)
}

func fanOutIn(t *testing.T, b network.Broker) {
	defer b.Close()
	a, c := Role("a")+".OUT", Role("c")+".OUT"
	b1, b2 := Role("b1")+".IN", Role("b2")+".IN"
	outport(t, b, a)
	outport(t, b, c)
	in1 := inport(t, b, b1)
	in2 := inport(t, b, b2)
	must(t, b.Bind(ctx(t), a, b1))
	must(t, b.Bind(ctx(t), a, b2))
	must(t, b.Bind(ctx(t), c, b1))
	must(t, b.Publish(ctx(t), a, []byte(`"a"`)))
	in1.Expect(t, `"a"`)
	in2.Expect(t, `"a"`)
	must(t, b.Publish(ctx(t), c, []byte(`"c"`)))
	in1.Expect(t, `"c"`)
	noMore(t, b, b1, in1)
	noMore(t, b, b2, in2)
}

func nack(t *testing.T, b network.Broker) {
	defer b.Close()
	q := Role("a") + ".IN"
	must(t, b.DeclareInport(ctx(t), q, network.QueueOptions{}))
	in := NewInbox(10)
	sub, err := b.Consume(ctx(t), q, 1, func(d network.Delivery) {
		in.ch <- string(d.Data())
		if string(d.Data()) == `"bad"` {
			_ = d.Nack()
			return
		}
		_ = d.Ack()
	})
	must(t, err)
	defer sub.Close()
	must(t, b.Send(ctx(t), q, []byte(`"bad"`)))
	must(t, b.Send(ctx(t), q, []byte(`"good"`)))
	in.Expect(t, `"bad"`, `"good"`)
	noMore(t, b, q, in) // a nacked message is not redelivered
}

func tap(t *testing.T, b network.Broker) {
	defer b.Close()
	src, tgt := Role("a")+".OUT", Role("b")+".IN"
	outport(t, b, src)
	in := inport(t, b, tgt)
	must(t, b.Bind(ctx(t), src, tgt))
	seen := NewInbox(10)
	sub, err := b.Tap(ctx(t), src, seen.Data)
	must(t, err)
	must(t, b.Publish(ctx(t), src, []byte(`{"x":1}`)))
	seen.Expect(t, `{"x":1}`)
	in.Expect(t, `{"x":1}`) // the tap took a copy, not the message
	must(t, sub.Close())
	must(t, sub.Close())
	must(t, b.Publish(ctx(t), src, []byte(`{"x":2}`)))
	in.Expect(t, `{"x":2}`)
	// The marker: a new tap into the same inbox. What it sees comes after
	// {"x":2}, which a tap still open would have handed over first.
	again, err := b.Tap(ctx(t), src, seen.Data)
	must(t, err)
	defer again.Close()
	must(t, b.Publish(ctx(t), src, []byte(`{"x":3}`)))
	if got := seen.Next(t); got != `{"x":3}` {
		t.Fatalf("closed tap still got %s", got)
	}
	in.Expect(t, `{"x":3}`)
}

func discovery(t *testing.T, b network.Broker) {
	defer b.Close()
	seen := NewInbox(100)
	sub, err := b.SubscribeDiscovery(ctx(t), seen.Data)
	must(t, err)
	defer sub.Close()
	role := Role("p")
	def := network.Definition{
		ID: role + "-1", Role: role, Component: "test/Thing",
		Inports:  []network.Port{{ID: "in", Type: "any", Queue: role + ".IN"}},
		Outports: []network.Port{{ID: "out", Type: "any", Queue: role + ".OUT"}},
	}
	msg, err := network.EncodeDiscovery(def)
	must(t, err)
	must(t, b.Announce(ctx(t), msg))
	for {
		// Other tests' participants may announce on the same broker.
		got, err := network.DecodeDiscovery([]byte(seen.Next(t)))
		if err == nil && got.Role == role {
			if got.ID != def.ID || got.Component != def.Component || len(got.Inports) != 1 || got.Inports[0].Queue != role+".IN" {
				t.Fatalf("discovery round trip: got %+v", got)
			}
			return
		}
	}
}

// discoveryEverySubscriber: every coordinator (a discovery subscriber on
// its own connection) gets every announcement, whichever connection made
// it.
func discoveryEverySubscriber(t *testing.T, open func(t *testing.T) network.Broker) {
	announcer := open(t)
	defer announcer.Close()
	var inboxes []*Inbox
	for range 2 {
		b := open(t)
		defer b.Close()
		seen := NewInbox(100)
		sub, err := b.SubscribeDiscovery(ctx(t), seen.Data)
		must(t, err)
		defer sub.Close()
		inboxes = append(inboxes, seen)
	}
	role := Role("p")
	msg, err := network.EncodeDiscovery(network.Definition{ID: role + "-1", Role: role, Component: "test/Thing", Inports: []network.Port{}, Outports: []network.Port{}})
	must(t, err)
	must(t, announcer.Announce(ctx(t), msg))
	for _, seen := range inboxes {
		for {
			// Other tests' participants may announce on the same broker.
			got, err := network.DecodeDiscovery([]byte(seen.Next(t)))
			if err == nil && got.Role == role {
				break
			}
		}
	}
}

// twoConnections: what one connection publishes, a consumer on another gets,
// and a binding made on a third holds for both (bindings live in the broker
// for AMQP; for MQTT, the connection that made the binding forwards).
func twoConnections(t *testing.T, open func(t *testing.T) network.Broker) {
	pub, sub, binder := open(t), open(t), open(t)
	defer pub.Close()
	defer sub.Close()
	defer binder.Close()
	src, tgt := Role("a")+".OUT", Role("b")+".IN"
	outport(t, pub, src)
	in := inport(t, sub, tgt)
	must(t, binder.Bind(ctx(t), src, tgt))
	must(t, pub.Publish(ctx(t), src, []byte(`"across"`)))
	in.Expect(t, `"across"`)
}

func closed(t *testing.T, b network.Broker) {
	q := Role("a") + ".IN"
	must(t, b.DeclareInport(ctx(t), q, network.QueueOptions{}))
	var once sync.Once
	done := make(chan struct{})
	_, err := b.Consume(ctx(t), q, 0, func(network.Delivery) { once.Do(func() { close(done) }) })
	must(t, err)
	must(t, b.Close())
	if err := b.Send(ctx(t), q, []byte(`1`)); !errors.Is(err, network.ErrClosed) {
		t.Fatalf("Send after Close: got %v, want ErrClosed", err)
	}
	if _, err := b.Consume(ctx(t), q, 0, func(network.Delivery) {}); !errors.Is(err, network.ErrClosed) {
		t.Fatalf("Consume after Close: got %v, want ErrClosed", err)
	}
	_ = b.Close() // twice is fine
}

// tapExchange taps an exchange another connection owns and publishes to
// (an FBP-capable participant's outqueue, non-persistent): the tap sees
// its messages, the exchange exists while the tap lives and, being
// auto-deleted, goes with it. Brokers without passive checks must say so
// with ErrNoPassiveCheck.
func tapExchange(t *testing.T, open func(t *testing.T) network.Broker) {
	b, owner := open(t), open(t)
	defer b.Close()
	defer owner.Close()
	name := ".fbp." + Role("x") + ".send"
	opts := network.QueueOptions{NonPersistent: true}
	exists, err := b.ExchangeExists(ctx(t), name)
	passive := !errors.Is(err, network.ErrNoPassiveCheck)
	if passive {
		must(t, err)
		if exists {
			t.Fatalf("%s exists before anyone declared it", name)
		}
	}
	must(t, owner.DeclareOutport(ctx(t), name, opts))
	seen := NewInbox(10)
	sub, err := b.TapExchange(ctx(t), name, opts, seen.Data)
	must(t, err)
	must(t, owner.Publish(ctx(t), name, []byte(`{"n":1}`)))
	seen.Expect(t, `{"n":1}`)
	if passive {
		exists, err := b.ExchangeExists(ctx(t), name)
		must(t, err)
		if !exists {
			t.Fatalf("%s does not exist while tapped", name)
		}
	}
	must(t, sub.Close())
	if !passive {
		return
	}
	// RabbitMQ deletes the auto-delete exchange once the tap's queue is
	// gone; that happens after Close returns, so wait for it.
	deadline := time.Now().Add(Timeout)
	for {
		exists, err := b.ExchangeExists(ctx(t), name)
		must(t, err)
		if !exists {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists %s after its only tap closed", name, Timeout)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}
