// Package amqp is the RabbitMQ transport, with msgflo-nodejs's topology:
// an inport is a durable queue ROLE.PORT with dead-letter exchange
// dead-ROLE.PORT, plus a fanout exchange of the same name bound to it; an
// outport is a durable fanout exchange ROLE.PORT; an edge binds the target
// queue to the source exchange. Discovery: see discovery.go.
//
// The connection heals itself: when it drops, Broker reconnects with backoff
// (to the next node, when given several URLs) and re-declares what it
// declared, re-binds what it bound and restarts its consumers and taps.
// Messages are published persistent and confirmed, so a publish that
// returned nil is in the broker; one whose confirm was lost with the
// connection is published again on the next.
package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
)

// Options configure Dial.
type Options struct {
	// ConnectTimeout bounds the first connection (default 10 s).
	ConnectTimeout time.Duration
	// DiscoveryQueue defaults to network.DiscoveryQueue ("fbp"); tests
	// sharing a broker use their own. The discovery exchange is named
	// after it: DiscoveryQueue + ".discovery" ("fbp.discovery").
	DiscoveryQueue string
	// Prefetch is the default prefetch of consumers (default 10).
	Prefetch int
	// Backoff bounds the delay between reconnection attempts (default
	// 100 ms doubling up to 5 s).
	BackoffMin, BackoffMax time.Duration
	// TLSConfig is the TLS configuration of amqps:// connections (default:
	// the system's roots, which SSL_CERT_FILE and SSL_CERT_DIR can set).
	TLSConfig *tls.Config
	// QueueType is the type of the durable queues declared (inports and
	// the discovery queue): QueueTypeClassic (default) or QueueTypeQuorum.
	// Non-persistent inports are always classic (a quorum queue cannot be
	// auto-deleted).
	QueueType string
	Logger    zerolog.Logger
}

// Queue types (RabbitMQ's x-queue-type).
const (
	// QueueTypeClassic queues live on one node of a cluster: while that
	// node is down, their messages are out of reach.
	QueueTypeClassic = "classic"
	// QueueTypeQuorum queues are replicated to the nodes of a cluster and
	// go on while a majority of them is up.
	QueueTypeQuorum = "quorum"
)

// CheckQueueType checks a --queue-type value ("" is QueueTypeClassic).
func CheckQueueType(t string) error {
	switch t {
	case "", QueueTypeClassic, QueueTypeQuorum:
		return nil
	}
	return fmt.Errorf("queue type %q is not %s or %s", t, QueueTypeClassic, QueueTypeQuorum)
}

// Broker is a self-healing connection to RabbitMQ implementing
// network.Broker.
type Broker struct {
	url  string   // as given: one URL or a comma-separated list
	urls []string // the nodes, tried in order
	opts Options
	log  zerolog.Logger

	mu        sync.Mutex
	conn      *amqp.Connection
	node      int           // index in urls of conn's node (the last one while reconnecting)
	up        chan struct{} // closed while conn is usable
	down      chan struct{} // closed once conn is lost
	closed    bool
	inports   map[string]network.QueueOptions
	outports  map[string]network.QueueOptions
	bindings  map[[2]string]bool
	listeners []func(connected bool)

	topoMu sync.Mutex // serialises use of topo
	topo   *amqp.Channel
	pubMu  sync.Mutex    // guards pub and tpub
	pub    *amqp.Channel // in confirm mode
	tpub   *amqp.Channel // transient publishes, no confirms

	done chan struct{}
	wg   sync.WaitGroup
	seq  atomic.Uint64
}

var (
	_ network.Broker             = (*Broker)(nil)
	_ network.AsyncPublisher     = (*Broker)(nil)
	_ network.TransientPublisher = (*Broker)(nil)
)

// Dial connects to amqp:// or amqps:// rawURL, or to the first that
// answers of a comma-separated list of them (the nodes of a cluster). The
// first connection must succeed; later drops are healed in the background,
// on the next node of the list that answers.
func Dial(ctx context.Context, rawURL string, opts Options) (*Broker, error) {
	urls := network.SplitURLs(rawURL)
	if len(urls) == 0 {
		return nil, errors.New("no broker URL")
	}
	for _, one := range urls {
		u, err := url.Parse(one)
		if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") {
			return nil, fmt.Errorf("broker URL %q is not amqp:// or amqps://", network.RedactURL(one))
		}
	}
	if err := CheckQueueType(opts.QueueType); err != nil {
		return nil, err
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.DiscoveryQueue == "" {
		opts.DiscoveryQueue = network.DiscoveryQueue
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 10
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = 100 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 5 * time.Second
	}
	b := &Broker{
		url: rawURL, urls: urls, opts: opts, log: opts.Logger,
		up:       make(chan struct{}),
		inports:  map[string]network.QueueOptions{},
		outports: map[string]network.QueueOptions{},
		bindings: map[[2]string]bool{},
		done:     make(chan struct{}),
	}
	conn, node, err := b.dial(ctx, 0)
	if err != nil {
		return nil, err
	}
	b.setConn(conn, node)
	b.wg.Add(1)
	go b.supervise(conn)
	return b, nil
}

