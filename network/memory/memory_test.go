package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/memory"
)

func TestConformance(t *testing.T) {
	s := memory.NewServer()
	brokertest.Run(t, func(t *testing.T) network.Broker { return s.Connect() })
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), brokertest.Timeout)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// chain declares a.OUT bound to b.IN on c and consumes b.IN into an inbox
// that acknowledges.
func chain(t *testing.T, c *memory.Conn) *brokertest.Inbox {
	t.Helper()
	must(t, c.DeclareOutport(ctx(t), "a.OUT", network.QueueOptions{}))
	must(t, c.DeclareInport(ctx(t), "b.IN", network.QueueOptions{}))
	must(t, c.Bind(ctx(t), "a.OUT", "b.IN"))
	in := brokertest.NewInbox(10)
	sub, err := c.Consume(ctx(t), "b.IN", 0, in.Ack)
	must(t, err)
	t.Cleanup(func() { sub.Close() })
	return in
}

func TestRefuseNext(t *testing.T) {
	s := memory.NewServer()
	c := s.Connect()
	defer c.Close()
	in := chain(t, c)
	s.RefuseNext(1)
	if err := c.Publish(ctx(t), "a.OUT", []byte(`"refused"`)); !errors.Is(err, memory.ErrRefused) {
		t.Fatalf("publish after RefuseNext(1): %v, want ErrRefused", err)
	}
	must(t, c.Publish(ctx(t), "a.OUT", []byte(`"taken"`)))
	in.Expect(t, `"taken"`) // the refused one never arrived
}

func TestHoldConfirms(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release error
		want    []string
	}{
		{"confirmed", nil, []string{`1`, `2`, `3`}},
		{"lost", network.ErrClosed, []string{`3`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := memory.NewServer()
			c := s.Connect()
			defer c.Close()
			in := chain(t, c)
			s.HoldConfirms()
			p, err := c.PublishAsync(ctx(t), "a.OUT", []byte(`1`))
			must(t, err)
			blocked, pctx := make(chan error, 1), ctx(t)
			go func() { blocked <- c.Publish(pctx, "a.OUT", []byte(`2`)) }()
			must(t, s.WaitHeld(ctx(t), 2))
			if in.TryNext(0) {
				t.Fatal("a held message reached the queue")
			}
			s.ReleaseConfirms(tc.release)
			for _, err := range []error{p.Wait(ctx(t)), <-blocked} {
				if !errors.Is(err, tc.release) {
					t.Fatalf("publish after ReleaseConfirms(%v): %v", tc.release, err)
				}
			}
			must(t, c.Publish(ctx(t), "a.OUT", []byte(`3`)))
			in.Expect(t, tc.want...)
		})
	}
}

