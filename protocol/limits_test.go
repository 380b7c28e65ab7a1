package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// dialOrigin opens a connection as a web page of origin would ("" sends
// no Origin) and returns the HTTP status of the handshake.
func (h *harness) dialOrigin(origin string) (*wsClient, int) {
	h.t.Helper()
	header := http.Header{}
	if origin != "" {
		header.Set("Origin", origin)
	}
	c, resp, err := h.dial(fbpclient.Options{Header: header})
	if err != nil {
		if resp == nil {
			h.t.Fatalf("dial as %q: %v", origin, err)
		}
		return nil, resp.StatusCode
	}
	return c, http.StatusSwitchingProtocols
}

func TestOrigins(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed []string
		address string // Options.Address
		ok      []string
		refused []string
	}{
		{"default", nil, "",
			[]string{"", "https://app.flowhub.io", "HTTPS://APP.FLOWHUB.IO", "http://localhost", "http://localhost:8080", "https://127.0.0.1:1", "http://[::1]:3000"},
			[]string{"http://evil.example", "null", "https://app.flowhub.io.evil.example", "http://localhost.evil.example", "http://127.0.0.2", "file://", "ws://localhost", "https://flowhub.io"}},
		{"status page at the runtime's address", nil, "ws://runtime.example:3569",
			[]string{"http://runtime.example:3569", "https://app.flowhub.io", "http://localhost:8080"},
			[]string{"http://runtime.example", "http://runtime.example:3570"}},
		{"list replaces the defaults", []string{"https://mine.example"}, "ws://runtime.example:3569",
			[]string{"", "https://mine.example"},
			[]string{"https://app.flowhub.io", "http://localhost:8080", "null", "http://runtime.example:3569"}},
		{"any", []string{"*"}, "",
			[]string{"", "http://evil.example", "http://localhost"},
			[]string{"null"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withSecret("s3cret"), func(o *Options) { o.AllowedOrigins, o.Address = tc.allowed, tc.address })
			for _, o := range tc.ok {
				if _, status := h.dialOrigin(o); status != http.StatusSwitchingProtocols {
					t.Errorf("origin %q refused (%d)", o, status)
				}
			}
			for _, o := range tc.refused {
				if _, status := h.dialOrigin(o); status != http.StatusForbidden {
					t.Errorf("origin %q: status %d, want %d", o, status, http.StatusForbidden)
				}
			}
		})
	}
}

// A page of an allowed origin that does not know the secret can ask what
// the runtime is, nothing more.
func TestCrossOriginWithoutTheSecret(t *testing.T) {
	h := newHarness(t, withSecret("s3cret"))
	c, status := h.dialOrigin("https://app.flowhub.io")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", status)
	}
	rt := c.request("runtime", "getruntime", map[string]any{}, "runtime")
	if caps := rt.payloadMap()["capabilities"].([]any); len(caps) != 0 {
		t.Fatalf("capabilities %v", caps)
	}
	c.send("graph", "addnode", obj(`{"graph":"g","id":"x","component":"core/Repeat"}`))
	wantError(t, c.next(), "graph", "graph:addnode is not permitted")
	c.send("component", "source", obj(`{"name":"x","language":"go","code":"package main"}`))
	wantError(t, c.next(), "component", "component:source is not permitted")
}

func TestMaxConnections(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxConnections = 2 })
	a, b := h.connect(), h.connect()
	if _, status := h.dialOrigin(""); status != http.StatusServiceUnavailable {
		t.Fatalf("third connection: status %d, want %d", status, http.StatusServiceUnavailable)
	}
	a.request("runtime", "getruntime", map[string]any{}, "runtime")
	b.request("runtime", "getruntime", map[string]any{}, "runtime")
}

// A client that does not read while others edit is disconnected once the
// bytes waiting for it pass the bound; it never gets the whole backlog.
func TestSlowClientIsDroppedByBytes(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.SendQueueBytes = 64 << 10
		o.WriteWait = time.Hour // only the bytes may drop it
	})
	// A raw connection: fbpclient reads everything the runtime sends, and
	// this client must not read.
	d := websocket.Dialer{Subprotocols: []string{"noflo"}, HandshakeTimeout: waitLimit}
	slow, _, err := d.Dial("ws://"+h.addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	// The slow client says who it is, then stops reading.
	if err := slow.WriteJSON(map[string]any{"protocol": "runtime", "command": "getruntime"}); err != nil {
		t.Fatal(err)
	}

	editor := h.connect()
	editor.request("graph", "clear", obj(`{"id":"big"}`), "clear")
	pad := strings.Repeat("x", 100<<10)
	const edits = 200 // 20 MB: more than the socket buffers hold
	for i := 0; i < edits; i++ {
		editor.request("graph", "addnode", map[string]any{"graph": "big", "id": "n" + string(rune('a'+i%26)) + strings.Repeat("_", i/26), "component": "core/Repeat", "metadata": map[string]any{"pad": pad}}, "addnode")
	}
	editor.request("graph", "addnode", obj(`{"graph":"big","id":"marker","component":"core/Repeat"}`), "addnode")

	// Had it been kept, the slow client would read every edit up to the
	// marker; dropped, its connection ends first.
	got := 0
	for {
		_ = slow.SetReadDeadline(time.Now().Add(waitLimit))
		var m struct {
			Command string `json:"command"`
			Payload struct {
				ID string `json:"id"`
			} `json:"payload"`
		}
		if err := slow.ReadJSON(&m); err != nil {
			// Dropped for its backlog, it is told so once it reads; a
			// connection merely cut (write deadline) would end without.
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
				t.Fatalf("slow client's connection ended with %v after %d messages, want close status %d", err, got, websocket.ClosePolicyViolation)
			}
			break
		}
		got++
		if m.Command == "addnode" && m.Payload.ID == "marker" {
			t.Fatalf("slow client kept: it read all %d messages", got)
		}
	}
	editor.request("runtime", "getruntime", map[string]any{}, "runtime")
}

// A request answered with many messages is not a slow client: the send
// queue is bounded by bytes, not by a count of messages. component:list
// of a library of 1,100 components (Flowhub asks on connecting) gets every
// component and componentsready; with a queue of 1,024 messages the
// client asking was dropped before componentsready.
func TestLargeComponentListIsAnswered(t *testing.T) {
	const n = 1100
	h := newHarnessWith(t, func(o *runtime.Options) {
		for i := range n {
			o.Components = append(o.Components, participant.Component{
				Name:     fmt.Sprintf("big/C%04d", i),
				Inports:  []participant.Port{{ID: "in", Type: "any"}},
				Outports: []participant.Port{{ID: "out", Type: "any"}},
			})
		}
	})
	c := h.connect()
	c.send("component", "list", map[string]any{})
	got := 0
	for {
		m, closed, code := c.nextOrClosed()
		if closed != nil {
			t.Fatalf("connection closed (status %d) after %d component messages: %v", code, got, closed)
		}
		if m.Command == "componentsready" {
			break
		}
		if m.Command == "component" {
			got++
		}
	}
	if got < n {
		t.Fatalf("%d components before componentsready, want at least %d", got, n)
	}
}

// An HTTP connection kept alive after a request is closed once idle for
// as long as a client may stay without the secret: one request per
// connection cannot keep connections open for ever, outside
// --max-connections. (Without an idle timeout Go's server waits for the
// next request for ever.)
func TestIdleKeepAliveIsClosed(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PreAuthTimeout = 50 * time.Millisecond })
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server closed the connection itself after the answer: nothing kept alive to test")
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle keep-alive connection: %v, want it closed by the server (EOF)", err)
	}
}
