package protocol

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
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
	return newHarnessWith(t, nil, opts...)
}

// newHarnessWith is newHarness with the runtime's options changed by rtOpt.
func newHarnessWith(t *testing.T, rtOpt func(*runtime.Options), opts ...harnessOption) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	emb, err := embedded.Start(ctx, embedded.Options{})
	if err != nil {
		t.Fatalf("embedded broker: %v", err)
	}
	o := Options{
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	for _, opt := range opts {
		opt(&o)
	}
	hub, err := NewHub(HubOptions{Logger: o.Logger, CheckOutput: func(protocol, command string, msg []byte, err error) {
		if err != nil {
			t.Errorf("runtime sent an invalid %s:%s: %v\n%s", protocol, command, err, msg)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	rtOpts := runtime.Options{
		Metrics:    o.Metrics,
		ID:         uuid.New(),
		Label:      "test runtime",
		Broker:     emb.Broker(),
		Sink:       hub,
		Components: participant.CoreComponents(),
		RetryDelay: 20 * time.Millisecond,
		Logger:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	if rtOpt != nil {
		rtOpt(&rtOpts)
	}
	rt, err := runtime.New(rtOpts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(rt, hub, o)
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

// wsClient is a test's connection: fbpclient's, with every message taken
// checked against the output schemas and for a secret sent back (and the
// ones never taken checked when the test ends).
type wsClient struct {
	t  *testing.T
	h  *harness
	cl *fbpclient.Client
	// stash holds asynchronous events that arrived while request waited
	// for its reply; next hands them out first, in order.
	stash []msg
}

func (h *harness) connect() *wsClient {
	h.t.Helper()
	return h.connectWith(true)
}

// connectWith connects, asking for the "noflo" subprotocol or not.
func (h *harness) connectWith(subprotocol bool) *wsClient {
	h.t.Helper()
	c, _, err := h.dial(fbpclient.Options{NoSubprotocol: !subprotocol})
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	if subprotocol && c.cl.Subprotocol() != fbpclient.Subprotocol {
		h.t.Fatalf("server did not echo sub-protocol %q (got %q)", fbpclient.Subprotocol, c.cl.Subprotocol())
	}
	return c
}

// dial connects with o; when the handshake is refused, it returns the
// HTTP response (nil if there was none) with the error.
func (h *harness) dial(o fbpclient.Options) (*wsClient, *http.Response, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cl, err := fbpclient.Dial(ctx, "ws://"+h.addr+"/", o)
	if err != nil {
		var de *fbpclient.DialError
		if errors.As(err, &de) {
			return nil, de.Response, err
		}
		return nil, nil, err
	}
	c := &wsClient{t: h.t, h: h, cl: cl}
	h.t.Cleanup(func() {
		c.t = h.t // not a subtest that may have ended
		for _, m := range cl.Pending() {
			c.check(m)
		}
		_ = cl.Close()
	})
	return c, nil, nil
}

// check decodes a message received and checks it: valid output, no
// secret; ok is false for a message that is not JSON.
func (c *wsClient) check(in fbpclient.Message) (m msg, ok bool) {
	c.t.Helper()
	data := in.Raw
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Errorf("runtime sent non-JSON: %q", data)
		return msg{}, false
	}
	_ = json.Unmarshal(data, &m.Raw)
	m.Text = string(data)
	if err := c.h.validator.ValidateOutput(m.Protocol, m.Command, m.Raw); err != nil {
		c.t.Errorf("received invalid %s:%s: %v\n%s", m.Protocol, m.Command, err, data)
	}
	if strings.Contains(m.Text, `"secret"`) {
		c.t.Errorf("runtime sent a secret back: %s", data)
	}
	return m, true
}

// send writes one message; payload nil sends no payload key.
func (c *wsClient) send(protocol, command string, payload any) {
	c.t.Helper()
	m := map[string]any{"protocol": protocol, "command": command}
	if payload != nil {
		m["payload"] = payload
	}
	if err := c.sendJSON(m); err != nil {
		c.t.Fatalf("send %s:%s: %v", protocol, command, err)
	}
}

// sendJSON writes v as JSON, for messages the test builds itself.
func (c *wsClient) sendJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.cl.SendRaw(data)
}

func (c *wsClient) sendRaw(text string) {
	c.t.Helper()
	if err := c.cl.SendRaw([]byte(text)); err != nil {
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
	m, closed, _ := c.nextOrClosed()
	if closed != nil {
		c.t.Fatalf("connection closed while waiting: %v", closed)
	}
	return m
}

// nextOrClosed returns the next message received (bypassing the stash),
// or, when the connection closed, why (closed) and the close status the
// server gave (0 when the connection was only reset). It fails the test
// when neither happens within waitLimit.
func (c *wsClient) nextOrClosed() (m msg, closed error, code int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for {
		in, err := c.cl.Next(ctx)
		if errors.Is(err, fbpclient.ErrClosed) {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return msg{}, err, ce.Code
			}
			return msg{}, err, 0
		}
		if err != nil {
			c.t.Fatalf("no message within %s", waitLimit)
		}
		if m, ok := c.check(in); ok {
			return m, nil, 0
		}
	}
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
	return c.waitUntil(protocol+":"+command, func(m msg) bool {
		return m.Protocol == protocol && m.Command == command && (match == nil || match(m))
	})
}

// waitUntil skips messages until one matches; what names it in failures.
func (c *wsClient) waitUntil(what string, match func(msg) bool) msg {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var skipped []string
	for len(c.stash) > 0 {
		m := c.next()
		if match(m) {
			return m
		}
		skipped = append(skipped, m.Text)
	}
	for {
		in, err := c.cl.Next(ctx)
		if errors.Is(err, fbpclient.ErrClosed) {
			c.t.Fatalf("connection closed while waiting for %s: %v (skipped %v)", what, err, skipped)
		}
		if err != nil {
			c.t.Fatalf("no %s within %s; skipped %d: %v", what, waitLimit, len(skipped), skipped)
		}
		if m, ok := c.check(in); ok && match(m) {
			return m
		} else if ok {
			skipped = append(skipped, m.Text)
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
