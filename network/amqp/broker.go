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
// connection is published again on the next, and one the broker refused
// (a quorum queue electing its leader) is published again after a delay.
package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/backoff"
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
	// 100 ms doubling up to 5 s, jittered: see internal/backoff).
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

// topology is what a Broker and its splits declared and bound: restored
// after a reconnect, and made again by a consumer before it consumes.
type topology struct {
	mu       sync.Mutex // guards the maps, and the splits' ownPorts
	inports  map[string]network.QueueOptions
	outports map[string]network.QueueOptions
	bindings map[[2]string]bool
}

func newTopology() *topology {
	return &topology{
		inports:  map[string]network.QueueOptions{},
		outports: map[string]network.QueueOptions{},
		bindings: map[[2]string]bool{},
	}
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
	listeners []func(connected bool)

	// decl is shared with the splits of the Broker Dial made (see Split).
	decl *topology
	// split is set on a Broker that Split made: its own outports
	// (guarded by decl.mu) are what it restores after a reconnect.
	split    bool
	ownPorts map[string]bool

	topoMu sync.Mutex // serialises use of topo
	topo   *amqp.Channel
	pubMu  sync.Mutex                     // guards pub and tpub
	pub    [publishChannels]*amqp.Channel // in confirm mode
	tpub   [publishChannels]*amqp.Channel // transient publishes, no confirms

	done chan struct{}
	wg   sync.WaitGroup
	seq  atomic.Uint64

	// closing ends with Close: it ends a reconnection under way.
	closing     context.Context
	stopClosing context.CancelFunc
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
	b := &Broker{url: rawURL, urls: urls, opts: opts, log: opts.Logger, decl: newTopology()}
	if err := b.start(ctx, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// start makes the first connection, trying the nodes from urls[node] on,
// and heals it in the background.
func (b *Broker) start(ctx context.Context, node int) error {
	b.up = make(chan struct{})
	b.done = make(chan struct{})
	conn, node, err := b.dial(ctx, node)
	if err != nil {
		return err
	}
	b.closing, b.stopClosing = context.WithCancel(context.Background())
	b.setConn(conn, node)
	b.wg.Add(1)
	go b.supervise(conn)
	return nil
}

// Split opens another connection to the broker, for one user of the
// Broker that publishes and consumes much (an in-process participant):
// RabbitMQ reads each connection in a process of its own and throttles it
// as a whole (flow control), so users sharing one connection wait for each
// other. The split shares what b declared and bound (a consumer of the
// split binds its queue again to the sources bound on b after a
// reconnect, and the other way round); after a reconnect it restores only
// the outports it declared itself, b restores everything. It has no
// connection listeners of its own. Close it when its user is done; closing
// b does not close it.
func (b *Broker) Split(ctx context.Context) (network.Broker, error) {
	b.mu.Lock()
	node := b.node
	b.mu.Unlock()
	return b.splitTo(ctx, b.url, b.urls, node)
}

// splitTo is Split to the nodes urls (the tests': through a proxy).
func (b *Broker) splitTo(ctx context.Context, url string, urls []string, node int) (*Broker, error) {
	s := &Broker{url: url, urls: urls, opts: b.opts, log: b.log, decl: b.decl, split: true, ownPorts: map[string]bool{}}
	if err := s.start(ctx, node); err != nil {
		return nil, err
	}
	return s, nil
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
	var stop func() bool
	conn, err := amqp.DialConfig(rawURL, amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := batchDial(ctx, timeout, network, addr)
			if err == nil {
				// ctx ends the handshakes (TLS, AMQP) too.
				stop = context.AfterFunc(ctx, func() { _ = c.Close() })
			}
			return c, err
		},
		Properties: amqp.Table{
			"connection_name": "msgflo-runtime",
		},
		TLSClientConfig: b.opts.TLSConfig,
	})
	if stop != nil && !stop() && err == nil {
		// ctx ended as the handshake did, and closed the connection.
		_ = conn.Close()
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", network.RedactURL(rawURL), err)
	}
	return conn, nil
}

// batchDial dials as amqp091 does (amqp.DefaultDial), until ctx ends,
// and gathers the connection's writes (batchConn).
func batchDial(ctx context.Context, timeout time.Duration, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	// The deadline of the TLS and AMQP handshakes; amqp091 clears it once
	// the connection is open.
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return newBatchConn(c), nil
}

// ConnectedURL implements network.NodeReporter: the URL of the node in use
// (while reconnecting, of the one whose connection was lost).
func (b *Broker) ConnectedURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.urls[b.node]
}