// A dropped connection: watchers told, unacked messages requeued and
// delivered again after Heal (their late Ack fails), operations wait for
// Heal, taps miss what was published meanwhile.
func TestDropAndHeal(t *testing.T) {
	s := memory.NewServer()
	c, other := s.Connect(), s.Connect()
	defer c.Close()
	defer other.Close()
	states := make(chan bool, 2)
	c.OnConnection(func(up bool) { states <- up })
	must(t, c.DeclareOutport(ctx(t), "a.OUT", network.QueueOptions{}))
	must(t, c.DeclareInport(ctx(t), "b.IN", network.QueueOptions{}))
	must(t, c.Bind(ctx(t), "a.OUT", "b.IN"))
	got := make(chan network.Delivery, 10)
	sub, err := c.Consume(ctx(t), "b.IN", 1, func(d network.Delivery) { got <- d })
	must(t, err)
	defer sub.Close()
	tapped := brokertest.NewInbox(10)
	tap, err := c.Tap(ctx(t), "a.OUT", tapped.Data)
	must(t, err)
	defer tap.Close()

	must(t, other.Publish(ctx(t), "a.OUT", []byte(`"first"`)))
	must(t, other.Publish(ctx(t), "a.OUT", []byte(`"second"`))) // waits: prefetch 1
	first := <-got
	tapped.Expect(t, `"first"`, `"second"`)
	c.Drop()
	if up := <-states; up {
		t.Fatal("Drop told the watcher true")
	}
	if err := first.Ack(); err == nil {
		t.Fatal("Ack of a delivery lost with the connection succeeded")
	}
	short, cancel := context.WithTimeout(ctx(t), 10*time.Millisecond)
	defer cancel()
	if err := c.Publish(short, "a.OUT", []byte(`"x"`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish on a dropped connection: %v, want it to wait for Heal", err)
	}
	must(t, other.Publish(ctx(t), "a.OUT", []byte(`"third"`)))
	stats, err := other.QueueStats(ctx(t), []string{"b.IN"})
	must(t, err)
	if stats["b.IN"].Ready != 3 {
		t.Fatalf("while the consumer's connection is down: %+v, want the 3 messages waiting", stats)
	}
	c.Heal()
	if up := <-states; !up {
		t.Fatal("Heal told the watcher false")
	}
	for _, want := range []string{`"first"`, `"second"`, `"third"`} {
		d := <-got
		if string(d.Data()) != want {
			t.Fatalf("after Heal: got %s, want %s", d.Data(), want)
		}
		must(t, d.Ack())
	}
	must(t, c.Publish(ctx(t), "a.OUT", []byte(`"fourth"`)))
	tapped.Expect(t, `"fourth"`) // "third" went by while the tap was down
}

func TestNackDeadLetters(t *testing.T) {
	s := memory.NewServer()
	c := s.Connect()
	defer c.Close()
	must(t, c.DeclareInport(ctx(t), "q.IN", network.QueueOptions{}))
	done := make(chan struct{})
	sub, err := c.Consume(ctx(t), "q.IN", 1, func(d network.Delivery) {
		must(t, d.Nack())
		if err := d.Ack(); err == nil {
			t.Error("Ack after Nack succeeded")
		}
		close(done)
	})
	must(t, err)
	defer sub.Close()
	must(t, c.Send(ctx(t), "q.IN", []byte(`"bad"`)))
	<-done
	if dead := s.DeadLetters("q.IN"); len(dead) != 1 || string(dead[0]) != `"bad"` {
		t.Fatalf("dead letters: %q", dead)
	}
}

// Consumers of one queue share it round robin, and a consumer closed with
// messages unacknowledged gives them back to the others.
func TestSharedQueue(t *testing.T) {
	s := memory.NewServer()
	c := s.Connect()
	defer c.Close()
	must(t, c.DeclareInport(ctx(t), "q.IN", network.QueueOptions{}))
	held := make(chan network.Delivery, 10)
	first, err := c.Consume(ctx(t), "q.IN", 1, func(d network.Delivery) { held <- d })
	must(t, err)
	in := brokertest.NewInbox(10)
	second, err := c.Consume(ctx(t), "q.IN", 1, in.Ack)
	must(t, err)
	defer second.Close()
	must(t, c.Send(ctx(t), "q.IN", []byte(`1`)))
	must(t, c.Send(ctx(t), "q.IN", []byte(`2`)))
	if d := <-held; string(d.Data()) != `1` {
		t.Fatalf("first consumer got %s", d.Data())
	}
	in.Expect(t, `2`)
	must(t, first.Close())
	in.Expect(t, `1`)
	stats, err := c.QueueStats(ctx(t), []string{"q.IN", "missing"})
	must(t, err)
	if len(stats) != 1 || stats["q.IN"] != (network.QueueStats{Ready: 0, Consumers: 1}) {
		t.Fatalf("QueueStats: %+v", stats)
	}
}

func TestUndeclared(t *testing.T) {
	c := memory.NewServer().Connect()
	defer c.Close()
	must(t, c.Send(ctx(t), "nobody.IN", []byte(`1`))) // dropped, as RabbitMQ does
	if err := c.Publish(ctx(t), "nobody.OUT", []byte(`1`)); err == nil {
		t.Error("publish to an undeclared exchange succeeded")
	}
	if err := c.Bind(ctx(t), "nobody.OUT", "nobody.IN"); err == nil {
		t.Error("bind of undeclared ends succeeded")
	}
	if _, err := c.Consume(ctx(t), "nobody.IN", 0, func(network.Delivery) {}); err == nil {
		t.Error("consume of an undeclared queue succeeded")
	}
}