// dial connects to the first node that answers, trying them in order from
// urls[start] on.
func (b *Broker) dial(ctx context.Context, start int) (*amqp.Connection, int, error) {
	var errs []error
	for i := range b.urls {
		node := (start + i) % len(b.urls)
		conn, err := b.dialNode(ctx, b.urls[node])
		if err == nil {
			return conn, node, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, 0, errors.Join(errs...)
}

func (b *Broker) dialNode(ctx context.Context, rawURL string) (*amqp.Connection, error) {
	timeout := b.opts.ConnectTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	conn, err := amqp.DialConfig(rawURL, amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Dial:      amqp.DefaultDial(timeout),
		Properties: amqp.Table{
			"connection_name": "msgflo-runtime",
		},
		TLSClientConfig: b.opts.TLSConfig,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", network.RedactURL(rawURL), err)
	}
	return conn, nil
}

// ConnectedURL implements network.NodeReporter: the URL of the node in use
// (while reconnecting, of the one whose connection was lost).
func (b *Broker) ConnectedURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.urls[b.node]
}

func (b *Broker) setConn(conn *amqp.Connection, node int) {
	b.mu.Lock()
	b.conn = conn
	b.node = node
	b.down = make(chan struct{})
	close(b.up)
	listeners := append([]func(bool){}, b.listeners...)
	b.mu.Unlock()
	for _, l := range listeners {
		l(true)
	}
}

// OnConnection registers f to be told when the connection goes down
// (false) and comes back (true).
func (b *Broker) OnConnection(f func(connected bool)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.listeners = append(b.listeners, f)
}

// supervise waits for the connection to drop, then reconnects and restores
// what this Broker had set up, until Close.
func (b *Broker) supervise(conn *amqp.Connection) {
	defer b.wg.Done()
	for {
		lost := conn.NotifyClose(make(chan *amqp.Error, 1))
		select {
		case <-b.done:
			return
		case err := <-lost:
			b.mu.Lock()
			if b.closed {
				b.mu.Unlock()
				return
			}
			b.conn = nil
			b.up = make(chan struct{})
			close(b.down)
			listeners := append([]func(bool){}, b.listeners...)
			lostNode := b.urls[b.node]
			b.mu.Unlock()
			b.log.Warn().Str("broker", network.RedactURL(lostNode)).Str("error", fmt.Sprint(err)).Msg("broker connection lost; reconnecting")
			for _, l := range listeners {
				l(false)
			}
		}
		b.resetChannels()
		delay := b.opts.BackoffMin
		// The lost node is tried last: with a cluster, go on to the next.
		b.mu.Lock()
		start := b.node + 1
		b.mu.Unlock()
		var node int
		for {
			select {
			case <-b.done:
				return
			case <-time.After(delay):
			}
			next, at, err := b.dial(context.Background(), start)
			if err == nil {
				if err = b.restore(next); err != nil {
					_ = next.Close()
					if errors.Is(err, errQueueType) {
						// Not healed by retrying soon: say so at once.
						b.log.Error().Err(err).Msg("cannot restore the topology")
					}
				}
			}
			if err == nil {
				conn, node = next, at
				break
			}
			b.log.Debug().Err(err).Dur("retry_in", delay).Msg("reconnect failed")
			delay = min(delay*2, b.opts.BackoffMax)
		}
		b.setConn(conn, node)
		b.log.Info().Str("broker", network.RedactURL(b.urls[node])).Msg("broker connection restored")
	}
}

// restore re-declares queues and exchanges and re-binds, on conn.
func (b *Broker) restore(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	b.mu.Lock()
	inports := cloneMap(b.inports)
	outports := cloneMap(b.outports)
	bindings := make([][2]string, 0, len(b.bindings))
	for k := range b.bindings {
		bindings = append(bindings, k)
	}
	b.mu.Unlock()
	for q, o := range outports {
		if err := declareOutport(ch, q, o); err != nil {
			return err
		}
	}
	for q, o := range inports {
		if err := b.declareInport(ch, q, o); err != nil {
			return err
		}
	}
	for _, bd := range bindings {
		if err := ch.QueueBind(bd[1], "", bd[0], false, nil); err != nil {
			return fmt.Errorf("restore binding %s -> %s: %w", bd[0], bd[1], err)
		}
	}
	return nil
}

func cloneMap(m map[string]network.QueueOptions) map[string]network.QueueOptions {
	out := make(map[string]network.QueueOptions, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (b *Broker) resetChannels() {
	b.topoMu.Lock()
	b.topo = nil
	b.topoMu.Unlock()
	b.pubMu.Lock()
	b.pub, b.tpub = nil, nil
	b.pubMu.Unlock()
}

// connection waits until the broker is connected; down is closed when that
// connection is lost.
func (b *Broker) connection(ctx context.Context) (conn *amqp.Connection, down chan struct{}, err error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, nil, network.ErrClosed
		}
		conn, up, down := b.conn, b.up, b.down
		b.mu.Unlock()
		if conn != nil {
			return conn, down, nil
		}
		select {
		case <-up:
		case <-b.done:
			return nil, nil, network.ErrClosed
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("waiting for the broker connection: %w", ctx.Err())
		}
	}
}

// retry runs op until it succeeds, fails for a reason other than a lost
// connection, or ctx ends. A lost connection is waited out: the operation
// runs again on the next one.
func (b *Broker) retry(ctx context.Context, op func(conn *amqp.Connection) error) error {
	for attempt := 0; ; attempt++ {
		conn, down, err := b.connection(ctx)
		if err != nil {
			return err
		}
		err = op(conn)
		if err == nil || !connectionLost(err) {
			return err
		}
		if !conn.IsClosed() {
			// Only a channel died (the next attempt opens a new one).
			if attempt < 3 {
				continue
			}
			return err
		}
		select {
		case <-down:
		case <-ctx.Done():
			return err
		case <-b.done:
			return network.ErrClosed
		}
	}
}

func connectionLost(err error) bool {
	if errors.Is(err, amqp.ErrClosed) {
		return true
	}
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return !ae.Server || ae.Code == amqp.ConnectionForced
	}
	return false
}

