// Package protocol serves the FBP network protocol over WebSocket: it
// decodes and validates every message against the embedded JSON schemas,
// checks the client's capabilities, calls the runtime and turns the
// runtime's answers and events into messages.
package protocol

import (
	"bytes"
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

	"github.com/msgflo/msgflo-runtime/internal/logtext"
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
	// GuessBurst at once, then one per GuessRefill; beyond them each wrong
	// secret is answered only after GuessDelay. The right secret is never
	// refused. (Defaults DefaultGuessBurst, DefaultGuessRefill,
	// DefaultGuessDelay.)
	GuessBurst  int
	GuessRefill time.Duration
	GuessDelay  time.Duration
	// MaxConnections bounds the connections (default
	// DefaultMaxConnections). Beyond it, a new connection closes the
	// oldest one that has not presented the secret, or is refused with
	// HTTP 503 when all have.
	MaxConnections int
	// PreAuthTimeout closes a connection that has not presented the
	// secret after this long, when clients without it may do nothing but
	// getruntime (no AnonymousCapabilities; default DefaultPreAuthTimeout).
	PreAuthTimeout time.Duration
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
}

// Server is the FBP protocol endpoint.
type Server struct {
	rt        *runtime.Runtime
	opts      Options
	log       zerolog.Logger
	validator *Validator
	enc       *encoder
	hub       *Hub
	upgrader  websocket.Upgrader
	all       *capabilitySet
	anonymous *capabilitySet
	allNames  []string
	secrets   *secretChecker
	clientLog *logtext.Limiter // lines clients cause (room.go)
	origins   originPolicy
	nextID    atomic.Uint64
	conns     atomic.Int64 // connections being upgraded or served
	handlers  map[string]handler
	// runtimeReplies are the last runtime:runtime encoded for clients with
	// every capability and for those without the secret (dispatch.go).
	runtimeReplies [2]atomic.Pointer[runtimeReply]
	mux            *http.ServeMux

	wg sync.WaitGroup // connections
}

// New creates a server for a runtime whose Sink is hub (see Hub).
func New(rt *runtime.Runtime, hub *Hub, opts Options) (*Server, error) {
	if hub == nil {
		return nil, errors.New("protocol.New: no hub (make one with NewHub and give it to the runtime too)")
	}
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
	if opts.PreAuthTimeout <= 0 {
		opts.PreAuthTimeout = DefaultPreAuthTimeout
	}
	s := &Server{rt: rt, opts: opts, log: opts.Logger, validator: v, hub: hub, enc: hub.enc, clientLog: newClientLog()}
	s.secrets = newSecretChecker(opts.Secret, opts.GuessBurst, opts.GuessRefill, opts.GuessDelay)
	s.origins = newOriginPolicy(opts.AllowedOrigins, opts.IDE, opts.Address)
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
		CheckOrigin:     func(*http.Request) bool { return true }, // serveWebSocket checked it first
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
	}
	s.handlers = handlerTable()
	for name, h := range traceHandlers() {
		s.handlers[name] = h
	}
	s.registerMetrics()
	s.mux = s.routes()
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
	s.clientLog.Event(s.log.Warn()).Str("origin", logtext.Short(origin)).Str("remote", r.RemoteAddr).Msg("connection from a page of another origin refused (see --allow-origin)")
	return false
}

// serveWebSocket serves one FBP protocol client.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	// A page that may not connect is refused before anything else: it
	// takes no slot, makes no room, spends no guess.
	if !s.checkOrigin(r) {
		http.Error(w, "websocket: request origin not allowed by Upgrader.CheckOrigin", http.StatusForbidden)
		return
	}
	// Counted before the connection is hijacked: http.Server.Shutdown
	// waits for handlers until then, so Serve's Wait cannot miss this one.
	s.wg.Add(1)
	defer s.wg.Done()
	if n := s.conns.Add(1); n > int64(s.opts.MaxConnections) {
		if old := s.hub.makeRoom(); old != nil {
			s.clientLog.Event(old.log.Info()).Int("max_connections", s.opts.MaxConnections).Msg("closed without the secret: room needed for a new connection")
		} else {
			s.conns.Add(-1)
			s.clientLog.Event(s.log.Warn()).Int("max_connections", s.opts.MaxConnections).Str("remote", r.RemoteAddr).Msg("connection refused: too many connections")
			http.Error(w, "Too many connections to this runtime", http.StatusServiceUnavailable)
			return
		}
	}
	defer s.conns.Add(-1)
	// The client is registered before the handshake completes, so that
	// every event after the client sees the connection open reaches it
	// (it is queued until the writer starts).
	id := runtime.ClientID(s.nextID.Add(1))
	c := &client{
		id:         id,
		log:        s.log.With().Uint64("client", uint64(id)).Str("remote", r.RemoteAddr).Logger(),
		clientLog:  s.clientLog,
		remoteHost: remoteHost(r.RemoteAddr),
		maxQueued:  s.opts.SendQueueBytes,
		writeWait:  s.opts.WriteWait,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	c.caps.Store(s.anonymous)
	c.authenticated.Store(s.opts.Secret == "")
	s.hub.add(c)
	s.rt.ClientConnected(id)
	defer func() {
		s.hub.remove(c)
		s.rt.ClientGone(id)
	}()
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.clientLog.Event(s.log.Info()).Str("error", logtext.Short(err.Error())).Str("remote", r.RemoteAddr).Msg("websocket upgrade refused")
		return
	}
	c.conn = conn
	s.serveConn(c)
}

func (s *Server) serveConn(c *client) {
	s.clientLog.Event(c.log.Info()).Str("subprotocol", c.conn.Subprotocol()).Msg("client connected")
	defer s.preAuthDeadline(c)()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writePump()
	}()
	s.readPump(c)
	c.close()
	<-writerDone
	s.clientLog.Event(c.log.Info()).Msg("client disconnected")
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
	var in bytes.Buffer // the reader's: each message is read into it, then copied at its size
	for {
		kind, data, err := readMessage(c.conn, &in)
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				s.clientLog.Event(c.log.Warn()).Bool("authenticated", c.authenticated.Load()).Msg("message too large: closing connection")
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

// readMessage reads the next message through buf and returns a copy of
// it of its own size: websocket.Conn.ReadMessage (io.ReadAll) allocates
// 512 bytes and more for every message, most of them a hundred or two,
// which made garbage of every request. buf keeps its capacity for the next
// message, unless a large one grew it past maxKeptReadBuffer.
func readMessage(conn *websocket.Conn, buf *bytes.Buffer) (kind int, data []byte, err error) {
	kind, r, err := conn.NextReader()
	if err != nil {
		return kind, nil, err
	}
	buf.Reset()
	if _, err = buf.ReadFrom(r); err == nil {
		data = bytes.Clone(buf.Bytes())
	}
	if buf.Cap() > maxKeptReadBuffer {
		*buf = bytes.Buffer{}
	}
	return kind, data, err
}

// maxKeptReadBuffer bounds the read buffer a connection keeps between
// messages.
const maxKeptReadBuffer = 64 << 10

// Serve accepts connections on ln until ctx is done, then closes every
// connection and waits for their goroutines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// An HTTP connection idle between requests (keep-alive) is closed
	// after as long as a WebSocket client may stay without the secret:
	// otherwise one request per connection would keep each open for ever,
	// outside --max-connections. (WebSocket connections are hijacked:
	// their own deadlines apply.)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: s.opts.PreAuthTimeout}
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
	for _, c := range s.hub.all() {
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
