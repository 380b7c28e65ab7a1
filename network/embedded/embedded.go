// Package embedded runs an MQTT broker inside the runtime process, so the
// runtime works with no broker installed. In-process participants reach it
// without a socket; other processes connect to the TCP address URL returns,
// exactly as they would to Mosquitto. The TCP listener takes only the user
// and password generated at start (they are in URL): no anonymous client,
// and no other local process without the URL, reads or injects messages.
package embedded

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

// Options configure Start.
type Options struct {
	// Host to listen on for other processes; default 127.0.0.1.
	Host string
	// Port to listen on; 0 picks a free one.
	Port int
	// User and Password clients must present; empty: "msgflo" and a
	// random 128-bit password generated at start.
	User, Password string
	Logger         zerolog.Logger
}

// Server is a running embedded broker.
type Server struct {
	srv    *mochi.Server
	sess   *sessions
	ln     net.Listener
	url    string
	log    zerolog.Logger
	nextID atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// Start listens and serves until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)))
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	caps := mochi.NewDefaultServerCapabilities()
	// Created is the publish order (see sessions), not a time.
	caps.MaximumMessageExpiryInterval = 0
	srv := mochi.New(&mochi.Options{
		InlineClient: true,
		Capabilities: caps,
		Logger:       slog.New(&slogBridge{log: opts.Logger}),
	})
	sess := newSessions(srv, opts.Logger)
	if err := srv.AddHook(sess, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if opts.User == "" {
		opts.User = "msgflo"
	}
	if opts.Password == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			ln.Close()
			return nil, fmt.Errorf("embedded broker: password: %w", err)
		}
		opts.Password = hex.EncodeToString(b[:])
	}
	if err := srv.AddHook(&credentials{user: []byte(opts.User), password: []byte(opts.Password), log: opts.Logger}, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewNet(listenerID, ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := opts.Host
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return &Server{
		srv:  srv,
		sess: sess,
		ln:   ln,
		url:  (&url.URL{Scheme: "mqtt", User: url.UserPassword(opts.User, opts.Password), Host: net.JoinHostPort(host, strconv.Itoa(addr.Port))}).String(),
		log:  opts.Logger,
	}, nil
}

// URL is the address other processes use to connect, with the
// credentials: mqtt://user:password@host:port.
func (s *Server) URL() string { return s.url }

// Broker returns a new in-process connection to the embedded broker.
func (s *Server) Broker() *mqtt.Broker {
	return mqtt.NewBroker(&inlineConn{s: s, ids: map[string]int{}}, s.url, s.log)
}

// listenerID is the name of the broker's TCP listener in mochi-mqtt.
const listenerID = "tcp"

// Close stops the broker and disconnects every client.
//
// mochi-mqtt v2.7.9's Close disconnects a listener's clients through
// Clients.GetByListener, which takes the clients' read lock twice (itself,
// then Len): a client going away in between, Clients.Delete waiting for
// the write lock, deadlocks both for ever (seen in CI: a test's cleanup
// hung for 13 minutes, the goroutines in GetByListener's Len and in
// Delete). So the listener is taken from mochi before its Close, closed
// here, and its clients disconnected from one read of the clients
// (GetAll), before and after mochi's Close (a connection accepted just
// before the listener closed may register meanwhile).
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.srv.Listeners.Delete(listenerID)
		_ = s.ln.Close()
		s.disconnectClients()
		s.closeErr = s.srv.Close()
		s.disconnectClients()
	})
	return s.closeErr
}

// disconnectClients disconnects the clients connected over TCP.
func (s *Server) disconnectClients() {
	for _, cl := range s.srv.Clients.GetAll() {
		if cl.Net.Listener == listenerID && !cl.Closed() {
			_ = s.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

// inlineConn is an mqtt.Conn that talks to the broker through its inline
// client: publishing and subscribing are function calls.
type inlineConn struct {
	s *Server

	mu     sync.Mutex
	ids    map[string]int // topic -> inline subscription id
	closed bool
}

var errConnClosed = errors.New("embedded broker connection closed")

func (c *inlineConn) Publish(_ context.Context, topic string, payload []byte) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errConnClosed
	}
	return c.s.sess.publish(func() error { return c.s.srv.Publish(topic, payload, false, 1) })
}

func (c *inlineConn) Subscribe(_ context.Context, topic string, deliver func(string, []byte)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errConnClosed
	}
	if _, ok := c.ids[topic]; ok {
		return fmt.Errorf("topic %q is already subscribed", topic)
	}
	id := int(c.s.nextID.Add(1))
	err := c.s.srv.Subscribe(topic, id, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		deliver(pk.TopicName, pk.Payload)
	})
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", topic, err)
	}
	c.ids[topic] = id
	return nil
}

func (c *inlineConn) Unsubscribe(_ context.Context, topic string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.ids[topic]
	if !ok {
		return nil
	}
	delete(c.ids, topic)
	return c.s.srv.Unsubscribe(topic, id)
}

func (c *inlineConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for topic, id := range c.ids {
		errs = append(errs, c.s.srv.Unsubscribe(topic, id))
	}
	c.ids = nil
	return errors.Join(errs...)
}

// credentials lets in only clients that present the user and password;
// those may use every topic (they are the runtime's participants).
type credentials struct {
	mochi.HookBase
	user, password []byte
	log            zerolog.Logger
}

func (*credentials) ID() string { return "credentials" }

func (*credentials) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *credentials) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	userOK := subtle.ConstantTimeCompare(pk.Connect.Username, h.user) == 1
	passOK := subtle.ConstantTimeCompare(pk.Connect.Password, h.password) == 1
	if !userOK || !passOK {
		h.log.Warn().Str("remote", cl.Net.Remote).Bool("anonymous", len(pk.Connect.Username) == 0).Msg("embedded broker refused a client without its credentials")
		return false
	}
	return true
}

func (*credentials) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// slogBridge sends the broker's own log lines to zerolog, one level down
// (the broker is an implementation detail; its info is our debug).
type slogBridge struct {
	log   zerolog.Logger
	attrs []slog.Attr
}

func (b *slogBridge) Enabled(_ context.Context, l slog.Level) bool {
	return b.level(l) >= b.log.GetLevel() && b.level(l) >= zerolog.GlobalLevel()
}

func (b *slogBridge) level(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.WarnLevel
	case l >= slog.LevelWarn:
		return zerolog.InfoLevel
	default:
		return zerolog.DebugLevel
	}
}

func (b *slogBridge) Handle(_ context.Context, r slog.Record) error {
	ev := b.log.WithLevel(b.level(r.Level)).Str("component", "embedded-broker")
	add := func(a slog.Attr) bool {
		ev = ev.Str(a.Key, a.Value.String())
		return true
	}
	for _, a := range b.attrs {
		add(a)
	}
	r.Attrs(add)
	ev.Msg(r.Message)
	return nil
}

func (b *slogBridge) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &slogBridge{log: b.log, attrs: append(append([]slog.Attr{}, b.attrs...), attrs...)}
}

func (b *slogBridge) WithGroup(string) slog.Handler { return b }