// setConn makes conn the connection in use; it reports false, and does
// nothing, once b is closed.
func (b *Broker) setConn(conn *amqp.Connection, node int) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.conn = conn
	b.node = node
	b.down = make(chan struct{})
	close(b.up)
	listeners := append([]func(bool){}, b.listeners...)
	b.mu.Unlock()
	for _, l := range listeners {
		l(true)
	}
	return true
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
		delays := backoff.New(b.opts.BackoffMin, b.opts.BackoffMax)
		// The lost node is tried last: with a cluster, go on to the next.
		b.mu.Lock()
		start := b.node + 1
		b.mu.Unlock()
		var node int
		for {
			delay := delays.Next()
			select {
			case <-b.done:
				return
			case <-time.After(delay):
			}
			next, at, err := b.dial(b.closing, start)
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
			b.log.Debug().Err(err).Msg("reconnect failed")
		}
		if !b.setConn(conn, node) {
			// Closed while reconnecting: Close did not see this one.
			_ = conn.Close()
			return
		}
		b.log.Info().Str("broker", network.RedactURL(b.urls[node])).Msg("broker connection restored")
	}
}

// restore re-declares queues and exchanges and re-binds, on conn (a
// split: only the outports it declared).
func (b *Broker) restore(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if b.split {
		return b.restoreOwn(ch)
	}
	b.decl.mu.Lock()
	inports := cloneMap(b.decl.inports)
	outports := cloneMap(b.decl.outports)
	bindings := make([][2]string, 0, len(b.decl.bindings))
	for k := range b.decl.bindings {
		bindings = append(bindings, k)
	}
	b.decl.mu.Unlock()
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

// restoreOwn re-declares the outports a split declared. Their bindings
// are the consumers' of the queues bound (they bind again before they
// consume again) and the Broker's the split was made from.
func (b *Broker) restoreOwn(ch *amqp.Channel) error {
	b.decl.mu.Lock()
	outports := map[string]network.QueueOptions{}
	for q := range b.ownPorts {
		if o, ok := b.decl.outports[q]; ok {
			outports[q] = o
		}
	}
	b.decl.mu.Unlock()
	for q, o := range outports {
		if err := declareOutport(ch, q, o); err != nil {
			return err
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
	b.pub, b.tpub = [publishChannels]*amqp.Channel{}, [publishChannels]*amqp.Channel{}
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
	b.decl.mu.Lock()
	b.decl.inports[queue] = o
	b.decl.mu.Unlock()
	return nil
}

// DeclareOutport implements network.Broker.
func (b *Broker) DeclareOutport(ctx context.Context, exchange string, o network.QueueOptions) error {
	if err := b.withTopo(ctx, func(ch *amqp.Channel) error { return declareOutport(ch, exchange, o) }); err != nil {
		return err
	}
	b.decl.mu.Lock()
	b.decl.outports[exchange] = o
	if b.split {
		b.ownPorts[exchange] = true
	}
	b.decl.mu.Unlock()
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
	b.decl.mu.Lock()
	b.decl.bindings[[2]string{src, tgt}] = true
	b.decl.mu.Unlock()
	return nil
}

// Unbind implements network.Broker.
func (b *Broker) Unbind(ctx context.Context, src, tgt string) error {
	b.decl.mu.Lock()
	delete(b.decl.bindings, [2]string{src, tgt})
	b.decl.mu.Unlock()
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
	b.decl.mu.Lock()
	for _, n := range names {
		delete(b.decl.inports, n)
		delete(b.decl.outports, n)
		delete(b.ownPorts, n)
		for bd := range b.decl.bindings {
			if bd[0] == n || bd[1] == n {
				delete(b.decl.bindings, bd)
			}
		}
	}
	b.decl.mu.Unlock()
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

// publishHeaders publishes a persistent message and waits for its
// confirm. A message the broker refuses (basic.nack: a quorum queue
// electing its leader, a queue refusing publishes) is published again
// after a delay, with backoff, until it is confirmed or ctx ends; one whose
// confirm was lost with the connection is published again on the next.
func (b *Broker) publishHeaders(ctx context.Context, exchange, key string, data []byte, headers amqp.Table) error {
	return b.publishConfirmed(ctx, exchange, key, data, headers, backoff.New(b.opts.BackoffMin, b.opts.BackoffMax))
}

func (b *Broker) publishConfirmed(ctx context.Context, exchange, key string, data []byte, headers amqp.Table, delays *backoff.Backoff) error {
	msg := amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: data, Headers: headers}
	for {
		err := b.retry(ctx, func(conn *amqp.Connection) error {
			ch, err := b.pubChannel(conn, exchange, key)
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
				return errRefused
			}
			return nil
		})
		if !errors.Is(err, errRefused) {
			return err
		}
		if err := b.waitAfterRefusal(ctx, delays, exchange+key); err != nil {
			return err
		}
	}
}

// errRefused is a publish the broker refused (basic.nack).
var errRefused = errors.New("broker refused the message")

// waitAfterRefusal waits the next delay before a refused message is
// published again; it fails when ctx ends or the Broker is closed first.
func (b *Broker) waitAfterRefusal(ctx context.Context, delays *backoff.Backoff, dest string) error {
	delay := delays.Next()
	b.log.Debug().Str("queue", dest).Dur("retry_in", delay).Msg("broker refused a message; publishing it again")
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker refused message to %s: %w", dest, ctx.Err())
	case <-b.done:
		return network.ErrClosed
	}
}

// PublishAsync implements network.AsyncPublisher.
func (b *Broker) PublishAsync(ctx context.Context, exchange string, data []byte) (network.Pending, error) {
	msg := amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: data}
	var p *pending
	err := b.retry(ctx, func(conn *amqp.Connection) error {
		ch, err := b.pubChannel(conn, exchange, "")
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

// Done is closed once the broker has confirmed or refused the message (or
// the connection is lost): Wait then returns without waiting for the
// broker, unless the message is to be published again.
func (p *pending) Done() <-chan struct{} { return p.dc.Done() }

// Wait implements network.Pending. A message whose confirm was lost with
// the connection may or may not be in the broker: it is published again
// (and confirmed) on the next connection, so that it is not lost; the
// receiver may get it twice. A message the broker refused is published
// again after a delay, with backoff, until it is confirmed or ctx ends.
func (p *pending) Wait(ctx context.Context) error {
	select {
	case <-p.dc.Done():
	case <-ctx.Done():
		return ctx.Err()
	case <-p.b.done:
		return network.ErrClosed
	}
	if p.dc.Acked() {
		return nil
	}
	delays := backoff.New(p.b.opts.BackoffMin, p.b.opts.BackoffMax)
	if p.ch.IsClosed() {
		p.b.log.Debug().Str("exchange", p.exchange).Msg("confirm lost with the connection; publishing again")
	} else if err := p.b.waitAfterRefusal(ctx, delays, p.exchange); err != nil {
		return err
	}
	if err := p.b.publishConfirmed(ctx, p.exchange, "", p.data, nil, delays); err != nil {
		return fmt.Errorf("publish to %s again: %w", p.exchange, err)
	}
	return nil
}

// PublishTransient implements network.TransientPublisher: a transient
// message on the outport's exchange, on a channel without confirms. It
// returns once the message is handed to the connection.
func (b *Broker) PublishTransient(ctx context.Context, exchange string, data []byte) error {
	msg := amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Transient, Body: data}
	return b.retry(ctx, func(conn *amqp.Connection) error {
		ch, err := b.transientChannel(conn, exchange)
		if err != nil {
			return err
		}
		return ch.PublishWithContext(ctx, exchange, "", false, false, msg)
	})
}

// publishChannels is how many channels publish (of each kind): the
// publishes to one exchange (queue) always go through the same one, in
// order, and RabbitMQ handles the channels in parallel (one channel for
// every participant of a runtime held them all up behind each other).
const publishChannels = 8

// publishSlot is the channel of publishes to exchange (or, through the
// default exchange, to queue key).
func publishSlot(exchange, key string) int {
	// FNV-1a, without allocating on every publish.
	h := uint32(2166136261)
	for _, s := range [2]string{exchange, key} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint32(s[i])) * 16777619
		}
	}
	return int(h % publishChannels)
}

func (b *Broker) transientChannel(conn *amqp.Connection, exchange string) (*amqp.Channel, error) {
	return b.publishChannel(conn, &b.tpub[publishSlot(exchange, "")], false)
}

func (b *Broker) pubChannel(conn *amqp.Connection, exchange, key string) (*amqp.Channel, error) {
	return b.publishChannel(conn, &b.pub[publishSlot(exchange, key)], true)
}

// publishChannel returns *slot, opening it (in confirm mode when confirm)
// when it is closed.
func (b *Broker) publishChannel(conn *amqp.Connection, slot **amqp.Channel, confirm bool) (*amqp.Channel, error) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if *slot != nil && !(*slot).IsClosed() {
		return *slot, nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if confirm {
		if err := ch.Confirm(false); err != nil {
			ch.Close()
			return nil, err
		}
	}
	*slot = ch
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
	b.stopClosing()
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
