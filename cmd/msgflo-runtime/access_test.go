package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// The access flags of the binary, end to end: a client connects to the
// built runtime and is let in, or not, as the README says.

// wsClient is one connection to the runtime under test
// (protocol/fbpclient), sending messages as the test writes them.
type wsClient struct {
	t  *testing.T
	cl *fbpclient.Client
}

// dialWS connects with header (nil for none); the HTTP response of a
// refused handshake is returned with the error.
func dialWS(t *testing.T, ws string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := fbpclient.Dial(ctx, ws, fbpclient.Options{Header: header})
	if err != nil {
		var de *fbpclient.DialError
		if errors.As(err, &de) {
			return nil, de.Response, err
		}
		return nil, nil, err
	}
	t.Cleanup(func() { cl.Close() })
	return &wsClient{t: t, cl: cl}, nil, nil
}

// dialClient connects with the given Origin header ("" for none).
func dialClient(t *testing.T, ws, origin string) *wsClient {
	t.Helper()
	c, _, err := dialWS(t, ws, originHeader(origin))
	if err != nil {
		t.Fatalf("connect %s (Origin %q): %v", ws, origin, err)
	}
	return c
}

// originHeader is a handshake header with Origin origin ("" for none).
func originHeader(origin string) http.Header {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return h
}

// write sends msg as it is.
func (c *wsClient) write(msg map[string]any) {
	c.t.Helper()
	sendJSON(c.t, c.cl, msg)
}

// sendJSON sends msg, as JSON, as it is (the secret where msg has it).
func sendJSON(t *testing.T, cl *fbpclient.Client, msg any) {
	t.Helper()
	frame, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SendRaw(frame); err != nil {
		t.Fatal(err)
	}
}

// next returns the next message, within 30 s.
func (c *wsClient) next(after string) map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := c.cl.Next(ctx)
	if err != nil {
		c.t.Fatalf("no reply to %s: %v", after, err)
	}
	var reply map[string]any
	if err := json.Unmarshal(m.Raw, &reply); err != nil {
		c.t.Fatalf("reply to %s is not JSON: %q", after, m.Raw)
	}
	return reply
}

// roundTrip sends one message and returns the first message received.
func (c *wsClient) roundTrip(msg map[string]any) map[string]any {
	c.t.Helper()
	c.write(msg)
	return c.next(fmt.Sprint(msg))
}

// ask sends msg and returns the first reply of its protocol that is its
// command or an error.
func (c *wsClient) ask(msg map[string]any) (command string, payload map[string]any) {
	c.t.Helper()
	c.write(msg)
	for {
		m := c.next(fmt.Sprint(msg))
		command, _ := m["command"].(string)
		payload, _ := m["payload"].(map[string]any)
		if m["protocol"] == msg["protocol"] && (command == msg["command"] || command == "error") {
			return command, payload
		}
		if msg["command"] == "getruntime" && command == "runtime" {
			return command, payload
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
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0", "--secret", "s3cret-flag")
	ws, _ := p.ready(t)
	c := dialClient(t, ws, "")
	requireSecret(t, c, "s3cret-flag")
	if caps := c.capabilities(""); len(caps) != 0 {
		t.Fatalf("capabilities without the secret: %v, want none", caps)
	}
}

func TestAnonymousCapabilities(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0", "--secret", "s3cret", "--anonymous-capabilities", "protocol:runtime,graph:readonly")
	ws, _ := p.ready(t)
	c := dialClient(t, ws, "")
	if caps := c.capabilities(""); !slices.Equal(caps, []string{"protocol:runtime", "graph:readonly"}) {
		t.Fatalf("capabilities without the secret: %v", caps)
	}
	requireSecret(t, c, "s3cret")
}

// --allow-origin refuses the WebSocket handshake of a page from any other
// origin, the default ones (Flowhub's) included: the list replaces them;
// clients that send no Origin (not browsers) are let in.
func TestAllowOrigin(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0", "--secret", "s", "--allow-origin", "https://ok.example,https://also.example")
	ws, _ := p.ready(t)
	for _, origin := range []string{"https://evil.example", "https://ok.example.evil.example", "http://ok.example", "https://app.flowhub.io"} {
		_, resp, err := dialWS(t, ws, originHeader(origin))
		if err == nil {
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