// withTopo runs op on the topology channel, reopening it when a previous
// error closed it.
func (b *Broker) withTopo(ctx context.Context, op func(ch *amqp.Channel) error) error {
	return b.retry(ctx, func(conn *amqp.Connection) error {
		b.topoMu.Lock()
		defer b.topoMu.Unlock()
		if b.topo == nil || b.topo.IsClosed() {
			ch, err := conn.Channel()
			if err != nil {
				return err
			}
			b.topo = ch
		}
		return op(b.topo)
	})
}

// errQueueType marks the error of a queue that exists with another type
// than Options.QueueType.
var errQueueType = errors.New("the queue exists with another type")

// durableQueueArgs adds x-queue-type to the arguments of a durable queue
// when it is not to be classic (classic queues are declared without it, as
// msgflo does, so that the queues msgflo declared are still equivalent).
func (b *Broker) durableQueueArgs(args amqp.Table) amqp.Table {
	if b.opts.QueueType == QueueTypeQuorum {
		if args == nil {
			args = amqp.Table{}
		}
		args["x-queue-type"] = QueueTypeQuorum
	}
	return args
}

// declareQueue declares a queue, naming the queue and the setting in the
// error RabbitMQ gives when the queue exists with another type.
func (b *Broker) declareQueue(ch *amqp.Channel, queue string, durable, autoDelete bool, args amqp.Table) error {
	if durable {
		args = b.durableQueueArgs(args)
	}
	_, err := ch.QueueDeclare(queue, durable, autoDelete, false, false, args)
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed && strings.Contains(ae.Reason, "x-queue-type") {
		want := b.opts.QueueType
		if want == "" {
			want = QueueTypeClassic
		}
		return fmt.Errorf("declare queue %s: %w: --queue-type (MSGFLO_QUEUE_TYPE) is %s; delete the queue or use the type it has (RabbitMQ: %s)", queue, errQueueType, want, ae.Reason)
	}
	if err != nil {
		return fmt.Errorf("declare queue %s: %w", queue, err)
	}
	return nil
}

func (b *Broker) declareInport(ch *amqp.Channel, queue string, o network.QueueOptions) error {
	durable, autoDelete := !o.NonPersistent, o.NonPersistent
	if err := b.declareQueue(ch, queue, durable, autoDelete, amqp.Table{"x-dead-letter-exchange": "dead-" + queue}); err != nil {
		return err
	}
	// As msgflo-nodejs: an exchange of the same name, so that an inport
	// can also be published to as if it were an outport.
	if err := ch.ExchangeDeclare(queue, "fanout", durable, autoDelete, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", queue, err)
	}
	if err := ch.QueueBind(queue, "", queue, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to its exchange: %w", queue, err)
	}
	return nil
}

