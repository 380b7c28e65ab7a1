package runtime

import (
	"sync"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// events hands the runtime's events to the sink. They are queued where they
// happen, under the lock of the state that changed (so that they are in
// the order of the changes), and handed to the sink after that lock is
// released, in one global order: the sink encodes them, and no state lock
// is held while it does. Every method of the runtime that changes state
// flushes before it returns, so that an event is with the sink before the
// caller goes on (a reply the protocol sends after an edit never overtakes
// the edit's acknowledgement).
type events struct {
	sink Sink
	// record is told of every event queued (the error log).
	record func(Event)

	mu      sync.Mutex // guards pending
	pending []Event
	// delivering is held while a batch goes to the sink: batches go one
	// after the other, and a flush returns only once what was queued
	// before it has been delivered, by it or by the flush under way.
	delivering sync.Mutex
}

func newEvents(sink Sink, record func(Event)) *events {
	if sink == nil {
		sink = discard{}
	}
	return &events{sink: sink, record: record}
}

type discard struct{}

func (discard) Broadcast(Event) {}

// push queues an event for every client allowed to receive it.
func (q *events) push(m wire.Message) { q.pushEvent(Event{Message: m}) }

// pushTo queues an event for some clients only.
func (q *events) pushTo(to []ClientID, m wire.Message) { q.pushEvent(Event{Message: m, To: to}) }

func (q *events) pushEvent(ev Event) {
	if q.record != nil {
		q.record(ev)
	}
	q.mu.Lock()
	q.pending = append(q.pending, ev)
	q.mu.Unlock()
}

// pushAll queues events in order.
func (q *events) pushAll(evs []Event) {
	for _, ev := range evs {
		q.pushEvent(ev)
	}
}

// flush hands the sink every event queued so far. Call it with no state
// lock held.
func (q *events) flush() {
	q.delivering.Lock()
	defer q.delivering.Unlock()
	for {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, ev := range batch {
			q.sink.Broadcast(ev)
		}
	}
}
