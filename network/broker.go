// Package network is the broker side of msgflo-runtime: the Broker interface
// every transport implements (embedded, MQTT, AMQP), participant discovery
// messages, and the registry of discovered participants.
//
// Naming follows msgflo: an inport is a queue (AMQP) or topic (MQTT) named
// ROLE.PORT that a participant consumes; an outport is an exchange (AMQP) or
// topic (MQTT) of the same form that a participant publishes to. An edge of
// the graph is a binding from a source outport to a target inport.
package network

import (
	"context"
	"errors"
)

// DiscoveryQueue is the queue (AMQP) or topic (MQTT) on which participants
// announce themselves.
const DiscoveryQueue = "fbp"

// DiscoveryExchange is, on AMQP, the fanout exchange that gives every
// coordinator every announcement (the queue DiscoveryQueue gives each to
// one consumer only); DiscoveryQueue is bound to it. See package amqp.
const DiscoveryExchange = "fbp.discovery"

// ErrClosed is returned by operations on a Broker or Subscription after Close.
var ErrClosed = errors.New("broker connection closed")

// ErrNoPassiveCheck is returned by ExchangeExists on brokers that cannot
// tell whether a queue or topic exists (MQTT).
var ErrNoPassiveCheck = errors.New("the broker cannot check whether a queue exists")

// QueueOptions are the per-port options a participant declares.
type QueueOptions struct {
	// Persistent false makes the queue/exchange non-durable and auto-deleted
	// (AMQP). The zero value means durable, as msgflo's default.
	NonPersistent bool
}

// Delivery is one message taken from an inport queue. Exactly one of Ack or
// Nack must be called for every delivery; the broker holds back further
// deliveries beyond the consumer's prefetch until it does.
type Delivery interface {
	// Queue is the inport queue the message was taken from.
	Queue() string
	// Data is the message body, normally JSON.
	Data() []byte
	// Ack marks the message processed.
	Ack() error
	// Nack marks the message failed; it is not requeued (AMQP dead-letters it).
	Nack() error
}

// Requeuer is a Delivery that can go back to its queue, to be delivered
// again (AMQP's): for a message that did not fail but cannot be settled
// (its outputs not confirmed, or taken by a consumer that wanted no more).
type Requeuer interface {
	Requeue() error
}

// Handler processes deliveries of a consumer. Handlers of one consumer are
// called one at a time, in delivery order.
type Handler func(d Delivery)

// DataHandler receives copies of messages observed on an outport (edge taps)
// or on the discovery queue. The slice must not be retained after return
// unless copied.
type DataHandler func(queue string, data []byte)

// Subscription is a consumer or tap. Close stops deliveries; it is safe to
// call more than once.
type Subscription interface {
	Close() error
}

// Drainer is a Subscription whose deliveries can be stopped before it is
// closed (AMQP's): Drain stops them and waits for the message being
// handled, and the messages handled can still be acknowledged until Close.
// A consumer that settles its messages after handling them (in batches,
// once their outputs are confirmed) drains, settles, then closes: an
// acknowledgement after Close is lost, and the message delivered again.
type Drainer interface {
	Drain() error
}

