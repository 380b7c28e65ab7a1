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
//
// Consumers share their inport's messages with the consumers of the same
// topic in other processes, as consumers of a RabbitMQ queue do: a topic
// whose only users in the process are consumers is subscribed as the
// shared subscription $share/msgflo/TOPIC (MQTT 5's, which Mosquitto and
// the embedded broker also give MQTT 3.1.1 clients), so that N processes
// of one role each get a share of its work. A topic the process also taps
// or forwards is subscribed plainly: every message, to every local user.
package mqtt

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
)

// Conn is what the Broker needs from an MQTT connection: the paho client
// over TCP (Dial) or the embedded broker's inline client.
type Conn interface {
	// Publish sends payload on topic (QoS 1) and returns once the broker
	// has it; a connection that can drop publishes again on the next
	// connection, until ctx ends or Close.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe makes the connection hand every message matching filter
	// (a topic, or SharedFilter of one) to deliver, with the message's
	// topic. deliver must not block.
	Subscribe(ctx context.Context, filter string, deliver func(topic string, payload []byte)) error
	// Unsubscribe undoes Subscribe.
	Unsubscribe(ctx context.Context, filter string) error
	// Close disconnects.
	Close() error
}

// SharedConn is implemented by connections to brokers that give shared
// subscriptions (SharedFilter) to the clients of this package. The
// embedded broker's in-process connection does not.
type SharedConn interface {
	SharesSubscriptions() bool
}

// ShareGroup is the group of the shared subscriptions of consumers: every
// consumer of a topic, in any process, is in it.
const ShareGroup = "msgflo"

// SharedFilter is the shared subscription of topic for consumers.
func SharedFilter(topic string) string { return "$share/" + ShareGroup + "/" + topic }

// TopicOf is the topic of a filter made by SharedFilter, or filter itself.
func TopicOf(filter string) string {
	if t, ok := strings.CutPrefix(filter, "$share/"+ShareGroup+"/"); ok {
		return t
	}
	return filter
}

// Broker is a network.Broker over one MQTT connection.
type Broker struct {
	conn   Conn
	url    string
	log    zerolog.Logger
	fwd    *forwarder
	shared bool // consumers subscribe SharedFilter
	// ctx ends at Close: the forwarder's publishes wait on it.
	ctx    context.Context
	cancel context.CancelFunc

	// subMu serialises the changes of the connection's subscriptions, so
	// that each topic's subscription follows the last change of its users.
	subMu sync.Mutex

	mu       sync.Mutex // guards everything below
	closed   bool
	topics   map[string]*topic          // topics in use and their local users
	bindings map[string]map[string]bool // source topic -> target topics
	// stale are the filters an Unsubscribe failed for (the connection was
	// down): a persistent session keeps them at the broker.
	stale map[string]bool
}

