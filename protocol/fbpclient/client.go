// Package fbpclient is a client of the FBP network protocol over WebSocket:
// it connects to a runtime (this one, or any other), sends messages with the
// secret, and receives what the runtime sends, with deadlines.
//
// Typed messages are those of protocol/wire (SendMessage, RequestMessage,
// Message.Wire); Send and SendRaw send anything, bad input included.
//
// A Client reads the connection on its own goroutine and keeps every
// message in arrival order until it is taken, so nothing the runtime sends
// is lost while the caller is busy (a runtime drops clients that do not
// read). Messages are taken with Next, WaitFor or Request; Request leaves
// the messages that are not its reply for the next Next.
//
// It is the one client the project's test harnesses, tools and the fbp-spec
// runner (package spec) use.
package fbpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/msgflo/msgflo-runtime/internal/jsontext"
)

const (
	// Subprotocol is the WebSocket subprotocol FBP clients ask for.
	Subprotocol = "noflo"
	// defaultHandshakeTimeout bounds the WebSocket handshake when Options
	// gives none.
	defaultHandshakeTimeout = 10 * time.Second
	// defaultReadLimit is the largest message read when Options gives none:
	// graphs and sources can be big.
	defaultReadLimit = 64 << 20
	// writeTimeout bounds one write to the connection.
	writeTimeout = 10 * time.Second
)

// SecretPlacement says where a message carries the secret.
type SecretPlacement int

const (
	// SecretBoth puts the secret at the top level (protocol 0.8) and in
	// the payload (fbp-client, noflo-runtime-base and older runtimes read
	// it there), as the official compliance suite does.
	SecretBoth SecretPlacement = iota
	// SecretTopLevel puts it at the top level only.
	SecretTopLevel
	// SecretInPayload puts it in the payload only.
	SecretInPayload
)

// Options configure a connection.
type Options struct {
	// Secret is sent with every message (see Placement); empty sends none.
	Secret    string
	Placement SecretPlacement
	// Header is sent with the handshake (for example Origin).
	Header http.Header
	// NoSubprotocol leaves out the "noflo" subprotocol request.
	NoSubprotocol bool
	// HandshakeTimeout bounds the WebSocket handshake (default 10 s).
	HandshakeTimeout time.Duration
	// ReadLimit is the largest message accepted (default 64 MiB).
	ReadLimit int64
}

// Message is one message received from the runtime.
type Message struct {
	Protocol string          `json:"protocol"`
	Command  string          `json:"command"`
	Payload  json.RawMessage `json:"payload"`
	// Raw is the frame as received. A frame that is not a JSON message
	// has only Raw.
	Raw []byte `json:"-"`
}

// Is reports whether m is protocol:command.
func (m Message) Is(protocol, command string) bool {
	return m.Protocol == protocol && m.Command == command
}

// Decode decodes the payload into v.
func (m Message) Decode(v any) error {
	if len(m.Payload) == 0 {
		return fmt.Errorf("%s:%s has no payload", m.Protocol, m.Command)
	}
	return json.Unmarshal(m.Payload, v)
}

// String is the frame as received.
func (m Message) String() string { return string(m.Raw) }

// RemoteError is a <protocol>:error the runtime sent in reply to a request.
type RemoteError struct {
	Protocol, Command string // the request
	Message           string // the runtime's message
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s:%s: %s", e.Protocol, e.Command, e.Message)
}

// DialError is a failed connection; Response is the handshake's HTTP
// response when the server answered (its body already read and closed).
type DialError struct {
	Address  string
	Response *http.Response
	Err      error
}

func (e *DialError) Error() string { return fmt.Sprintf("connect to %s: %v", e.Address, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// ErrClosed is returned once the connection is closed and every message
// received before was taken; errors.Is finds it in what Next returns.
var ErrClosed = errors.New("connection closed")

// Client is one connection to a runtime. Its methods may be called from
// several goroutines; messages are taken in arrival order.
type Client struct {
	conn    *websocket.Conn
	opts    Options
	proto   string // the subprotocol the server chose
	writeMu sync.Mutex

	mu      sync.Mutex
	queue   []Message     // received, not taken yet
	arrived chan struct{} // signalled (cap 1) when queue grows or the reader stops
	readErr error         // why the reader stopped; set once
	done    chan struct{} // closed when the reader stops
}

// Dial connects to the runtime at address (ws:// or wss://).
func Dial(ctx context.Context, address string, o Options) (*Client, error) {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = defaultHandshakeTimeout
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = defaultReadLimit
	}
	d := websocket.Dialer{HandshakeTimeout: o.HandshakeTimeout}
	if !o.NoSubprotocol {
		d.Subprotocols = []string{Subprotocol}
	}
	conn, resp, err := d.DialContext(ctx, address, o.Header)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, &DialError{Address: address, Response: resp, Err: err}
	}
	conn.SetReadLimit(o.ReadLimit)
	c := &Client{
		conn:    conn,
		opts:    o,
		proto:   conn.Subprotocol(),
		arrived: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	go c.read()
	return c, nil
}

// Subprotocol is the WebSocket subprotocol the runtime chose ("" for none).
func (c *Client) Subprotocol() string { return c.proto }

// Close closes the connection; messages not taken yet are dropped.
func (c *Client) Close() error {
	c.writeMu.Lock()
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	err := c.conn.Close()
	<-c.done
	return err
}

// Done is closed when the connection is closed (by either side).
func (c *Client) Done() <-chan struct{} { return c.done }

// read receives frames until the connection fails.
func (c *Client) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.readErr = err
		} else {
			c.queue = append(c.queue, decodeMessage(data))
		}
		c.mu.Unlock()
		select {
		case c.arrived <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func decodeMessage(data []byte) Message {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		m = Message{}
	}
	m.Raw = data
	return m
}

