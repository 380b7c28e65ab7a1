package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// waitLimit guards every wait for a message against a hang; it is not a
// speed requirement.
const waitLimit = 10 * time.Second

type harness struct {
	t         *testing.T
	addr      string
	rt        *runtime.Runtime
	srv       *Server
	broker    *embedded.Server
	validator *Validator
}

type harnessOption func(*Options)

// newHarness runs a runtime on a fresh embedded broker with a protocol
// server on a free port. Every message the server sends is checked against
// the output schemas.
func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	emb, err := embedded.Start(ctx, embedded.Options{})
	if err != nil {
		t.Fatalf("embedded broker: %v", err)
	}
	o := Options{
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		CheckOutput: func(protocol, command string, msg []byte, err error) {
			if err != nil {
				t.Errorf("runtime sent an invalid %s:%s: %v\n%s", protocol, command, err, msg)
			}
		},
	}
	for _, opt := range opts {
		opt(&o)
	}
	rt, err := runtime.New(runtime.Options{
		Metrics:    o.Metrics,
		ID:         uuid.New(),
		Label:      "test runtime",
		Broker:     emb.Broker(),
		Components: participant.CoreComponents(),
		RetryDelay: 20 * time.Millisecond,
		Logger:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(rt, o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = rt.Run(ctx) }()
	select {
	case <-rt.Ready():
	case <-time.After(waitLimit):
		t.Fatalf("the runtime was not ready within %s", waitLimit)
	}
	go func() { defer wg.Done(); _ = srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = emb.Close()
	})
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, addr: ln.Addr().String(), rt: rt, srv: srv, broker: emb, validator: v}
}

// msg is a received message, decoded generically.
type msg struct {
	Protocol string         `json:"protocol"`
	Command  string         `json:"command"`
	Payload  any            `json:"payload"`
	Raw      map[string]any `json:"-"`
	Text     string         `json:"-"`
}

func (m msg) payloadMap() map[string]any {
	p, _ := m.Payload.(map[string]any)
	return p
}

type wsClient struct {
	t    *testing.T
	h    *harness
	conn *websocket.Conn
	in   chan msg
	// stash holds asynchronous events that arrived while request waited
	// for its reply; next hands them out first, in order.
	stash []msg
	// closed is closed when the connection is gone; err says why.
	closed chan struct{}
	err    error
}

func (h *harness) connect() *wsClient {
	h.t.Helper()
	return h.connectWith(websocket.DefaultDialer, []string{"noflo"})
}

func (h *harness) connectWith(d *websocket.Dialer, subprotocols []string) *wsClient {
	h.t.Helper()
	dd := *d
	dd.Subprotocols = subprotocols
	conn, resp, err := dd.Dial("ws://"+h.addr+"/", http.Header{})
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	if len(subprotocols) > 0 && resp.Header.Get("Sec-WebSocket-Protocol") != subprotocols[0] {
		h.t.Fatalf("server did not echo sub-protocol %q (got %q)", subprotocols[0], resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	c := &wsClient{t: h.t, h: h, conn: conn, in: make(chan msg, 4096), closed: make(chan struct{})}
	go c.read()
	h.t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *wsClient) read() {
	defer close(c.closed)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		var m msg
		if err := json.Unmarshal(data, &m); err != nil {
			c.t.Errorf("runtime sent non-JSON: %q", data)
			continue
		}
		_ = json.Unmarshal(data, &m.Raw)
		m.Text = string(data)
		if err := c.h.validator.ValidateOutput(m.Protocol, m.Command, m.Raw); err != nil {
			c.t.Errorf("received invalid %s:%s: %v\n%s", m.Protocol, m.Command, err, data)
		}
		if strings.Contains(m.Text, `"secret"`) {
			c.t.Errorf("runtime sent a secret back: %s", data)
		}
		c.in <- m
	}
}

// send writes one message; payload nil sends no payload key.
func (c *wsClient) send(protocol, command string, payload any) {
	c.t.Helper()
	m := map[string]any{"protocol": protocol, "command": command}
	if payload != nil {
		m["payload"] = payload
	}
	if err := c.conn.WriteJSON(m); err != nil {
		c.t.Fatalf("send %s:%s: %v", protocol, command, err)
	}
}

func (c *wsClient) sendRaw(text string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		c.t.Fatalf("send raw: %v", err)
	}
}

// next returns the next message, whatever it is.
func (c *wsClient) next() msg {
	c.t.Helper()
	if len(c.stash) > 0 {
		m := c.stash[0]
		c.stash = c.stash[1:]
		return m
	}
	return c.receive()
}