// topic is one topic in use and who in the process uses it.
type topic struct {
	sinks  map[*sink]bool
	filter string // the connection's subscription ("" while none)
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
		stale:    map[string]bool{},
	}
	if sc, ok := conn.(SharedConn); ok {
		b.shared = sc.SharesSubscriptions()
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
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

// Consume hands the messages on the inport's topic to handler, in order:
// every one, or, with consumers of the topic in other processes, this
// process's share of them (see the package comment).
func (b *Broker) Consume(ctx context.Context, queue string, _ int, handler network.Handler) (network.Subscription, error) {
	return b.attach(ctx, queue, true, func(topic string, data []byte) {
		handler(&delivery{queue: topic, data: data})
	})
}

// Tap hands a copy of every message on the outport's topic to handler.
func (b *Broker) Tap(ctx context.Context, queue string, handler network.DataHandler) (network.Subscription, error) {
	return b.attach(ctx, queue, false, handler)
}

// TapExchange is Tap: MQTT topics need no declaration.
func (b *Broker) TapExchange(ctx context.Context, queue string, _ network.QueueOptions, handler network.DataHandler) (network.Subscription, error) {
	return b.attach(ctx, queue, false, handler)
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
	return b.attach(ctx, network.DiscoveryQueue, false, handler)
}

// Bind forwards every message on src to tgt from now on.
func (b *Broker) Bind(ctx context.Context, src, tgt string) error {
	b.mu.Lock()
	if err := b.checkOpen(); err != nil || src == tgt || b.bindings[src][tgt] {
		// src == tgt: the broker already delivers messages on a topic to
		// its subscribers; forwarding would loop.
		b.mu.Unlock()
		return err
	}
	if b.bindings[src] == nil {
		b.bindings[src] = map[string]bool{}
	}
	b.bindings[src][tgt] = true
	b.useLocked(src)
	b.mu.Unlock()
	if err := b.syncSubscription(ctx, src); err != nil {
		b.mu.Lock()
		b.unbindLocked(src, tgt)
		b.mu.Unlock()
		_ = b.syncSubscription(context.Background(), src)
		return fmt.Errorf("bind %s -> %s: subscribe: %w", src, tgt, err)
	}
	return nil
}

func (b *Broker) unbindLocked(src, tgt string) {
	delete(b.bindings[src], tgt)
	if len(b.bindings[src]) == 0 {
		delete(b.bindings, src)
	}
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
	b.unbindLocked(src, tgt)
	b.mu.Unlock()
	if err := b.syncSubscription(ctx, src); err != nil {
		return fmt.Errorf("unbind %s -> %s: unsubscribe: %w", src, tgt, err)
	}
	return nil
}

// useLocked makes sure the topic is in b.topics.
func (b *Broker) useLocked(name string) *topic {
	t := b.topics[name]
	if t == nil {
		t = &topic{sinks: map[*sink]bool{}}
		b.topics[name] = t
	}
	return t
}

// filterLocked is the subscription the topic's users in the process need:
// "" when there is none, SharedFilter when all are consumers, else the
// topic itself.
func (b *Broker) filterLocked(name string) string {
	t := b.topics[name]
	if t == nil || b.closed || (len(t.sinks) == 0 && len(b.bindings[name]) == 0) {
		return ""
	}
	if !b.shared || len(b.bindings[name]) > 0 {
		return name
	}
	for s := range t.sinks {
		if !s.consumer {
			return name
		}
	}
	return SharedFilter(name)
}

// syncSubscription makes the connection's subscription of a topic the one
// its users need: it subscribes the new filter before unsubscribing the
// old one (a message may then come twice, never not at all), and forgets
// a topic nobody uses any more.
func (b *Broker) syncSubscription(ctx context.Context, name string) error {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	want, have := b.filterLocked(name), ""
	if t := b.topics[name]; t != nil {
		have = t.filter
		if want == "" && have == "" {
			delete(b.topics, name) // never subscribed
		}
	}
	b.mu.Unlock()
	if want == have {
		return nil
	}
	if want != "" {
		if err := b.conn.Subscribe(ctx, want, b.dispatch); err != nil {
			return err
		}
	}
	b.mu.Lock()
	delete(b.stale, want)
	if t := b.topics[name]; t != nil {
		t.filter = want
		if want == "" {
			delete(b.topics, name)
		}
	}
	b.mu.Unlock()
	if have != "" {
		if err := b.conn.Unsubscribe(ctx, have); err != nil {
			b.mu.Lock()
			b.stale[have] = true
			b.mu.Unlock()
			return err
		}
	}
	return nil
}

// unsubscribeStale runs after a reconnection: it unsubscribes the filters
// an Unsubscribe failed for. A persistent session still has them, and the
// broker would go on delivering their messages to this process, which
// drops them: for a shared filter, a share of the topic's messages that
// the other consumers of the topic never get.
func (b *Broker) unsubscribeStale() {
	b.mu.Lock()
	none := len(b.stale) == 0
	b.mu.Unlock()
	if none {
		return // without waiting for a subscription under way
	}
	b.subMu.Lock()
	defer b.subMu.Unlock()
	b.mu.Lock()
	stale := make([]string, 0, len(b.stale))
	for f := range b.stale {
		stale = append(stale, f)
	}
	b.mu.Unlock()
	sort.Strings(stale)
	for _, f := range stale {
		if err := b.conn.Unsubscribe(b.ctx, f); err != nil {
			b.log.Warn().Err(err).Str("queue", f).Msg("unsubscribing after reconnect failed; trying again on the next one")
			continue
		}
		b.mu.Lock()
		delete(b.stale, f)
		b.mu.Unlock()
	}
}

// attach adds a local sink to a topic, subscribing at the broker when it is
// the topic's first user (or when the subscription must change).
func (b *Broker) attach(ctx context.Context, name string, consumer bool, handler network.DataHandler) (network.Subscription, error) {
	b.mu.Lock()
	if err := b.checkOpen(); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	s := newSink(b, name, consumer, handler)
	b.useLocked(name).sinks[s] = true
	b.mu.Unlock()
	if err := b.syncSubscription(ctx, name); err != nil {
		b.mu.Lock()
		if t := b.topics[name]; t != nil { // Close forgets every topic
			delete(t.sinks, s)
		}
		b.mu.Unlock()
		_ = b.syncSubscription(context.Background(), name)
		s.stop()
		return nil, fmt.Errorf("subscribe to %s: %w", name, err)
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
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil
	}
	if err := b.syncSubscription(context.Background(), s.topic); err != nil {
		return fmt.Errorf("unsubscribe from %s: %w", s.topic, err)
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

// filtersToResubscribe lists every subscription in use, for a reconnect.
func (b *Broker) filtersToResubscribe() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.topics))
	for _, t := range b.topics {
		if t.filter != "" {
			out = append(out, t.filter)
		}
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
	b.cancel()
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
