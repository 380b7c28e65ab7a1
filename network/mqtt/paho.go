package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/backoff"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
)

// Options configure Dial.
type Options struct {
	// ClientID defaults to a random one (the broker must not see two
	// connections with one id). With PersistentSession, a participant
	// gives a stable one (msgflo-ROLE) so that it finds its session again
	// after a restart.
	ClientID string
	// PersistentSession connects with clean-session false: the broker
	// keeps the connection's subscriptions while it is down and queues
	// the QoS 1 messages published to them meanwhile (up to its limits,
	// e.g. mosquitto's max_queued_messages, 1000 by default), and delivers
	// them on reconnection. Close ends the session (a connection with
	// clean-session true), so that a broker does not keep sessions of
	// processes that stopped; a process that dies keeps its session until
	// its client id connects again.
	PersistentSession bool
	// ConnectTimeout bounds the first connection (default 10 s).
	ConnectTimeout time.Duration
	// MaxReconnectInterval bounds the backoff between reconnection
	// attempts (default 5 s; jittered, see internal/backoff).
	MaxReconnectInterval time.Duration
	// NoSharedSubscriptions makes consumers subscribe to their topics
	// plainly, for brokers without shared subscriptions ($share/...):
	// every process then gets every message of a topic. The URL query
	// shared=false sets it too (the URL is what participant processes get).
	NoSharedSubscriptions bool
	// TLSConfig is the TLS configuration of mqtts:// connections (default:
	// the system's roots, which SSL_CERT_FILE and SSL_CERT_DIR can set).
	TLSConfig *tls.Config
	Logger    zerolog.Logger
}

// pahoConn is a Conn over a paho client. It re-subscribes every topic in
// use after a reconnect (clean sessions keep nothing at the broker).
type pahoConn struct {
	client paho.Client
	log    zerolog.Logger
	// endSession, when set, is a clean-session connection of the same
	// client id that Close makes after disconnecting (PersistentSession).
	endSession *paho.ClientOptions
	shared     bool // consumers use shared subscriptions
	// store is paho's store of the connection.
	store *copyingStore
	// delays are the waits before reconnection attempts (paho's own are
	// made negligible: they have no jitter); closing ends a wait.
	delays    *backoff.Backoff
	maxDelay  time.Duration // Options.MaxReconnectInterval
	closing   chan struct{}
	closeOnce sync.Once

	// mu guards the fields below; route holds it while handing a message
	// over, so that Subscribe hands the early messages of a topic over
	// before any later one.
	mu         sync.Mutex
	handlers   map[string]func(string, []byte) // by topic, while a filter of it is subscribed
	filters    map[string]bool                 // the filters subscribed (topics, shared filters)
	subscribed map[string]bool                 // topics this process has subscribed to
	early      map[string][][]byte             // messages of topics not subscribed yet
	earlyLen   int
	warned     bool
	listeners  []func(bool)
	connected  bool
	attempt    string // the server of the last connection attempt
	node       string // the server of the connection in use (or lost last)
}

// ConnectedURL implements network.NodeReporter.
func (c *pahoConn) ConnectedURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node
}

// maxEarly bounds the messages kept for topics nobody in the process has
// subscribed to yet: a persistent session delivers what the broker queued
// for it as soon as it connects, before a restarted participant has
// attached its consumers.
const maxEarly = 10000

