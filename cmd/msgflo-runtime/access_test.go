package main

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The access flags of the binary, end to end: a client connects to the
// built runtime and is let in, or not, as the README says.

// wsClient is one WebSocket connection to the runtime under test.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

// dialOrigin connects with the given Origin header ("" for none).
func dialOrigin(ws, origin string) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: []string{"noflo"}, HandshakeTimeout: 10 * time.Second}
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return d.Dial(ws, h)
}

func dialClient(t *testing.T, ws, origin string) *wsClient {
	t.Helper()
	conn, _, err := dialOrigin(ws, origin)
	if err != nil {
		t.Fatalf("connect %s (Origin %q): %v", ws, origin, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}
}

// ask sends msg and returns the first reply of its protocol that is its
// command or an error.
func (c *wsClient) ask(msg map[string]any) (command string, payload map[string]any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(msg); err != nil {
		c.t.Fatal(err)
	}
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		var m struct {
			Protocol string         `json:"protocol"`
			Command  string         `json:"command"`
			Payload  map[string]any `json:"payload"`
		}
		if err := c.conn.ReadJSON(&m); err != nil {
			c.t.Fatalf("no reply to %v: %v", msg, err)
		}
		if m.Protocol == msg["protocol"] && (m.Command == msg["command"] || m.Command == "error") {
			return m.Command, m.Payload
		}
		if msg["command"] == "getruntime" && m.Command == "runtime" {
			return m.Command, m.Payload
		}
	}
}

// clear asks for graph:clear, with the secret at the top level or in the
// payload (older clients), and reports whether it was done.
func (c *wsClient) clear(secret string, inPayload bool) (done bool, refusal string) {
	c.t.Helper()
	payload := map[string]any{"id": "authtest"}
	msg := map[string]any{"protocol": "graph", "command": "clear", "payload": payload}
	if secret != "" {
		if inPayload {
			payload["secret"] = secret
		} else {
			msg["secret"] = secret
		}
	}
	cmd, p := c.ask(msg)
	if cmd == "clear" {
		return true, ""
	}
	m, _ := p["message"].(string)
	return false, m
}

func (c *wsClient) capabilities(secret string) []string {
	c.t.Helper()
	msg := map[string]any{"protocol": "runtime", "command": "getruntime", "payload": map[string]any{}}
	if secret != "" {
		msg["secret"] = secret
	}
	cmd, p := c.ask(msg)
	if cmd != "runtime" {
		c.t.Fatalf("getruntime answered %s %v", cmd, p)
	}
	var caps []string
	for _, v := range p["capabilities"].([]any) {
		caps = append(caps, v.(string))
	}
	return caps
}

// requireSecret checks that the runtime gives full access with secret and
// none without it (or with a wrong one).
func requireSecret(t *testing.T, c *wsClient, secret string) {
	t.Helper()
	for _, wrong := range []string{"", "not-" + secret} {
		done, refusal := c.clear(wrong, false)
		if done || refusal != "graph:clear is not permitted" {
			t.Fatalf("graph:clear with secret %q: done %v, refusal %q", wrong, done, refusal)
		}
	}
	for _, inPayload := range []bool{false, true} {
		if done, refusal := c.clear(secret, inPayload); !done {
			t.Fatalf("graph:clear with the secret (in payload: %v) refused: %s", inPayload, refusal)
		}
	}
	if caps := c.capabilities(secret); !slices.Contains(caps, "protocol:graph") || !slices.Contains(caps, "network:control") {
		t.Fatalf("capabilities with the secret: %v", caps)
	}
}

func TestSecretFlag(t *testing.T) {
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0", "--secret", "s3cret-flag")
	ws, _ := p.ready(t)
	c := dialClient(t, ws, "")
	requireSecret(t, c, "s3cret-flag")
	if caps := c.capabilities(""); len(caps) != 0 {
		t.Fatalf("capabilities without the secret: %v, want none", caps)
	}
}

func TestSecretFromEnvironment(t *testing.T) {
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET=s3cret-env"}, "--port", "0")
	ws, _ := p.ready(t)
	requireSecret(t, dialClient(t, ws, ""), "s3cret-env")
}

func TestAnonymousCapabilities(t *testing.T) {
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0", "--secret", "s3cret", "--anonymous-capabilities", "protocol:runtime,graph:readonly")
	ws, _ := p.ready(t)
	c := dialClient(t, ws, "")
	if caps := c.capabilities(""); !slices.Equal(caps, []string{"protocol:runtime", "graph:readonly"}) {
		t.Fatalf("capabilities without the secret: %v", caps)
	}
	requireSecret(t, c, "s3cret")
}

// --allow-origin refuses the WebSocket handshake of a page from any other
// origin; clients that send no Origin (not browsers) are let in.
func TestAllowOrigin(t *testing.T) {
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0", "--secret", "s", "--allow-origin", "https://ok.example,https://also.example")
	ws, _ := p.ready(t)
	for _, origin := range []string{"https://evil.example", "https://ok.example.evil.example", "http://ok.example"} {
		conn, resp, err := dialOrigin(ws, origin)
		if err == nil {
			conn.Close()
			t.Fatalf("handshake from Origin %s accepted", origin)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("handshake from Origin %s: %v, response %v; want 403", origin, err, resp)
		}
	}
	for _, origin := range []string{"https://ok.example", "https://also.example", ""} {
		c := dialClient(t, ws, origin)
		if done, refusal := c.clear("s", false); !done {
			t.Fatalf("Origin %q: graph:clear refused: %s", origin, refusal)
		}
	}
}