// receive reads the connection, bypassing the stash.
func (c *wsClient) receive() msg {
	c.t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-c.closed:
		c.t.Fatalf("connection closed while waiting: %v", c.err)
	case <-time.After(waitLimit):
		c.t.Fatalf("no message within %s", waitLimit)
	}
	return msg{}
}

// expect returns the next message and fails unless it is protocol:command.
func (c *wsClient) expect(protocol, command string) msg {
	c.t.Helper()
	m := c.next()
	if m.Protocol != protocol || m.Command != command {
		c.t.Fatalf("got %s:%s %s, want %s:%s", m.Protocol, m.Command, m.Text, protocol, command)
	}
	return m
}

// asyncEvent reports whether m is something the runtime sends on its own
// (data flowing, failures) rather than in reply to a command.
func asyncEvent(m msg) bool {
	switch m.Protocol + ":" + m.Command {
	case "network:data", "network:connect", "network:disconnect", "network:begingroup", "network:endgroup",
		"network:error", "network:processerror", "network:output", "network:icon", "runtime:packet":
		return true
	}
	return false
}

// waitFor skips messages until one is protocol:command and matches (when given).
func (c *wsClient) waitFor(protocol, command string, match func(msg) bool) msg {
	c.t.Helper()
	deadline := time.After(waitLimit)
	var skipped []string
	for len(c.stash) > 0 {
		m := c.next()
		if m.Protocol == protocol && m.Command == command && (match == nil || match(m)) {
			return m
		}
		skipped = append(skipped, m.Text)
	}
	for {
		select {
		case m := <-c.in:
			if m.Protocol == protocol && m.Command == command && (match == nil || match(m)) {
				return m
			}
			skipped = append(skipped, m.Text)
		case <-c.closed:
			c.t.Fatalf("connection closed while waiting for %s:%s: %v (skipped %v)", protocol, command, c.err, skipped)
		case <-deadline:
			c.t.Fatalf("no %s:%s within %s; skipped %d: %v", protocol, command, waitLimit, len(skipped), skipped)
		}
	}
}

// request sends and expects the reply command on the same protocol, as
// Flowhub does: asynchronous events arriving meanwhile are kept for later.
func (c *wsClient) request(protocol, command string, payload any, reply string) msg {
	c.t.Helper()
	c.send(protocol, command, payload)
	for {
		m := c.receive()
		if asyncEvent(m) && (m.Protocol != protocol || m.Command != reply) {
			c.stash = append(c.stash, m)
			continue
		}
		if m.Protocol != protocol || m.Command != reply {
			c.t.Fatalf("got %s:%s %s, want %s:%s", m.Protocol, m.Command, m.Text, protocol, reply)
		}
		return m
	}
}

// drain makes sure every earlier message was handled and returns what
// arrived meanwhile: getruntime is answered in order, after everything
// queued before it.
func (c *wsClient) drain() []msg {
	c.t.Helper()
	c.send("runtime", "getruntime", map[string]any{})
	var out []msg
	for {
		m := c.next()
		if m.Protocol == "runtime" && m.Command == "runtime" {
			if graph, _ := m.payloadMap()["graph"].(string); graph != "" {
				c.expect("runtime", "ports")
			}
			return out
		}
		out = append(out, m)
	}
}

// wantPayload compares a payload with the JSON text of what is expected.
func wantPayload(t *testing.T, m msg, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(m.Payload, w) {
		got, _ := json.Marshal(m.Payload)
		t.Fatalf("%s:%s payload\n got: %s\nwant: %s", m.Protocol, m.Command, got, want)
	}
}

// refusal is a raw message the server must refuse with an error.
type refusal struct{ name, text, protocol, want string }

// wantRefused sends each message (a subtest each), expects its error, and
// then that nothing else came: no reply, no broadcast of a change.
func (c *wsClient) wantRefused(t *testing.T, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.sendRaw(tc.text)
			wantError(t, c.next(), tc.protocol, tc.want)
		})
	}
	c.t = t
	if extra := c.drain(); len(extra) > 0 {
		t.Fatalf("a refused message was answered or changed something: %v", extra)
	}
}

func wantError(t *testing.T, m msg, protocol, text string) {
	t.Helper()
	if m.Protocol != protocol || m.Command != "error" {
		t.Fatalf("got %s:%s %s, want %s:error %q", m.Protocol, m.Command, m.Text, protocol, text)
	}
	got, _ := m.payloadMap()["message"].(string)
	if !strings.Contains(got, text) {
		t.Fatalf("error %q does not say %q", got, text)
	}
}

func obj(text string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		panic(fmt.Sprintf("bad test JSON %q: %v", text, err))
	}
	return m
}
