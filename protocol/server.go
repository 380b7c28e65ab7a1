// Package protocol serves the FBP network protocol over WebSocket: it
// decodes and validates every message against the embedded JSON schemas,
// checks the client's capabilities, calls the runtime and turns the
// runtime's answers and events into messages.
package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/metrics"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// Options configure a Server.
type Options struct {
	// Secret, when set, is required for full access; clients without it get
	// AnonymousCapabilities.
	Secret                string
	AnonymousCapabilities []string
	// ExtraCapabilities are offered on top of the defaults (for example
	// network:persist when a graph file is configured).
	ExtraCapabilities []string
	// AllowedOrigins lists the Origins (scheme://host[:port]) of the web
	// pages that may connect; "*" allows any but "null". Empty allows
	// the IDE's origin, the status page's (at Address) and http(s) pages
	// of localhost, 127.0.0.1 and [::1] on any port. Clients that send no
	// Origin are always allowed.
	AllowedOrigins []string
	// ReadLimit is the largest message accepted once the client has
	// presented the secret, or from anyone without a secret (default
	// DefaultReadLimit).
	ReadLimit int64
	// AnonymousReadLimit is the largest message accepted before the client
	// has presented the secret (default DefaultAnonymousReadLimit).
	AnonymousReadLimit int64
	// MaxWrongSecrets closes a connection that presented this many wrong
	// secrets (default DefaultMaxWrongSecrets).
	MaxWrongSecrets int
	// GuessBurst and GuessRefill limit wrong secrets per remote address:
	// GuessBurst at once, then one per GuessRefill (defaults
	// DefaultGuessBurst, DefaultGuessRefill).
	GuessBurst  int
	GuessRefill time.Duration
	// MaxConnections refuses connections beyond this many with HTTP 503
	// (default DefaultMaxConnections).
	MaxConnections int
	// SendQueueBytes bounds the bytes waiting for one client; a client
	// that lets more pile up is disconnected (default
	// DefaultSendQueueBytes). One message larger than that is still sent
	// to a client with nothing waiting.
	SendQueueBytes int64
	// WriteWait is how long one message may take to write before the
	// client is dropped (default DefaultWriteWait).
	WriteWait time.Duration
	// IDE is the Flowhub base URL for the landing page's live link.
	IDE string
	// Address is the ws:// address clients use, for the landing page.
	Address string
	// Metrics, when set, are served at GET /metrics (to holders of the
	// secret unless MetricsPublic) and count the protocol's messages.
	Metrics       *metrics.Metrics
	MetricsPublic bool
	Logger        zerolog.Logger
	// CheckOutput, when set, validates every outgoing message against the
	// output schemas and reports the result (tests use it).
	CheckOutput func(protocol, command string, msg []byte, err error)
}

// Server is the FBP protocol endpoint.
type Server struct {
	rt        *runtime.Runtime
	opts      Options
	log       zerolog.Logger
	validator *Validator
	enc       *encoder
	hub       *hub
	upgrader  websocket.Upgrader
	all       *capabilitySet
	anonymous *capabilitySet
	allNames  []string
	secrets   *secretChecker
	origins   originPolicy
	nextID    atomic.Uint64
	conns     atomic.Int64 // connections being upgraded or served
	handlers  map[string]handler

	wg sync.WaitGroup // connections
}

// New creates a server for a runtime and makes itself the runtime's sink.
func New(rt *runtime.Runtime, opts Options) (*Server, error) {
	v, err := NewValidator()
	if err != nil {
		return nil, fmt.Errorf("load protocol schemas: %w", err)
	}
	if opts.ReadLimit <= 0 {
		opts.ReadLimit = DefaultReadLimit
	}
	if opts.AnonymousReadLimit <= 0 {
		opts.AnonymousReadLimit = DefaultAnonymousReadLimit
	}
	opts.AnonymousReadLimit = min(opts.AnonymousReadLimit, opts.ReadLimit)
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.WriteWait <= 0 {
		opts.WriteWait = DefaultWriteWait
	}
	if opts.SendQueueBytes <= 0 {
		opts.SendQueueBytes = DefaultSendQueueBytes
	}
	if opts.MaxWrongSecrets <= 0 {
		opts.MaxWrongSecrets = DefaultMaxWrongSecrets
	}
	s := &Server{rt: rt, opts: opts, log: opts.Logger, validator: v}
	s.secrets = newSecretChecker(opts.Secret, opts.GuessBurst, opts.GuessRefill)
	s.origins = newOriginPolicy(opts.AllowedOrigins, opts.IDE, opts.Address)
	s.enc = &encoder{validator: v, check: opts.CheckOutput}
	s.hub = newHub(s.log, s.enc)
	s.allNames = append(slices.Clone(offeredCapabilities), opts.ExtraCapabilities...)
	s.all = newCapabilitySet(v, s.allNames)
	anon := s.allNames
	if opts.Secret != "" {
		anon = nil
		for _, c := range opts.AnonymousCapabilities {
			if slices.Contains(s.allNames, c) {
				anon = append(anon, c)
			}
		}
	}
	s.anonymous = newCapabilitySet(v, anon)
	s.upgrader = websocket.Upgrader{
		Subprotocols:    []string{"noflo"},
		CheckOrigin:     s.checkOrigin,
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
	}
	s.handlers = handlerTable()
	for name, h := range traceHandlers() {
		s.handlers[name] = h
	}
	s.registerMetrics()
	rt.SetSink(s.hub)
	return s, nil
}