// Broker is a connection to a message broker, shared by every user in the
// process. All methods are safe for concurrent use. Declarations, bindings,
// consumers and taps survive reconnects: an implementation that reconnects
// re-creates them from its own state.
type Broker interface {
	// DeclareInport makes sure the inport queue exists. Idempotent.
	DeclareInport(ctx context.Context, queue string, opts QueueOptions) error
	// DeclareOutport makes sure the outport exchange exists. Idempotent.
	DeclareOutport(ctx context.Context, queue string, opts QueueOptions) error
	// Bind routes every message later published on outport src to inport
	// tgt, once, however many times Bind is called for the same pair.
	Bind(ctx context.Context, src, tgt string) error
	// Unbind removes a binding made by Bind. Unbinding a pair that is not
	// bound is not an error.
	Unbind(ctx context.Context, src, tgt string) error
	// Send delivers data directly to inport queue (IIPs, runtime:packet,
	// msgflo-send).
	Send(ctx context.Context, queue string, data []byte) error
	// Publish sends data on outport queue: every inport bound to it gets a copy.
	Publish(ctx context.Context, queue string, data []byte) error
	// Consume takes messages from inport queue and hands them to handler.
	// prefetch bounds the unacknowledged deliveries (0 = implementation default).
	Consume(ctx context.Context, queue string, prefetch int, handler Handler) (Subscription, error)
	// Tap observes a copy of every message published on outport queue from
	// now on, without taking messages from consumers.
	Tap(ctx context.Context, queue string, handler DataHandler) (Subscription, error)
	// TapExchange is Tap on an exchange another process owns (the outqueue
	// of an FBP-capable participant): each time the tap's private queue is
	// bound, the exchange is first declared with opts, so that it exists
	// as long as the tap lives. Unlike DeclareOutport, nothing of it is
	// kept (or restored after a reconnect) once the tap is closed.
	TapExchange(ctx context.Context, exchange string, opts QueueOptions, handler DataHandler) (Subscription, error)
	// ExchangeExists reports whether an exchange of that name exists, by a
	// passive check that never creates it and never disturbs the other
	// operations. Brokers without server-side exchanges (MQTT) return
	// ErrNoPassiveCheck: the caller must ask the other side instead.
	ExchangeExists(ctx context.Context, name string) (bool, error)
	// Announce publishes a discovery message (already encoded, see
	// EncodeDiscovery) on the discovery queue.
	Announce(ctx context.Context, msg []byte) error
	// SubscribeDiscovery hands every discovery message to handler.
	SubscribeDiscovery(ctx context.Context, handler DataHandler) (Subscription, error)
	// URL is the address other processes use to reach this broker
	// (credentials included as given).
	URL() string
	// Close releases the connection and every subscription.
	Close() error
}

// ConnectionWatcher is implemented by brokers whose connection can drop and
// heal on its own: f is told when it goes down (false) and is back, with
// everything restored (true).
type ConnectionWatcher interface {
	OnConnection(f func(connected bool))
}

// AsyncPublisher is implemented by brokers that confirm publishes
// asynchronously: PublishAsync hands data to the broker and returns at
// once; Wait on the result says whether the broker has taken it. Callers
// keep many publishes in flight, which is what makes a participant fast
// (the broker batches the writes to disk behind the confirms). data must
// not be changed until Wait returns: a publish whose confirm is lost with
// the connection is made again from it.
type AsyncPublisher interface {
	PublishAsync(ctx context.Context, queue string, data []byte) (Pending, error)
}

// Pending is a publish waiting for its confirmation.
type Pending interface {
	Wait(ctx context.Context) error
}

// TransientPublisher is implemented by brokers that can publish without
// making the broker persist or confirm the message (msgflo-nodejs's
// delivery, --persistent-messages=false): faster, but a message the broker
// loses (restart, failure) is gone.
type TransientPublisher interface {
	PublishTransient(ctx context.Context, queue string, data []byte) error
}

// QueueStats is what the broker says about an inport queue.
type QueueStats struct {
	// Ready is the number of messages waiting to be delivered.
	Ready int `json:"ready"`
	// Consumers is the number of consumers taking from the queue.
	Consumers int `json:"consumers"`
}

// QueueInspector is implemented by brokers that can tell how many
// messages wait in a queue (AMQP, by a passive declare that never creates
// the queue). MQTT cannot.
type QueueInspector interface {
	// QueueStats reports the queues that exist; a missing queue is left
	// out of the result, not an error.
	QueueStats(ctx context.Context, queues []string) (map[string]QueueStats, error)
}

// Capabilities some brokers have. Callers ask for them with a type
// assertion to one of these interfaces (or through KeepsBindings), never to
// a transport's concrete type.

// BindingKeeper is implemented by brokers whose server keeps the bindings
// (RabbitMQ: a binding outlives the connection that made it, and the
// process). A broker without it forwards each bound message through the
// process that bound it (MQTT), so that its bindings end with the process.
type BindingKeeper interface {
	// KeepsBindings reports whether the server keeps the bindings.
	KeepsBindings() bool
}

// KeepsBindings reports whether b's server keeps the bindings made through
// it (BindingKeeper).
func KeepsBindings(b Broker) bool {
	k, ok := b.(BindingKeeper)
	return ok && k.KeepsBindings()
}

// RoundRobinBinder is implemented by brokers with competing consumers and
// dead-lettering (RabbitMQ): msgflo's round-robin binding, as
// msgflo-setup makes it for a msgflo/RoundRobin node.
type RoundRobinBinder interface {
	// RoundRobin makes messages published on outport src go to one of the
	// consumers of inport tgt, and what they reject go to inport
	// deadletter. Either end may be empty (msgflo-setup's bindings of a
	// RoundRobin node come one end at a time).
	RoundRobin(ctx context.Context, src, tgt, deadletter string) error
}
