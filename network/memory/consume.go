package memory

import (
	"context"
	"errors"
	"fmt"

	"github.com/msgflo/msgflo-runtime/network"
)

// subscription is a consumer or a stream, as the connection that made it
// keeps it.
type subscription interface {
	closeLocked()
	dropLocked() // the connection is lost
	healLocked() // and back
}

// worker runs a subscription's handler calls one at a time, in order, on
// its own goroutine, never under the server's lock.
type worker struct {
	s       *Server
	items   []func() // guarded by s.mu
	wake    chan struct{}
	stop    chan struct{}
	stopped bool // guarded by s.mu
	// halted stops the handler calls, which stay queued (Drain); busy is
	// set while one runs, and idle, when not nil, is closed once none
	// does (all guarded by s.mu).
	halted bool
	busy   bool
	idle   chan struct{}
}

func newWorker(s *Server) *worker {
	w := &worker{s: s, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	go w.run()
	return w
}

func (w *worker) addLocked(f func()) {
	w.items = append(w.items, f)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) run() {
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			return
		}
		for f := w.next(); f != nil; f = w.next() {
			f()
		}
	}
}

func (w *worker) next() func() {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.stopped || w.halted || len(w.items) == 0 {
		w.busy = false
		if w.idle != nil {
			close(w.idle)
			w.idle = nil
		}
		return nil
	}
	f := w.items[0]
	w.items[0] = nil
	w.items = w.items[1:]
	w.busy = true
	return f
}

