// Package mqtt is the MQTT transport: a network.Broker over MQTT 3.1.1 with
// msgflo's conventions. Ports are topics named like their queues; since
// MQTT has no server-side bindings, edges are forwarded in this process, as
// msgflo's binder does: subscribe to the source topic and publish each
// message to every bound target.
//
// One connection serves every user in the process (the coordinator, its
// binder and taps, in-process participants). The connection subscribes to a
// topic once and fans its messages out to the local consumers, taps and
// bindings of that topic; each consumer and tap has its own goroutine and
// queue, so a slow handler holds up nobody else.
package mqtt

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
)

// Conn is what the Broker needs from an MQTT connection: the paho client
// over TCP (Dial) or the embedded broker's inline client.
type Conn interface {
	// Publish sends payload on topic (QoS 1) and returns once the broker
	// has it.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe makes the connection hand every message on topic to
	// deliver. deliver must not block.
	Subscribe(ctx context.Context, topic string, deliver func(topic string, payload []byte)) error
	// Unsubscribe undoes Subscribe.
	Unsubscribe(ctx context.Context, topic string) error
	// Close disconnects.
	Close() error
}

// Broker is a network.Broker over one MQTT connection.
type Broker struct {
	conn Conn
	url  string
	log  zerolog.Logger
	fwd  *forwarder

	mu       sync.Mutex // guards everything below
	closed   bool
	topics   map[string]*topic          // subscribed topics and their local users
	bindings map[string]map[string]bool // source topic -> target topics
}

// topic is one subscribed topic and who in the process uses it.
type topic struct {
	sinks map[*sink]bool
}

var _ network.Broker = (*Broker)(nil)

// NewBroker builds a Broker over a connection; url is what URL reports.
func NewBroker(conn Conn, url string, log zerolog.Logger) *Broker {
	b := &Broker{
		conn:     conn,
		url:      url,
		log:      log,
		topics:   map[string]*topic{},
		bindings: map[string]map[string]bool{},
	}
	b.fwd = newForwarder(b)
	return b
}

// URL returns the broker URL given at creation.
func (b *Broker) URL() string { return b.url }

// ConnectedURL implements network.NodeReporter: the server in use, when
// the connection can tell (else the URL given).
func (b *Broker) ConnectedURL() string {
	if r, ok := b.conn.(network.NodeReporter); ok {
		if u := r.ConnectedURL(); u != "" {
			return u
		}
	}
	return b.url
}

// OnConnection implements network.ConnectionWatcher when the connection
// can drop (the embedded broker's cannot).
func (b *Broker) OnConnection(f func(connected bool)) {
	if w, ok := b.conn.(network.ConnectionWatcher); ok {
		w.OnConnection(f)
	}
}

func (b *Broker) checkOpen() error {
	if b.closed {
		return network.ErrClosed
	}
	return nil
}

// DeclareInport is a no-op: MQTT topics need no declaration.
func (b *Broker) DeclareInport(context.Context, string, network.QueueOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.checkOpen()
}

// DeclareOutport is a no-op: MQTT topics need no declaration.
func (b *Broker) DeclareOutport(context.Context, string, network.QueueOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.checkOpen()
}

// Send publishes data on the inport's topic.
func (b *Broker) Send(ctx context.Context, queue string, data []byte) error {
	return b.publish(ctx, queue, data)
}

// Publish publishes data on the outport's topic.
func (b *Broker) Publish(ctx context.Context, queue string, data []byte) error {
	return b.publish(ctx, queue, data)
}