// OnConnection implements network.ConnectionWatcher.
func (c *pahoConn) OnConnection(f func(bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listeners = append(c.listeners, f)
}

func (c *pahoConn) notify(up bool) {
	c.mu.Lock()
	if c.connected == up {
		c.mu.Unlock()
		return
	}
	c.connected = up
	ls := append([]func(bool){}, c.listeners...)
	c.mu.Unlock()
	for _, f := range ls {
		f(up)
	}
}

// Dial connects to an MQTT broker: mqtt://[user:password@]host[:port]
// (also tcp://), or over TLS mqtts://[user:password@]host[:port] (also
// ssl://, tls://; port 8883 by default). It reconnects on its own when the
// connection drops. rawURL may be a comma-separated list of such URLs (the
// nodes of a clustered broker): the first that answers is used, and after a
// drop the client goes through the list again.
func Dial(ctx context.Context, rawURL string, opts Options) (*Broker, error) {
	srv, err := parseServers(rawURL, &opts)
	if err != nil {
		return nil, err
	}
	if opts.ClientID == "" {
		opts.ClientID = "msgflo-" + uuid.New()[:18]
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxReconnectInterval <= 0 {
		opts.MaxReconnectInterval = 5 * time.Second
	}
	c := &pahoConn{
		log: opts.Logger, handlers: map[string]func(string, []byte){}, filters: map[string]bool{}, subscribed: map[string]bool{}, early: map[string][][]byte{},
		delays:   backoff.New(min(firstReconnectDelay, opts.MaxReconnectInterval), opts.MaxReconnectInterval),
		maxDelay: opts.MaxReconnectInterval,
		closing:  make(chan struct{}),
		shared:   !opts.NoSharedSubscriptions,
		store:    newCopyingStore(),
	}
	var b *Broker
	c.client = paho.NewClient(srv.apply(c.clientOptions(opts, func() *Broker { return b })))
	if opts.PersistentSession {
		c.endSession = srv.apply(paho.NewClientOptions().
			SetClientID(opts.ClientID).
			SetCleanSession(true).
			SetAutoReconnect(false).
			SetConnectTimeout(endSessionTimeout))
	}
	b = NewBroker(c, rawURL, opts.Logger)
	tok := c.client.Connect()
	if err := wait(ctx, tok, opts.ConnectTimeout); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("connect to %s: %w", strings.Join(srv.hosts, ","), err)
	}
	// Connected: paho may run the on-connect handler of this first
	// connection only now, and listeners must not hear of it as a
	// reconnection ("connection restored" at start).
	c.mu.Lock()
	c.connected = true
	c.node = c.attempt
	c.mu.Unlock()
	return b, nil
}

// servers are the brokers of a URL list, as paho takes them.
type servers struct {
	urls  []string // paho's server URLs, credentials included
	hosts []string // host:port, for errors
	tls   *tls.Config
}

// apply adds the servers (and TLS configuration) to paho's options.
func (s servers) apply(po *paho.ClientOptions) *paho.ClientOptions {
	for _, u := range s.urls {
		po.AddBroker(u)
	}
	if s.tls != nil {
		po.SetTLSConfig(s.tls)
	}
	return po
}

// parseServers checks the URLs of rawURL and turns them into paho's
// servers; a URL's query shared=false sets opts.NoSharedSubscriptions.
func parseServers(rawURL string, opts *Options) (servers, error) {
	var srv servers
	urls := network.SplitURLs(rawURL)
	if len(urls) == 0 {
		return srv, errors.New("no broker URL")
	}
	for _, one := range urls {
		u, err := url.Parse(one)
		if err != nil {
			return srv, network.BrokerURLError(one, err)
		}
		scheme, defaultPort := "tcp", ":1883"
		switch u.Scheme {
		case "mqtt", "tcp":
		case "mqtts", "ssl", "tls":
			scheme, defaultPort = "ssl", ":8883"
			if srv.tls == nil {
				srv.tls = &tls.Config{MinVersion: tls.VersionTLS12}
				if opts.TLSConfig != nil {
					srv.tls = opts.TLSConfig.Clone()
				}
				if srv.tls.ServerName == "" && len(urls) == 1 {
					// With several, the TLS dial takes each one's host.
					srv.tls.ServerName = u.Hostname()
				}
			}
		default:
			return srv, fmt.Errorf("broker URL %q: scheme %q is not MQTT (use mqtt:// or mqtts://)", network.RedactURL(one), u.Scheme)
		}
		if v := u.Query().Get("shared"); v != "" {
			shared, err := strconv.ParseBool(v)
			if err != nil {
				return srv, fmt.Errorf("broker URL %q: shared=%q: want true or false", network.RedactURL(one), v)
			}
			opts.NoSharedSubscriptions = opts.NoSharedSubscriptions || !shared
		}
		host := u.Host
		if u.Port() == "" {
			host += defaultPort
		}
		// paho takes the credentials of each server from its URL.
		srv.urls = append(srv.urls, (&url.URL{Scheme: scheme, Host: host, User: u.User}).String())
		srv.hosts = append(srv.hosts, host)
	}
	return srv, nil
}

// clientOptions are the paho options of the connection (without its
// servers); broker is the Broker over it, once made.
func (c *pahoConn) clientOptions(opts Options, broker func() *Broker) *paho.ClientOptions {
	return paho.NewClientOptions().
		SetClientID(opts.ClientID).
		SetCleanSession(!opts.PersistentSession).
		SetStore(c.store).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(time.Millisecond).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) { c.waitBeforeReconnecting() }).
		SetConnectTimeout(opts.ConnectTimeout).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.route(m.Topic(), m.Payload()) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			opts.Logger.Warn().Err(err).Str("broker", network.RedactURL(c.ConnectedURL())).Msg("MQTT connection lost; reconnecting")
			c.notify(false)
		}).
		SetConnectionAttemptHandler(func(server *url.URL, tc *tls.Config) *tls.Config {
			c.mu.Lock()
			c.attempt = server.String()
			c.mu.Unlock()
			return tc
		}).
		SetOnConnectHandler(func(_ paho.Client) {
			c.mu.Lock()
			c.node = c.attempt
			c.delays.Reset()
			c.mu.Unlock()
			if b := broker(); b != nil {
				c.resubscribe(b.filtersToResubscribe())
				b.unsubscribeStale()
			}
			c.notify(true)
		})
}

