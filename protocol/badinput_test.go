package protocol

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestBadInputGetsErrorsAndKeepsTheConnection(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	c.wantRefused(t, []refusal{
		{"not JSON", `{"protocol":`, "runtime", "Invalid message: not a JSON object"},
		{"JSON array", `[1,2,3]`, "runtime", "Invalid message: not a JSON object"},
		{"JSON string", `"graph"`, "runtime", "Invalid message: not a JSON object"},
		{"no protocol", `{"command":"getruntime","payload":{}}`, "runtime", "protocol and command must be non-empty strings"},
		{"protocol not a string", `{"protocol":5,"command":"x","payload":{}}`, "runtime", "protocol and command must be non-empty strings"},
		{"unknown protocol", `{"protocol":"nosuch","command":"x","payload":{}}`, "runtime", `Unknown protocol "nosuch"`},
		{"unknown command", `{"protocol":"network","command":"explode","payload":{}}`, "network", `Unknown command "explode" for protocol "network"`},
		{"payload not an object", `{"protocol":"graph","command":"clear","payload":[1]}`, "graph", "payload must be an object"},
		{"clear without id", `{"protocol":"graph","command":"clear","payload":{"name":"x"}}`, "graph", "Invalid graph:clear payload: id is required"},
		{"missing payload for addnode", `{"protocol":"graph","command":"addnode"}`, "graph", "No graph specified"},
		{"edges not a list", `{"protocol":"network","command":"edges","payload":{"graph":"g","edges":5}}`, "network", "edges: Invalid type. Expected: array"},
		{"packet with bad event", `{"protocol":"runtime","command":"packet","payload":{"graph":"g","port":"in","event":"explode"}}`, "runtime", "event: event must be one of the following"},
		{"list with junk", `{"protocol":"component","command":"getsource","payload":{"name":7}}`, "component", "name: Invalid type. Expected: string"},
	}) // still serving afterwards: getruntime works and nothing else is pending
}

func TestMissingPayloadIsAnEmptyOne(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	c.send("runtime", "getruntime", nil)
	m := c.expect("runtime", "runtime")
	if m.payloadMap()["type"] != "msgflo" {
		t.Fatalf("runtime reply %s", m.Text)
	}
	c.send("component", "list", nil)
	c.waitFor("component", "componentsready", nil)
}

func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ReadLimit = 1024 })
	big, small := h.connect(), h.connect()
	// The write itself may fail: the server closes as soon as it has read
	// the frame header, with the rest of the frame unread.
	_ = big.cl.SendRaw([]byte(`{"protocol":"runtime","command":"getruntime","payload":{"pad":"` + strings.Repeat("x", 4096) + `"}}`))
	m, closed, code := big.nextOrClosed()
	if closed == nil {
		t.Fatalf("oversized frame was answered: %s", m.Text)
	}
	// Normally the close frame says why (1009); when the unread rest of
	// the frame makes the kernel reset the connection first, the client
	// sees only the reset.
	if code != 0 && code != websocket.CloseMessageTooBig {
		t.Fatalf("connection closed with %v, want close code %d", closed, websocket.CloseMessageTooBig)
	}
	small.request("runtime", "getruntime", map[string]any{}, "runtime")
}

func TestConnectionWithoutSubprotocol(t *testing.T) {
	h := newHarness(t)
	c := h.connectWith(false)
	c.request("runtime", "getruntime", map[string]any{}, "runtime")
}

func TestNoGoroutineLeakAfterAbuse(t *testing.T) {
	h := newHarness(t)
	warm := h.connect()
	warm.request("runtime", "getruntime", map[string]any{}, "runtime")
	base := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		c := h.connect()
		c.sendRaw(`{"protocol":`)
		c.sendRaw(`{"protocol":"graph","command":"addnode","payload":{"graph":"none","id":"x","component":"y"}}`)
		c.sendRaw(`{"protocol":"graph","command":"clear","payload":{"id":"leak` + string(rune('a'+i)) + `"}}`)
		c.next()
		c.next()
		_ = c.cl.Close() // returns once the connection's reader stopped
	}
	// Connections are torn down asynchronously: wait until the server has
	// let go of all of them.
	deadline := time.Now().Add(waitLimit)
	for h.srv.Clients() != 1 || runtime.NumGoroutine() > base+2 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after; clients %d", base, runtime.NumGoroutine(), h.srv.Clients())
		}
		runtime.Gosched() // polling a count: no event exists for "goroutine exited"
	}
	// Edits of the other clients were broadcast to warm too.
	warm.send("runtime", "getruntime", map[string]any{})
	warm.waitFor("runtime", "runtime", nil)
}

func TestSecretGatesCapabilities(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Secret = "s3cret"
		o.AnonymousCapabilities = []string{"protocol:runtime", "graph:readonly"}
	})
	anon, admin := h.connect(), h.connect()

	rt := anon.request("runtime", "getruntime", map[string]any{}, "runtime")
	caps := rt.payloadMap()["capabilities"].([]any)
	if len(caps) != 2 {
		t.Fatalf("anonymous capabilities %v", caps)
	}
	if all := rt.payloadMap()["allCapabilities"].([]any); len(all) <= 2 {
		t.Fatalf("allCapabilities %v", all)
	}
	anon.send("graph", "clear", obj(`{"id":"x"}`))
	wantError(t, anon.next(), "graph", "graph:clear is not permitted")
	anon.send("graph", "clear", obj(`{"id":"x","secret":"wrong"}`))
	wantError(t, anon.next(), "graph", "graph:clear is not permitted")

	// Legacy payload.secret and protocol 0.8 top-level secret both work.
	admin.request("graph", "clear", obj(`{"id":"x","secret":"s3cret"}`), "clear")
	anon.expect("graph", "clear") // read-only clients follow edits
	if err := admin.sendJSON(map[string]any{"protocol": "graph", "command": "addnode", "secret": "s3cret",
		"payload": map[string]any{"id": "n", "component": "core/Repeat", "graph": "x"}}); err != nil {
		t.Fatal(err)
	}
	admin.expect("graph", "addnode")
	anon.expect("graph", "addnode")
	// Without capability for the network, anonymous clients hear nothing of it.
	admin.request("network", "start", obj(`{"graph":"x","secret":"s3cret"}`), "started")
	if extra := anon.drain(); len(extra) > 0 {
		t.Fatalf("anonymous client got %v", extra)
	}
}
