package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

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
	// attempts (default 5 s).
	MaxReconnectInterval time.Duration
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

	// mu guards the fields below; route holds it while handing a message
	// over, so that Subscribe hands the early messages of a topic over
	// before any later one.
	mu         sync.Mutex
	handlers   map[string]func(string, []byte)
	subscribed map[string]bool     // topics this process has subscribed to
	early      map[string][][]byte // messages of topics not subscribed yet
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
	urls := network.SplitURLs(rawURL)
	if len(urls) == 0 {
		return nil, errors.New("no broker URL")
	}
	var servers, hosts []string
	var tlsConfig *tls.Config
	for _, one := range urls {
		u, err := url.Parse(one)
		if err != nil {
			return nil, fmt.Errorf("broker URL %q: %w", network.RedactURL(one), err)
		}
		scheme, defaultPort := "tcp", ":1883"
		switch u.Scheme {
		case "mqtt", "tcp":
		case "mqtts", "ssl", "tls":
			scheme, defaultPort = "ssl", ":8883"
			if tlsConfig == nil {
				tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
				if opts.TLSConfig != nil {
					tlsConfig = opts.TLSConfig.Clone()
				}
				if tlsConfig.ServerName == "" && len(urls) == 1 {
					// With several, the TLS dial takes each one's host.
					tlsConfig.ServerName = u.Hostname()
				}
			}
		default:
			return nil, fmt.Errorf("broker URL %q: scheme %q is not MQTT (use mqtt:// or mqtts://)", network.RedactURL(one), u.Scheme)
		}
		host := u.Host
		if u.Port() == "" {
			host += defaultPort
		}
		// paho takes the credentials of each server from its URL.
		server := &url.URL{Scheme: scheme, Host: host, User: u.User}
		servers = append(servers, server.String())
		hosts = append(hosts, host)
	}
	host := strings.Join(hosts, ",")
	if opts.ClientID == "" {
		opts.ClientID = "msgflo-" + uuid.New()[:18]
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.MaxReconnectInterval <= 0 {
		opts.MaxReconnectInterval = 5 * time.Second
	}
	c := &pahoConn{log: opts.Logger, handlers: map[string]func(string, []byte){}, subscribed: map[string]bool{}, early: map[string][][]byte{}}
	var b *Broker
	po := paho.NewClientOptions().
		SetClientID(opts.ClientID).
		SetCleanSession(!opts.PersistentSession).
		SetStore(newCopyingStore()).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(opts.MaxReconnectInterval).
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
			c.mu.Unlock()
			if b != nil {
				c.resubscribe(b.topicsToResubscribe())
			}
			c.notify(true)
		})
	for _, s := range servers {
		po.AddBroker(s)
	}
	if tlsConfig != nil {
		po.SetTLSConfig(tlsConfig)
	}
	c.client = paho.NewClient(po)
	if opts.PersistentSession {
		end := paho.NewClientOptions().
			SetClientID(opts.ClientID).
			SetCleanSession(true).
			SetAutoReconnect(false).
			SetConnectTimeout(endSessionTimeout)
		for _, s := range servers {
			end.AddBroker(s)
		}
		if tlsConfig != nil {
			end.SetTLSConfig(tlsConfig)
		}
		c.endSession = end
	}
	b = NewBroker(c, rawURL, opts.Logger)
	tok := c.client.Connect()
	if err := wait(ctx, tok, opts.ConnectTimeout); err != nil {
		c.client.Disconnect(0)
		return nil, fmt.Errorf("connect to %s: %w", host, err)
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

func (c *pahoConn) Publish(ctx context.Context, topic string, payload []byte) error {
	return wait(ctx, c.client.Publish(topic, 1, false, payload), operationTimeout)
}

func (c *pahoConn) Subscribe(ctx context.Context, topic string, deliver func(string, []byte)) error {
	c.mu.Lock()
	c.handlers[topic] = deliver
	c.subscribed[topic] = true
	for _, payload := range c.early[topic] {
		deliver(topic, payload)
	}
	c.earlyLen -= len(c.early[topic])
	delete(c.early, topic)
	c.mu.Unlock()
	tok := c.client.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { c.route(m.Topic(), m.Payload()) })
	if err := wait(ctx, tok, operationTimeout); err != nil {
		c.mu.Lock()
		delete(c.handlers, topic)
		c.mu.Unlock()
		return err
	}
	return nil
}

func (c *pahoConn) Unsubscribe(ctx context.Context, topic string) error {
	c.mu.Lock()
	delete(c.handlers, topic)
	c.mu.Unlock()
	return wait(ctx, c.client.Unsubscribe(topic), operationTimeout)
}

// resubscribe runs after every (re)connection.
func (c *pahoConn) resubscribe(topics []string) {
	for _, t := range topics {
		tok := c.client.Subscribe(t, 1, func(_ paho.Client, m paho.Message) { c.route(m.Topic(), m.Payload()) })
		if err := wait(context.Background(), tok, operationTimeout); err != nil {
			c.log.Error().Err(err).Str("queue", t).Msg("re-subscribe after reconnect failed")
		}
	}
	if len(topics) > 0 {
		c.log.Info().Int("topics", len(topics)).Msg("MQTT connection (re)established; subscriptions restored")
	}
}

// Close disconnects and, for a persistent session, ends it: the broker
// forgets the subscriptions and the messages queued for them.
func (c *pahoConn) Close() error {
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