// checkOrigin lets browsers open a connection only from allowed pages.
// Clients that send no Origin (command-line tools, fbp-spec) are not web
// pages another site could drive, and pass.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if s.origins.allows(origin) {
		return true
	}
	s.log.Warn().Str("origin", origin).Str("remote", r.RemoteAddr).Msg("connection from a page of another origin refused (see --allow-origin)")
	return false
}

// ServeHTTP upgrades WebSocket requests, answers the health and metrics
// endpoints, and serves the status page otherwise (status.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		switch path := r.URL.Path; {
		case path == healthzPath:
			s.healthz(w, r)
		case path == readyzPath:
			s.readyz(w, r)
		case path == metricsPath:
			s.metrics(w, r)
		case path == overviewPath:
			s.overview(w, r)
		case strings.HasPrefix(path, staticPrefix):
			staticFile(w, r)
		default:
			s.landingPage(w, r)
		}
		return
	}
	// Counted before the connection is hijacked: http.Server.Shutdown
	// waits for handlers until then, so Serve's Wait cannot miss this one.
	s.wg.Add(1)
	defer s.wg.Done()
	if n := s.conns.Add(1); n > int64(s.opts.MaxConnections) {
		s.conns.Add(-1)
		s.log.Warn().Int("max_connections", s.opts.MaxConnections).Str("remote", r.RemoteAddr).Msg("connection refused: too many connections")
		http.Error(w, "Too many connections to this runtime", http.StatusServiceUnavailable)
		return
	}
	defer s.conns.Add(-1)
	// The client is registered before the handshake completes, so that
	// every event after the client sees the connection open reaches it
	// (it is queued until the writer starts).
	id := runtime.ClientID(s.nextID.Add(1))
	c := &client{
		id:         id,
		log:        s.log.With().Uint64("client", uint64(id)).Str("remote", r.RemoteAddr).Logger(),
		remoteHost: remoteHost(r.RemoteAddr),
		send:       make(chan []byte, sendQueueSize),
		maxQueued:  s.opts.SendQueueBytes,
		writeWait:  s.opts.WriteWait,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	c.caps.Store(s.anonymous)
	s.hub.add(c)
	s.rt.ClientConnected(id)
	defer func() {
		s.hub.remove(c)
		s.rt.ClientGone(id)
	}()
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Info().Err(err).Str("remote", r.RemoteAddr).Msg("websocket upgrade refused")
		return
	}
	c.conn = conn
	s.serveConn(c)
}

func (s *Server) serveConn(c *client) {
	c.log.Info().Str("subprotocol", c.conn.Subprotocol()).Msg("client connected")
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writePump()
	}()
	s.readPump(c)
	c.close()
	<-writerDone
	c.log.Info().Msg("client disconnected")
}

func (s *Server) readPump(c *client) {
	// Before the secret, only small messages: nothing a client without it
	// may do needs more, and a big one would cost memory before the
	// secret is even checked.
	limit := s.opts.ReadLimit
	if s.opts.Secret != "" {
		limit = s.opts.AnonymousReadLimit
	}
	c.conn.SetReadLimit(limit)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.log.Warn().Bool("authenticated", c.authenticated).Msg("message too large: closing connection")
			} else if websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				c.log.Debug().Err(err).Msg("read failed")
			}
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
		if kind != websocket.TextMessage && kind != websocket.BinaryMessage {
			continue
		}
		c.handling.Store(true)
		s.handle(c, data)
		c.handling.Store(false)
		if err := c.flush(); err != nil {
			c.log.Debug().Err(err).Msg("write failed")
			return
		}
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// Serve accepts connections on ln until ctx is done, then closes every
// connection and waits for their goroutines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx) // hijacked WebSocket connections are closed below
	s.closeAll()
	s.wg.Wait()
	return nil
}

func (s *Server) closeAll() {
	s.hub.mu.Lock()
	clients := make([]*client, 0, len(s.hub.clients))
	for _, c := range s.hub.clients {
		clients = append(clients, c)
	}
	s.hub.mu.Unlock()
	for _, c := range clients {
		c.close() // its writer says goodbye and closes the connection
	}
}

// Clients returns the number of connected clients.
func (s *Server) Clients() int { return s.hub.count() }

// LiveURL is the Flowhub address that opens this runtime in live mode.
func LiveURL(ide, address, runtimeID, secret string) string {
	q := url.Values{}
	q.Set("protocol", "websocket")
	q.Set("address", address)
	q.Set("id", runtimeID)
	if secret != "" {
		q.Set("secret", secret)
	}
	return strings.TrimRight(ide, "/") + "/#runtime/endpoint?" + q.Encode()
}
