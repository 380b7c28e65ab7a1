// Package memory is an in-memory network.Broker for tests: coordinator
// and participant tests run in the fast tier (go test -short) with no
// RabbitMQ or MQTT broker. It is never used by the product.
//
// A Server is the broker; Connect opens a connection to it (a Conn, the
// network.Broker). It behaves as RabbitMQ does as the runtime uses it:
// inports are queues (each with a fanout exchange of the same name bound
// to it), outports are fanout exchanges, bindings live in the server,
// consumers of one queue share its messages round robin within their
// prefetch, a nacked message is dead-lettered (DeadLetters), unacked
// messages go back to the queue when their consumer goes, a publish to an
// exchange nobody declared fails and a send to a missing queue is dropped.
// Every connection gets every announcement.
//
// Fault hooks, for tests of what the runtime does when the broker
// misbehaves: Server.RefuseNext (the broker refuses publishes),
// Server.HoldConfirms (publishes wait for their confirms until released,
// or fail), Conn.Drop and Conn.Heal (the connection is lost and comes
// back, as network.ConnectionWatcher tells).
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/msgflo/msgflo-runtime/network"
)

// defaultPrefetch is the prefetch of a consumer that asks for 0.
const defaultPrefetch = 64

// ErrRefused is what a publish the broker refused (RefuseNext) fails with.
var ErrRefused = errors.New("memory broker refused the message")

var servers atomic.Int64

// Server is an in-memory broker. Its zero value is not usable: call
// NewServer.
type Server struct {
	name string

	mu        sync.Mutex // guards everything below, and every Conn's state
	queues    map[string]*queue
	exchanges map[string]*exchange
	discovery map[*stream]bool
	dead      map[string][][]byte
	faults    faults
}

type queue struct {
	name        string
	autoDelete  bool
	hadConsumer bool
	ready       [][]byte
	consumers   []*consumer
	next        int // round robin
}

type exchange struct {
	autoDelete bool
	used       bool // has had a binding or a tap (auto-delete then applies)
	queues     map[string]bool
	taps       map[*stream]bool
}

// NewServer makes an empty broker.
func NewServer() *Server {
	return &Server{
		name:      fmt.Sprintf("memory://%d", servers.Add(1)),
		queues:    map[string]*queue{},
		exchanges: map[string]*exchange{},
		discovery: map[*stream]bool{},
		dead:      map[string][][]byte{},
	}
}

// Connect opens a connection to the server.
func (s *Server) Connect() *Conn {
	c := &Conn{s: s, done: make(chan struct{}), up: make(chan struct{}), subs: map[subscription]bool{}}
	close(c.up)
	return c
}

// DeadLetters returns the messages nacked on queue, oldest first.
func (s *Server) DeadLetters(queue string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.dead[queue]...)
}

// Conn is a connection to a Server: a network.Broker.
type Conn struct {
	s    *Server
	done chan struct{} // closed by Close

	// Guarded by s.mu.
	closed   bool
	up       chan struct{} // closed while connected; Drop replaces it
	subs     map[subscription]bool
	watchers []func(connected bool)
}

var (
	_ network.Broker             = (*Conn)(nil)
	_ network.ConnectionWatcher  = (*Conn)(nil)
	_ network.AsyncPublisher     = (*Conn)(nil)
	_ network.TransientPublisher = (*Conn)(nil)
	_ network.QueueInspector     = (*Conn)(nil)
	_ network.BindingKeeper      = (*Conn)(nil)
	_ network.NameRules          = (*Conn)(nil)
)

// KeepsBindings implements network.BindingKeeper: the server keeps them,
// as RabbitMQ does.
func (c *Conn) KeepsBindings() bool { return true }

// CheckName implements network.NameRules: names every broker takes, so
// that what passes here passes on RabbitMQ and MQTT.
func (c *Conn) CheckName(name string) error { return network.AnyBroker.CheckName(name) }

// ready waits until the connection is up (Drop, Heal) and returns an
// error if it is closed or ctx ends first.
func (c *Conn) ready(ctx context.Context) error {
	c.s.mu.Lock()
	up := c.up
	c.s.mu.Unlock()
	select {
	case <-c.done:
		return network.ErrClosed
	default:
	}
	select {
	case <-up:
		return nil
	case <-c.done:
		return network.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// locked runs f under the server's lock once the connection is up.
func (c *Conn) locked(ctx context.Context, f func() error) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.closed {
		return network.ErrClosed
	}
	return f()
}

// URL implements network.Broker; no other process can reach the server.
func (c *Conn) URL() string { return c.s.name }

// DeclareInport implements network.Broker.
func (c *Conn) DeclareInport(ctx context.Context, name string, o network.QueueOptions) error {
	return c.locked(ctx, func() error {
		if c.s.queues[name] == nil {
			c.s.queues[name] = &queue{name: name, autoDelete: o.NonPersistent}
		}
		c.s.declareExchangeLocked(name, o)
		c.s.exchanges[name].queues[name] = true
		return nil
	})
}

// DeclareOutport implements network.Broker.
func (c *Conn) DeclareOutport(ctx context.Context, name string, o network.QueueOptions) error {
	return c.locked(ctx, func() error {
		c.s.declareExchangeLocked(name, o)
		return nil
	})
}

func (s *Server) declareExchangeLocked(name string, o network.QueueOptions) {
	if s.exchanges[name] == nil {
		s.exchanges[name] = &exchange{autoDelete: o.NonPersistent, queues: map[string]bool{}, taps: map[*stream]bool{}}
	}
}

// Bind implements network.Broker: both ends must have been declared.
func (c *Conn) Bind(ctx context.Context, src, tgt string) error {
	return c.locked(ctx, func() error {
		ex, q := c.s.exchanges[src], c.s.queues[tgt]
		if ex == nil {
			return fmt.Errorf("bind %s -> %s: no exchange %s", src, tgt, src)
		}
		if q == nil {
			return fmt.Errorf("bind %s -> %s: no queue %s", src, tgt, tgt)
		}
		ex.queues[tgt] = true
		ex.used = true
		return nil
	})
}

// Unbind implements network.Broker.
func (c *Conn) Unbind(ctx context.Context, src, tgt string) error {
	return c.locked(ctx, func() error {
		if ex := c.s.exchanges[src]; ex != nil {
			delete(ex.queues, tgt)
			c.s.autoDeleteExchangeLocked(src)
		}
		return nil
	})
}

// autoDeleteExchangeLocked removes an auto-delete exchange once its last
// binding or tap is gone, as RabbitMQ does.
func (s *Server) autoDeleteExchangeLocked(name string) {
	ex := s.exchanges[name]
	if ex != nil && ex.autoDelete && ex.used && len(ex.queues) == 0 && len(ex.taps) == 0 {
		delete(s.exchanges, name)
	}
}

// ExchangeExists implements network.Broker.
func (c *Conn) ExchangeExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := c.locked(ctx, func() error {
		ok = c.s.exchanges[name] != nil
		return nil
	})
	return ok, err
}