// Send sends protocol:command with payload (nil sends {}), and the secret
// where Options put it.
func (c *Client) Send(protocol, command string, payload any) error {
	frame, err := c.encode(protocol, command, payload)
	if err != nil {
		return err
	}
	return c.SendRaw(frame)
}

// SendRaw sends frame as it is (a text message), for messages built by the
// caller, bad ones included.
func (c *Client) SendRaw(frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// envelope is an outgoing message; Secret is left out when empty.
type envelope struct {
	Protocol string          `json:"protocol"`
	Command  string          `json:"command"`
	Payload  json.RawMessage `json:"payload"`
	Secret   string          `json:"secret,omitempty"`
}

func (c *Client) encode(protocol, command string, payload any) ([]byte, error) {
	body := []byte("{}")
	if payload != nil {
		var err error
		if body, err = jsontext.Marshal(payload); err != nil {
			return nil, fmt.Errorf("%s:%s payload: %w", protocol, command, err)
		}
	}
	env := envelope{Protocol: protocol, Command: command, Payload: body}
	if s := c.opts.Secret; s != "" {
		if c.opts.Placement != SecretInPayload {
			env.Secret = s
		}
		if c.opts.Placement != SecretTopLevel {
			body, err := withSecret(body, s)
			if err != nil {
				return nil, fmt.Errorf("%s:%s payload: %w", protocol, command, err)
			}
			env.Payload = body
		}
	}
	return jsontext.Marshal(env)
}

// withSecret adds "secret" as the last member of the JSON object body,
// replacing one the caller gave; a body that is not an object is left as
// it is.
func withSecret(body []byte, secret string) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return body, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &members); err != nil {
		return nil, err
	}
	s, _ := jsontext.Marshal(secret)
	if _, given := members["secret"]; given {
		members["secret"] = s
		return jsontext.Marshal(members)
	}
	inner := bytes.TrimSpace(trimmed[1 : len(trimmed)-1])
	out := append([]byte{'{'}, inner...)
	if len(inner) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"secret":`...)
	out = append(out, s...)
	return append(out, '}'), nil
}

// Next returns the next message received, waiting until one arrives, ctx
// ends or the connection closes (then the error wraps ErrClosed and the
// reason, such as a *websocket.CloseError with the server's close status).
func (c *Client) Next(ctx context.Context) (Message, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue[0] = Message{}
			c.queue = c.queue[1:]
			more := len(c.queue) > 0
			c.mu.Unlock()
			if more { // another taker may be waiting
				select {
				case c.arrived <- struct{}{}:
				default:
				}
			}
			return m, nil
		}
		readErr := c.readErr
		c.mu.Unlock()
		if readErr != nil {
			return Message{}, fmt.Errorf("%w: %w", ErrClosed, readErr)
		}
		select {
		case <-c.arrived:
		case <-c.done:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("waiting for a message: %w", ctx.Err())
		}
	}
}

// Pending returns the messages received and not taken yet, and takes them.
func (c *Client) Pending() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue = nil
	return q
}

// unread puts ms back in front of the queue, in their order.
func (c *Client) unread(ms []Message) {
	if len(ms) == 0 {
		return
	}
	c.mu.Lock()
	c.queue = append(ms, c.queue...)
	c.mu.Unlock()
}

// WaitFor takes messages until one matches and returns it; the messages
// before it are dropped.
func (c *Client) WaitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return Message{}, err
		}
		if match(m) {
			return m, nil
		}
	}
}

// Collect takes messages until one matches, and returns them all, the
// matching one last.
func (c *Client) Collect(ctx context.Context, match func(Message) bool) ([]Message, error) {
	var got []Message
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, m)
		if match(m) {
			return got, nil
		}
	}
}
