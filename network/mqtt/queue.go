package mqtt

import (
	"sync"

	"github.com/msgflo/msgflo-runtime/network"
)

// queueWarnLength is the backlog of one sink or of the forwarder at which a
// warning is logged: MQTT has no flow control towards a single consumer, so
// backlogs are held in memory rather than dropped.
const queueWarnLength = 10000

// fifo is an unbounded queue of payloads drained by one goroutine. Pushing
// never blocks, so the connection's delivery path cannot deadlock on a slow
// consumer (graphs may have cycles).
type fifo[T any] struct {
	mu      sync.Mutex // guards items, stopped, warned
	items   []T
	stopped bool
	warned  bool
	ready   chan struct{} // signalled when items arrive
	done    chan struct{} // closed when the drain goroutine has returned
}

func newFIFO[T any]() *fifo[T] {
	return &fifo[T]{ready: make(chan struct{}, 1), done: make(chan struct{})}
}

// push appends an item; it reports whether the backlog just reached the
// warning length.
func (q *fifo[T]) push(item T) (warn bool) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, item)
	if len(q.items) >= queueWarnLength && !q.warned {
		q.warned, warn = true, true
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return warn
}

// run calls handle for each item in order until stop.
func (q *fifo[T]) run(handle func(T)) {
	defer close(q.done)
	for {
		q.mu.Lock()
		if q.stopped {
			q.mu.Unlock()
			return
		}
		items := q.items
		q.items = nil
		if len(items) < queueWarnLength {
			q.warned = false
		}
		q.mu.Unlock()
		if len(items) == 0 {
			<-q.ready
			continue
		}
		for _, it := range items {
			q.mu.Lock()
			stopped := q.stopped
			q.mu.Unlock()
			if stopped {
				return
			}
			handle(it)
		}
	}
}

// stop makes run return after the item in progress and waits for it. It
// must not be called from inside handle.
func (q *fifo[T]) stop() {
	q.mu.Lock()
	q.stopped = true
	q.items = nil
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	<-q.done
}

// sink is one local user of a topic (consumer, tap, discovery handler) with
// its own goroutine.
type sink struct {
	b        *Broker
	topic    string
	consumer bool // a consumer (else a tap or the discovery handler)
	handler  network.DataHandler
	q        *fifo[[]byte]
	once     sync.Once
}

func newSink(b *Broker, topic string, consumer bool, handler network.DataHandler) *sink {
	s := &sink{b: b, topic: topic, consumer: consumer, handler: handler, q: newFIFO[[]byte]()}
	go s.q.run(func(data []byte) { s.handler(s.topic, data) })
	return s
}

func (s *sink) push(data []byte) {
	if s.q.push(data) {
		s.b.log.Warn().Str("queue", s.topic).Int("backlog", queueWarnLength).Msg("consumer falling behind")
	}
}

func (s *sink) stop() { s.q.stop() }

// Close detaches the sink from its topic and waits for a handler in
// progress to return. Messages not yet handled are dropped (MQTT has no
// queue to leave them in). It must not be called from inside the handler.
func (s *sink) Close() error {
	var err error
	s.once.Do(func() {
		err = s.b.detach(s)
		s.stop()
	})
	return err
}

type forward struct {
	targets []string
	payload []byte
}

// forwarder publishes bound messages to their targets, in arrival order,
// from one goroutine.
type forwarder struct {
	b *Broker
	q *fifo[forward]
}

func newForwarder(b *Broker) *forwarder {
	f := &forwarder{b: b, q: newFIFO[forward]()}
	go f.q.run(f.send)
	return f
}

func (f *forwarder) push(targets []string, payload []byte) {
	if f.q.push(forward{targets: targets, payload: payload}) {
		f.b.log.Warn().Int("backlog", queueWarnLength).Msg("binder falling behind")
	}
}

func (f *forwarder) send(fw forward) {
	for _, tgt := range fw.targets {
		if err := f.b.conn.Publish(f.b.ctx, tgt, fw.payload); err != nil && f.b.ctx.Err() == nil {
			f.b.log.Error().Err(err).Str("queue", tgt).Msg("forwarding a bound message failed")
		}
	}
}

func (f *forwarder) stop() { f.q.stop() }