func (b *Broker) publish(ctx context.Context, topic string, data []byte) error {
	b.mu.Lock()
	err := b.checkOpen()
	b.mu.Unlock()
	if err != nil {
		return err
	}
	if err := b.conn.Publish(ctx, topic, data); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// Announce publishes a discovery message on the fbp topic.
func (b *Broker) Announce(ctx context.Context, msg []byte) error {
	return b.publish(ctx, network.DiscoveryQueue, msg)
}

// Consume hands every message on the inport's topic to handler, in order.
func (b *Broker) Consume(ctx context.Context, queue string, _ int, handler network.Handler) (network.Subscription, error) {
	return b.attach(ctx, queue, func(topic string, data []byte) {
		handler(&delivery{queue: topic, data: data})
	})
}

// Tap hands a copy of every message on the outport's topic to handler.
func (b *Broker) Tap(ctx context.Context, queue string, handler network.DataHandler) (network.Subscription, error) {
	return b.attach(ctx, queue, handler)
}

// TapExchange is Tap: MQTT topics need no declaration.
func (b *Broker) TapExchange(ctx context.Context, queue string, _ network.QueueOptions, handler network.DataHandler) (network.Subscription, error) {
	return b.attach(ctx, queue, handler)
}

// ExchangeExists cannot be answered on MQTT: topics exist by being used.
func (b *Broker) ExchangeExists(context.Context, string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkOpen(); err != nil {
		return false, err
	}
	return false, network.ErrNoPassiveCheck
}

// SubscribeDiscovery hands every message on the fbp topic to handler.
func (b *Broker) SubscribeDiscovery(ctx context.Context, handler network.DataHandler) (network.Subscription, error) {
	return b.attach(ctx, network.DiscoveryQueue, handler)
}

// Bind forwards every message on src to tgt from now on.
func (b *Broker) Bind(ctx context.Context, src, tgt string) error {
	if src == tgt {
		// The broker already delivers messages on a topic to its
		// subscribers; forwarding would loop.
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.checkOpen()
	}
	b.mu.Lock()
	if err := b.checkOpen(); err != nil {
		b.mu.Unlock()
		return err
	}
	if b.bindings[src][tgt] {
		b.mu.Unlock()
		return nil
	}
	if b.bindings[src] == nil {
		b.bindings[src] = map[string]bool{}
	}
	b.bindings[src][tgt] = true
	subscribe := b.topics[src] == nil
	if subscribe {
		b.topics[src] = &topic{sinks: map[*sink]bool{}}
	}
	b.mu.Unlock()
	if subscribe {
		if err := b.conn.Subscribe(ctx, src, b.dispatch); err != nil {
			b.mu.Lock()
			delete(b.bindings[src], tgt)
			b.dropTopicLocked(src)
			b.mu.Unlock()
			return fmt.Errorf("bind %s -> %s: subscribe: %w", src, tgt, err)
		}
	}
	return nil
}

// Unbind stops forwarding src to tgt.
func (b *Broker) Unbind(ctx context.Context, src, tgt string) error {
	b.mu.Lock()
	if err := b.checkOpen(); err != nil {
		b.mu.Unlock()
		return err
	}
	if !b.bindings[src][tgt] {
		b.mu.Unlock()
		return nil
	}
	delete(b.bindings[src], tgt)
	if len(b.bindings[src]) == 0 {
		delete(b.bindings, src)
	}
	unsubscribe := b.dropTopicLocked(src)
	b.mu.Unlock()
	if unsubscribe {
		if err := b.conn.Unsubscribe(ctx, src); err != nil {
			return fmt.Errorf("unbind %s -> %s: unsubscribe: %w", src, tgt, err)
		}
	}
	return nil
}

// dropTopicLocked forgets a topic nobody in the process uses any more and
// reports whether the connection should unsubscribe.
func (b *Broker) dropTopicLocked(name string) bool {
	t := b.topics[name]
	if t == nil || len(t.sinks) > 0 || len(b.bindings[name]) > 0 {
		return false
	}
	delete(b.topics, name)
	return true
}

// attach adds a local sink to a topic, subscribing at the broker when it is
// the topic's first user.
func (b *Broker) attach(ctx context.Context, name string, handler network.DataHandler) (network.Subscription, error) {
	b.mu.Lock()
	if err := b.checkOpen(); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	s := newSink(b, name, handler)
	t := b.topics[name]
	subscribe := t == nil
	if subscribe {
		t = &topic{sinks: map[*sink]bool{}}
		b.topics[name] = t
	}
	t.sinks[s] = true
	b.mu.Unlock()
	if subscribe {
		if err := b.conn.Subscribe(ctx, name, b.dispatch); err != nil {
			b.mu.Lock()
			delete(t.sinks, s)
			b.dropTopicLocked(name)
			b.mu.Unlock()
			s.stop()
			return nil, fmt.Errorf("subscribe to %s: %w", name, err)
		}
	}
	return s, nil
}

// detach removes a sink; the last user of a topic unsubscribes.
func (b *Broker) detach(s *sink) error {
	b.mu.Lock()
	t := b.topics[s.topic]
	if t == nil || !t.sinks[s] {
		b.mu.Unlock()
		return nil
	}
	delete(t.sinks, s)
	unsubscribe := !b.closed && b.dropTopicLocked(s.topic)
	b.mu.Unlock()
	if unsubscribe {
		if err := b.conn.Unsubscribe(context.Background(), s.topic); err != nil {
			return fmt.Errorf("unsubscribe from %s: %w", s.topic, err)
		}
	}
	return nil
}

// dispatch receives every message of the connection and hands it to the
// topic's sinks and bindings. It never blocks.
func (b *Broker) dispatch(name string, payload []byte) {
	b.mu.Lock()
	t := b.topics[name]
	if t == nil || b.closed {
		b.mu.Unlock()
		return
	}
	for s := range t.sinks {
		s.push(payload)
	}
	var targets []string
	for tgt := range b.bindings[name] {
		targets = append(targets, tgt)
	}
	b.mu.Unlock()
	if len(targets) > 0 {
		sort.Strings(targets)
		b.fwd.push(targets, payload)
	}
}

// topicsToResubscribe lists every topic in use, for a reconnect.
func (b *Broker) topicsToResubscribe() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.topics))
	for name := range b.topics {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Close stops every sink and the forwarder and disconnects. Idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var sinks []*sink
	for _, t := range b.topics {
		for s := range t.sinks {
			sinks = append(sinks, s)
		}
	}
	b.topics = map[string]*topic{}
	b.bindings = map[string]map[string]bool{}
	b.mu.Unlock()
	for _, s := range sinks {
		s.stop()
	}
	b.fwd.stop()
	return b.conn.Close()
}

type delivery struct {
	queue string
	data  []byte
}

func (d *delivery) Queue() string { return d.queue }
func (d *delivery) Data() []byte  { return d.data }

// Ack is a no-op: MQTT acknowledges at the protocol level.
func (d *delivery) Ack() error { return nil }

// Nack is a no-op: MQTT has no negative acknowledgement or dead letters.
func (d *delivery) Nack() error { return nil }