// wait waits for a paho token, the context or the timeout.
func wait(ctx context.Context, tok paho.Token, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return errors.New("timed out")
	}
}

const operationTimeout = 30 * time.Second

// firstReconnectDelay is the first wait before reconnecting (then it
// doubles up to Options.MaxReconnectInterval).
const firstReconnectDelay = 100 * time.Millisecond

// waitBeforeReconnecting runs on paho's reconnecting goroutine before each
// attempt: the backoff's delay, or until Close.
func (c *pahoConn) waitBeforeReconnecting() {
	c.mu.Lock()
	delay := c.delays.Next()
	c.mu.Unlock()
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.closing:
	}
}

// endSessionTimeout bounds the connection Close makes to end a persistent
// session.
const endSessionTimeout = 5 * time.Second

func (c *pahoConn) route(topic string, payload []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.handlers[topic]; h != nil {
		h(topic, payload)
		return
	}
	if c.subscribed[topic] {
		return // arrived after Unsubscribe
	}
	// A message the broker kept in the session for a subscription of an
	// earlier run of this participant: kept until this run subscribes.
	if c.earlyLen >= maxEarly {
		if !c.warned {
			c.warned = true
			c.log.Warn().Str("queue", topic).Int("kept", maxEarly).Msg("dropping messages of the session's topics nobody subscribes to")
		}
		return
	}
	c.early[topic] = append(c.early[topic], payload)
	c.earlyLen++
}

// publishOnce publishes with QoS 1 and waits for the broker's
// acknowledgement: the token's completion, and, since paho completes the
// token of a publish it re-sends on a new connection before the broker
// acknowledges it there, the publish's leaving the store.
func (c *pahoConn) publishOnce(ctx context.Context, topic string, payload []byte) error {
	tok := c.client.Publish(topic, 1, false, payload)
	key, put := c.storedAs(tok)
	if err := wait(ctx, tok, operationTimeout); err != nil || put == 0 {
		return err
	}
	return c.store.waitGone(ctx, key, put, c.closing)
}

// storedAs is the key of a publish in paho's store ("o." and its message
// id: paho's outbound key, which it does not export) and the store's
// count when it was put there; 0 when it is not there under that key
// (TestPublishIsFoundInPahoStore pins the key to paho's).
func (c *pahoConn) storedAs(tok paho.Token) (key string, put uint64) {
	pt, ok := tok.(*paho.PublishToken)
	if !ok || pt.MessageID() == 0 {
		return "", 0
	}
	key = "o." + strconv.Itoa(int(pt.MessageID()))
	return key, c.store.stored(key)
}