// QueueStats implements network.QueueInspector.
func (c *Conn) QueueStats(ctx context.Context, names []string) (map[string]network.QueueStats, error) {
	stats := map[string]network.QueueStats{}
	err := c.locked(ctx, func() error {
		for _, n := range names {
			if q := c.s.queues[n]; q != nil {
				stats[n] = network.QueueStats{Ready: len(q.ready), Consumers: len(q.consumers)}
			}
		}
		return nil
	})
	return stats, err
}

// Send implements network.Broker: straight to the queue; a message to a
// queue nobody declared is dropped, as RabbitMQ's default exchange does.
func (c *Conn) Send(ctx context.Context, queue string, data []byte) error {
	return c.publish(ctx, "", queue, data)
}

// Publish implements network.Broker. Publishing on an exchange nobody
// declared is an error (RabbitMQ closes the channel).
func (c *Conn) Publish(ctx context.Context, exchange string, data []byte) error {
	return c.publish(ctx, exchange, "", data)
}

// PublishTransient implements network.TransientPublisher: Publish, which
// loses nothing here anyway.
func (c *Conn) PublishTransient(ctx context.Context, exchange string, data []byte) error {
	return c.Publish(ctx, exchange, data)
}

// PublishAsync implements network.AsyncPublisher.
func (c *Conn) PublishAsync(ctx context.Context, exchange string, data []byte) (network.Pending, error) {
	p, err := c.publishAsync(ctx, exchange, "", data)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (c *Conn) publish(ctx context.Context, exchange, queue string, data []byte) error {
	p, err := c.publishAsync(ctx, exchange, queue, data)
	if err != nil {
		return err
	}
	return p.Wait(ctx)
}

// publishAsync publishes to an exchange, or to a queue when exchange is "".
func (c *Conn) publishAsync(ctx context.Context, exchange, queue string, data []byte) (*pending, error) {
	var p *pending
	err := c.locked(ctx, func() error {
		var err error
		p, err = c.s.publishLocked(c, exchange, queue, data)
		return err
	})
	return p, err
}

// publishLocked routes a message now, or holds it (HoldConfirms), or
// refuses it (RefuseNext).
func (s *Server) publishLocked(c *Conn, exchange, queue string, data []byte) (*pending, error) {
	if exchange != "" && s.exchanges[exchange] == nil {
		return nil, fmt.Errorf("publish to %s: no exchange %s", exchange, exchange)
	}
	p := &pending{c: c, exchange: exchange, queue: queue, data: append([]byte(nil), data...), done: make(chan struct{})}
	switch {
	case s.faults.refuse > 0:
		s.faults.refuse--
		p.finish(ErrRefused)
	case s.faults.holding:
		s.holdLocked(p)
	default:
		s.routeLocked(p)
		p.finish(nil)
	}
	return p, nil
}

// routeLocked hands a message to its queues and taps.
func (s *Server) routeLocked(p *pending) {
	if p.exchange == "" {
		s.enqueueLocked(p.queue, p.data)
		return
	}
	ex := s.exchanges[p.exchange]
	if ex == nil { // deleted while the message was held
		return
	}
	for q := range ex.queues {
		s.enqueueLocked(q, p.data)
	}
	for w := range ex.taps {
		w.push(p.exchange, p.data)
	}
}

// pending is a publish waiting for its confirmation.
type pending struct {
	c               *Conn
	exchange, queue string
	data            []byte
	done            chan struct{}
	err             error
}

func (p *pending) finish(err error) {
	p.err = err
	close(p.done)
}

// Wait implements network.Pending.
func (p *pending) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("publish to %s%s: %w", p.exchange, p.queue, p.err)
		}
		return nil
	case <-p.c.done:
		return network.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Announce implements network.Broker: every discovery subscriber of every
// connection that is up gets the message.
func (c *Conn) Announce(ctx context.Context, msg []byte) error {
	return c.locked(ctx, func() error {
		for w := range c.s.discovery {
			w.push(network.DiscoveryQueue, msg)
		}
		return nil
	})
}

// Close implements network.Broker: every subscription of the connection
// ends, and every operation after it fails with network.ErrClosed.
func (c *Conn) Close() error {
	c.s.mu.Lock()
	if c.closed {
		c.s.mu.Unlock()
		return nil
	}
	c.closed = true
	subs := c.subs
	c.subs = map[subscription]bool{}
	for sub := range subs {
		sub.closeLocked()
	}
	c.s.mu.Unlock()
	close(c.done)
	return nil
}