func declareOutport(ch *amqp.Channel, exchange string, o network.QueueOptions) error {
	if err := ch.ExchangeDeclare(exchange, "fanout", !o.NonPersistent, o.NonPersistent, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", exchange, err)
	}
	return nil
}

// URL implements network.Broker.
func (b *Broker) URL() string { return b.url }

// DeclareInport implements network.Broker.
func (b *Broker) DeclareInport(ctx context.Context, queue string, o network.QueueOptions) error {
	if err := b.withTopo(ctx, func(ch *amqp.Channel) error { return b.declareInport(ch, queue, o) }); err != nil {
		return err
	}
	b.mu.Lock()
	b.inports[queue] = o
	b.mu.Unlock()
	return nil
}

// DeclareOutport implements network.Broker.
func (b *Broker) DeclareOutport(ctx context.Context, exchange string, o network.QueueOptions) error {
	if err := b.withTopo(ctx, func(ch *amqp.Channel) error { return declareOutport(ch, exchange, o) }); err != nil {
		return err
	}
	b.mu.Lock()
	b.outports[exchange] = o
	b.mu.Unlock()
	return nil
}

// Bind implements network.Broker: the target queue is bound to the source
// exchange (AMQP makes a repeated binding a no-op).
func (b *Broker) Bind(ctx context.Context, src, tgt string) error {
	err := b.withTopo(ctx, func(ch *amqp.Channel) error {
		if err := ch.QueueBind(tgt, "", src, false, nil); err != nil {
			return fmt.Errorf("bind %s -> %s: %w", src, tgt, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.bindings[[2]string{src, tgt}] = true
	b.mu.Unlock()
	return nil
}

// Unbind implements network.Broker.
func (b *Broker) Unbind(ctx context.Context, src, tgt string) error {
	b.mu.Lock()
	delete(b.bindings, [2]string{src, tgt})
	b.mu.Unlock()
	return b.withTopo(ctx, func(ch *amqp.Channel) error {
		if err := ch.QueueUnbind(tgt, "", src, nil); err != nil {
			var ae *amqp.Error
			if errors.As(err, &ae) && ae.Code == amqp.NotFound {
				return nil // nothing to unbind
			}
			return fmt.Errorf("unbind %s -> %s: %w", src, tgt, err)
		}
		return nil
	})
}

// Delete removes queues and exchanges of the given names (either may be
// missing) and forgets them: they are not restored after a reconnect.
func (b *Broker) Delete(ctx context.Context, names ...string) error {
	b.mu.Lock()
	for _, n := range names {
		delete(b.inports, n)
		delete(b.outports, n)
		for bd := range b.bindings {
			if bd[0] == n || bd[1] == n {
				delete(b.bindings, bd)
			}
		}
	}
	b.mu.Unlock()
	var errs []error
	for _, n := range names {
		for _, op := range []func(ch *amqp.Channel) error{
			func(ch *amqp.Channel) error { _, err := ch.QueueDelete(n, false, false, false); return err },
			func(ch *amqp.Channel) error { return ch.ExchangeDelete(n, false, false) },
		} {
			err := b.withTopo(ctx, op)
			var ae *amqp.Error
			if err != nil && !(errors.As(err, &ae) && ae.Code == amqp.NotFound) {
				errs = append(errs, fmt.Errorf("delete %s: %w", n, err))
			}
		}
	}
	return errors.Join(errs...)
}

// RoundRobin sets up msgflo's round-robin binding: messages on src go
// through a direct exchange out-SRC to the queue tgt, whose consumers share
// them; what they nack goes to dead-TGT, bound to the deadletter queue.
// Either end may be empty, as in msgflo-setup.
func (b *Broker) RoundRobin(ctx context.Context, src, tgt, deadletter string) error {
	return b.withTopo(ctx, func(ch *amqp.Channel) error {
		if src != "" && tgt != "" {
			direct := "out-" + src
			if err := ch.ExchangeDeclare(direct, "direct", true, false, false, false, nil); err != nil {
				return err
			}
			if err := declareOutport(ch, src, network.QueueOptions{}); err != nil {
				return err
			}
			if err := ch.ExchangeBind(direct, "", src, false, nil); err != nil {
				return err
			}
			if err := b.declareInport(ch, tgt, network.QueueOptions{}); err != nil {
				return err
			}
			if err := ch.QueueBind(tgt, "", direct, false, nil); err != nil {
				return err
			}
		}
		if deadletter != "" && tgt != "" {
			dead := "dead-" + tgt
			if err := ch.ExchangeDeclare(dead, "fanout", true, false, false, false, nil); err != nil {
				return err
			}
			if err := b.declareInport(ch, deadletter, network.QueueOptions{}); err != nil {
				return err
			}
			if err := ch.QueueBind(deadletter, "", dead, false, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// Send implements network.Broker: straight to the queue through the
// default exchange.
func (b *Broker) Send(ctx context.Context, queue string, data []byte) error {
	return b.publish(ctx, "", queue, data)
}

// Publish implements network.Broker: to the outport's fanout exchange.
func (b *Broker) Publish(ctx context.Context, exchange string, data []byte) error {
	return b.publish(ctx, exchange, "", data)
}

func (b *Broker) publish(ctx context.Context, exchange, key string, data []byte) error {
	return b.publishHeaders(ctx, exchange, key, data, nil)
}

func (b *Broker) publishHeaders(ctx context.Context, exchange, key string, data []byte, headers amqp.Table) error {
	msg := amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: data, Headers: headers}
	return b.retry(ctx, func(conn *amqp.Connection) error {
		ch, err := b.pubChannel(conn)
		if err != nil {
			return err
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
		if err != nil {
			return err
		}
		select {
		case <-dc.Done():
		case <-ctx.Done():
			return ctx.Err()
		case <-b.done:
			return network.ErrClosed
		}
		if !dc.Acked() {
			if ch.IsClosed() {
				return amqp.ErrClosed // lost with the connection: publish again
			}
			return fmt.Errorf("broker refused message to %s%s", exchange, key)
		}
		return nil
	})
}

// PublishAsync implements network.AsyncPublisher.
func (b *Broker) PublishAsync(ctx context.Context, exchange string, data []byte) (network.Pending, error) {
	msg := amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: data}
	var p *pending
	err := b.retry(ctx, func(conn *amqp.Connection) error {
		ch, err := b.pubChannel(conn)
		if err != nil {
			return err
		}
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, "", false, false, msg)
		if err != nil {
			return err
		}
		p = &pending{b: b, ch: ch, dc: dc, exchange: exchange, data: data}
		return nil
	})
	return p, err
}

type pending struct {
	b        *Broker
	ch       *amqp.Channel
	dc       *amqp.DeferredConfirmation
	exchange string
	data     []byte // published again when the confirm is lost
}

// Wait implements network.Pending. A message whose confirm was lost with
// the connection may or may not be in the broker: it is published again
// (and confirmed) on the next connection, so that it is not lost; the
// receiver may get it twice.
func (p *pending) Wait(ctx context.Context) error {
	select {
	case <-p.dc.Done():
	case <-ctx.Done():
		return ctx.Err()
	case <-p.b.done:
		return network.ErrClosed
	}
	if !p.dc.Acked() {
		if p.ch.IsClosed() {
			p.b.log.Debug().Str("exchange", p.exchange).Msg("confirm lost with the connection; publishing again")
			if err := p.b.publish(ctx, p.exchange, "", p.data); err != nil {
				return fmt.Errorf("publish to %s again after the connection was lost: %w", p.exchange, err)
			}
			return nil
		}
		return fmt.Errorf("broker refused message to %s", p.exchange)
	}
	return nil
}

// PublishTransient implements network.TransientPublisher: a transient
// message on the outport's exchange, on a channel without confirms. It
// returns once the message is handed to the connection.
func (b *Broker) PublishTransient(ctx context.Context, exchange string, data []byte) error {
	msg := amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Transient, Body: data}
	return b.retry(ctx, func(conn *amqp.Connection) error {
		ch, err := b.transientChannel(conn)
		if err != nil {
			return err
		}
		return ch.PublishWithContext(ctx, exchange, "", false, false, msg)
	})
}

func (b *Broker) transientChannel(conn *amqp.Connection) (*amqp.Channel, error) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.tpub != nil && !b.tpub.IsClosed() {
		return b.tpub, nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	b.tpub = ch
	return ch, nil
}

func (b *Broker) pubChannel(conn *amqp.Connection) (*amqp.Channel, error) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.pub != nil && !b.pub.IsClosed() {
		return b.pub, nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, err
	}
	b.pub = ch
	return ch, nil
}

// Close implements network.Broker.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	conn := b.conn
	close(b.done)
	b.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
		if errors.Is(err, amqp.ErrClosed) {
			err = nil
		}
	}
	b.wg.Wait()
	return err
}

func (b *Broker) tag(kind string) string {
	return "msgflo-" + kind + "-" + strconv.FormatUint(b.seq.Add(1), 10)
}