// Publish publishes with QoS 1 until the broker acknowledges it. When the
// connection drops under a publish, paho keeps the message in its store
// and sends it again on the next connection, but may already have failed
// the publish: it is then published again after a delay (with backoff),
// until ctx ends or Close; the receiver may get it twice, never not at all.
func (c *pahoConn) Publish(ctx context.Context, topic string, payload []byte) error {
	var delays *backoff.Backoff
	for {
		err := c.publishOnce(ctx, topic, payload)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if delays == nil {
			delays = backoff.New(firstReconnectDelay, c.maxDelay)
		}
		delay := delays.Next()
		c.log.Debug().Err(err).Str("queue", topic).Dur("retry_in", delay).Msg("publish failed; publishing again")
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		case <-c.closing:
			t.Stop()
			return err
		}
	}
}

// SharesSubscriptions implements SharedConn: Mosquitto gives MQTT 3.1.1
// clients shared subscriptions too (as do the embedded broker's TCP
// listener and most brokers of MQTT 5).
func (c *pahoConn) SharesSubscriptions() bool { return c.shared }

func (c *pahoConn) Subscribe(ctx context.Context, filter string, deliver func(string, []byte)) error {
	topic := TopicOf(filter)
	c.mu.Lock()
	c.handlers[topic] = deliver
	c.filters[filter] = true
	c.subscribed[topic] = true
	for _, payload := range c.early[topic] {
		deliver(topic, payload)
	}
	c.earlyLen -= len(c.early[topic])
	delete(c.early, topic)
	c.mu.Unlock()
	tok := c.client.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { c.route(m.Topic(), m.Payload()) })
	if err := subscribed(ctx, tok, filter); err != nil {
		c.mu.Lock()
		c.forgetLocked(filter)
		c.mu.Unlock()
		return err
	}
	return nil
}

func (c *pahoConn) Unsubscribe(ctx context.Context, filter string) error {
	c.mu.Lock()
	c.forgetLocked(filter)
	c.mu.Unlock()
	return wait(ctx, c.client.Unsubscribe(filter), operationTimeout)
}

// subscribed waits for a subscription's SUBACK and fails when the broker
// refused the filter (return code 0x80: not authorised, or no shared
// subscriptions), which paho's token does not count as an error.
func subscribed(ctx context.Context, tok paho.Token, filter string) error {
	if err := wait(ctx, tok, operationTimeout); err != nil {
		return err
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		// One filter per token; paho keys its result by the filter
		// without its $share/GROUP/ prefix.
		for _, code := range st.Result() {
			if code < 0x80 {
				continue
			}
			err := fmt.Errorf("the broker refused the subscription to %s (return code %#x)", filter, code)
			if TopicOf(filter) != filter {
				err = fmt.Errorf("%w; for a broker without shared subscriptions, add ?shared=false to its URL", err)
			}
			return err
		}
	}
	return nil
}

// forgetLocked drops a filter, and the topic's handler once no filter of
// the topic is subscribed.
func (c *pahoConn) forgetLocked(filter string) {
	delete(c.filters, filter)
	topic := TopicOf(filter)
	if !c.filters[topic] && !c.filters[SharedFilter(topic)] {
		delete(c.handlers, topic)
	}
}

// resubscribe runs after every (re)connection.
func (c *pahoConn) resubscribe(filters []string) {
	for _, f := range filters {
		tok := c.client.Subscribe(f, 1, func(_ paho.Client, m paho.Message) { c.route(m.Topic(), m.Payload()) })
		if err := subscribed(context.Background(), tok, f); err != nil {
			c.log.Error().Err(err).Str("queue", f).Msg("re-subscribe after reconnect failed")
		}
	}
	if len(filters) > 0 {
		c.log.Info().Int("topics", len(filters)).Msg("MQTT connection (re)established; subscriptions restored")
	}
}

// Close disconnects and, for a persistent session, ends it: the broker
// forgets the subscriptions and the messages queued for them.
func (c *pahoConn) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	c.client.Disconnect(250)
	if c.endSession == nil {
		return nil
	}
	end := paho.NewClient(c.endSession)
	if err := wait(context.Background(), end.Connect(), endSessionTimeout); err != nil {
		return fmt.Errorf("end the MQTT session: %w", err)
	}
	end.Disconnect(250)
	return nil
}