// halt stops the handler calls and waits for the one under way, if any,
// to return. (Not from a handler call: it would wait for itself.)
func (w *worker) halt() {
	w.s.mu.Lock()
	w.halted = true
	if !w.busy {
		w.s.mu.Unlock()
		return
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	idle := w.idle
	w.s.mu.Unlock()
	<-idle
}

func (w *worker) stopLocked() {
	if !w.stopped {
		w.stopped = true
		w.items = nil
		close(w.stop)
	}
}

// downLocked reports whether the connection is lost (Drop).
func (c *Conn) downLocked() bool {
	select {
	case <-c.up:
		return false
	default:
		return true
	}
}

// consumer takes messages from a queue, at most prefetch unacknowledged.
type consumer struct {
	w        *worker
	c        *Conn
	queue    string
	prefetch int
	handler  network.Handler
	unacked  []*delivery // in delivery order; guarded by s.mu
}

// Consume implements network.Broker. The queue must have been declared.
func (c *Conn) Consume(ctx context.Context, queue string, prefetch int, handler network.Handler) (network.Subscription, error) {
	if prefetch <= 0 {
		prefetch = defaultPrefetch
	}
	var cons *consumer
	err := c.locked(ctx, func() error {
		q := c.s.queues[queue]
		if q == nil {
			return fmt.Errorf("consume %s: no queue %s", queue, queue)
		}
		cons = &consumer{w: newWorker(c.s), c: c, queue: queue, prefetch: prefetch, handler: handler}
		q.consumers = append(q.consumers, cons)
		q.hadConsumer = true
		c.subs[cons] = true
		c.s.dispatchLocked(queue)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cons, nil
}

// enqueueLocked puts a copy of data on a queue; a missing queue drops it.
func (s *Server) enqueueLocked(name string, data []byte) {
	q := s.queues[name]
	if q == nil {
		return
	}
	q.ready = append(q.ready, append([]byte(nil), data...))
	s.dispatchLocked(name)
}

// dispatchLocked hands a queue's ready messages to its consumers, round
// robin among those connected and within their prefetch.
func (s *Server) dispatchLocked(name string) {
	q := s.queues[name]
	if q == nil {
		return
	}
	for len(q.ready) > 0 {
		cons := q.pickLocked()
		if cons == nil {
			return
		}
		d := &delivery{cons: cons, queue: name, data: q.ready[0]}
		q.ready[0] = nil
		q.ready = q.ready[1:]
		cons.unacked = append(cons.unacked, d)
		cons.w.addLocked(func() { cons.handler(d) })
	}
}

func (q *queue) pickLocked() *consumer {
	n := len(q.consumers)
	for i := range n {
		cons := q.consumers[(q.next+i)%n]
		if !cons.c.downLocked() && !cons.w.halted && len(cons.unacked) < cons.prefetch {
			q.next = (q.next + i + 1) % n
			return cons
		}
	}
	return nil
}

// requeueLocked puts the unacknowledged messages back at the head of the
// queue, in their order; their Ack and Nack then fail.
func (cons *consumer) requeueLocked() {
	cons.w.items = nil
	q := cons.c.s.queues[cons.queue]
	var back [][]byte
	for _, d := range cons.unacked {
		d.lost = true
		back = append(back, d.data)
	}
	cons.unacked = nil
	if q != nil {
		q.ready = append(back, q.ready...)
	}
}

// A consumer drains as RabbitMQ's does.
var _ network.Drainer = (*consumer)(nil)

// Drain implements network.Drainer: no more messages are delivered and
// the handler call under way, if any, has returned; the messages handled
// can be acknowledged until Close, and those delivered but not handled
// go back to the queue at Close.
func (cons *consumer) Drain() error {
	cons.w.halt()
	return nil
}

// Close implements network.Subscription: unacknowledged messages go back
// to the queue. A handler call under way may finish after Close returns
// (Drain first to wait for it).
func (cons *consumer) Close() error {
	cons.c.s.mu.Lock()
	defer cons.c.s.mu.Unlock()
	cons.closeLocked()
	return nil
}

func (cons *consumer) closeLocked() {
	s := cons.c.s
	delete(cons.c.subs, cons)
	if cons.w.stopped {
		return
	}
	cons.w.stopLocked()
	cons.requeueLocked()
	q := s.queues[cons.queue]
	if q == nil {
		return
	}
	for i, other := range q.consumers {
		if other == cons {
			q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
			break
		}
	}
	if q.autoDelete && len(q.consumers) == 0 {
		s.deleteQueueLocked(cons.queue)
		return
	}
	s.dispatchLocked(cons.queue)
}

func (cons *consumer) dropLocked() { cons.requeueLocked(); cons.c.s.dispatchLocked(cons.queue) }
func (cons *consumer) healLocked() { cons.c.s.dispatchLocked(cons.queue) }

// deleteQueueLocked removes an auto-delete queue and its bindings.
func (s *Server) deleteQueueLocked(name string) {
	delete(s.queues, name)
	for exName, ex := range s.exchanges {
		if ex.queues[name] {
			delete(ex.queues, name)
			s.autoDeleteExchangeLocked(exName)
		}
	}
}

// delivery is a network.Delivery.
type delivery struct {
	cons    *consumer
	queue   string
	data    []byte
	settled bool // guarded by s.mu
	lost    bool // requeued when its consumer or connection went
}

func (d *delivery) Queue() string { return d.queue }
func (d *delivery) Data() []byte  { return d.data }

// Ack implements network.Delivery.
func (d *delivery) Ack() error { return d.settle(false) }

// Nack implements network.Delivery: the message is dead-lettered
// (Server.DeadLetters).
func (d *delivery) Nack() error { return d.settle(true) }

func (d *delivery) settle(dead bool) error {
	s := d.cons.c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case d.settled:
		return errors.New("delivery already acknowledged")
	case d.lost:
		return fmt.Errorf("delivery from %s lost with its consumer; the message was requeued", d.queue)
	}
	d.settled = true
	for i, u := range d.cons.unacked {
		if u == d {
			d.cons.unacked = append(d.cons.unacked[:i], d.cons.unacked[i+1:]...)
			break
		}
	}
	if dead {
		s.dead[d.queue] = append(s.dead[d.queue], d.data)
	}
	s.dispatchLocked(d.queue)
	return nil
}

// stream hands copies of messages to a DataHandler: a tap on an exchange,
// or a discovery subscription (exchange ""). What is published while its
// connection is lost never reaches it, as a RabbitMQ tap's exclusive
// queue goes with the connection.
type stream struct {
	w        *worker
	c        *Conn
	exchange string
	handler  network.DataHandler
}

func (st *stream) push(queue string, data []byte) {
	if st.c.downLocked() {
		return
	}
	d := append([]byte(nil), data...)
	st.w.addLocked(func() { st.handler(queue, d) })
}

// Tap implements network.Broker. The exchange must have been declared.
func (c *Conn) Tap(ctx context.Context, exchange string, handler network.DataHandler) (network.Subscription, error) {
	return c.tap(ctx, exchange, nil, handler)
}

// TapExchange implements network.Broker.
func (c *Conn) TapExchange(ctx context.Context, exchange string, opts network.QueueOptions, handler network.DataHandler) (network.Subscription, error) {
	return c.tap(ctx, exchange, &opts, handler)
}

func (c *Conn) tap(ctx context.Context, exchange string, declare *network.QueueOptions, handler network.DataHandler) (network.Subscription, error) {
	var st *stream
	err := c.locked(ctx, func() error {
		if declare != nil {
			c.s.declareExchangeLocked(exchange, *declare)
		}
		ex := c.s.exchanges[exchange]
		if ex == nil {
			return fmt.Errorf("tap %s: no exchange %s", exchange, exchange)
		}
		st = &stream{w: newWorker(c.s), c: c, exchange: exchange, handler: handler}
		ex.taps[st] = true
		ex.used = true
		c.subs[st] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// SubscribeDiscovery implements network.Broker.
func (c *Conn) SubscribeDiscovery(ctx context.Context, handler network.DataHandler) (network.Subscription, error) {
	var st *stream
	err := c.locked(ctx, func() error {
		st = &stream{w: newWorker(c.s), c: c, handler: handler}
		c.s.discovery[st] = true
		c.subs[st] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Close implements network.Subscription. A handler call under way may
// finish after Close returns.
func (st *stream) Close() error {
	st.c.s.mu.Lock()
	defer st.c.s.mu.Unlock()
	st.closeLocked()
	return nil
}

func (st *stream) closeLocked() {
	s := st.c.s
	delete(st.c.subs, st)
	st.w.stopLocked()
	if st.exchange == "" {
		delete(s.discovery, st)
		return
	}
	if ex := s.exchanges[st.exchange]; ex != nil {
		delete(ex.taps, st)
		s.autoDeleteExchangeLocked(st.exchange)
	}
}

func (st *stream) dropLocked() { st.w.items = nil }
func (st *stream) healLocked() {}
