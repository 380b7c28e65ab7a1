package fbpclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// waitLimit guards every wait against a hang; it is not a speed requirement.
const waitLimit = 10 * time.Second

// fakeRuntime answers as a scripted runtime: for each frame it receives it
// records it and sends what answer returns.
type fakeRuntime struct {
	srv      *httptest.Server
	received chan map[string]any
}

func newFakeRuntime(t *testing.T, answer func(msg map[string]any) []string) *fakeRuntime {
	t.Helper()
	f := &fakeRuntime{received: make(chan map[string]any, 100)}
	up := websocket.Upgrader{Subprotocols: []string{"noflo"}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Refuse") != "" {
			http.Error(w, "go away", http.StatusForbidden)
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var msg map[string]any
			if err := json.Unmarshal(data, &msg); err != nil {
				msg = map[string]any{"raw": string(data)}
			}
			f.received <- msg
			for _, out := range answer(msg) {
				if out == "CLOSE" {
					return
				}
				if out == "CLOSE 1008" {
					msg := websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "no")
					_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(waitLimit))
					return
				}
				if err := conn.WriteMessage(websocket.TextMessage, []byte(out)); err != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRuntime) url() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

func dial(t *testing.T, f *fakeRuntime, o Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, err := Dial(ctx, f.url(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func TestSecretPlacement(t *testing.T) {
	f := newFakeRuntime(t, func(map[string]any) []string { return nil })
	for _, tc := range []struct {
		placement         SecretPlacement
		topLevel, payload bool
	}{
		{SecretBoth, true, true},
		{SecretTopLevel, true, false},
		{SecretInPayload, false, true},
	} {
		c := dial(t, f, Options{Secret: "s3", Placement: tc.placement})
		if c.Subprotocol() != "noflo" {
			t.Fatalf("subprotocol %q, want noflo", c.Subprotocol())
		}
		if err := c.Send("graph", "clear", map[string]any{"id": "g"}); err != nil {
			t.Fatal(err)
		}
		msg := <-f.received
		payload := msg["payload"].(map[string]any)
		if _, ok := msg["secret"]; ok != tc.topLevel || (ok && msg["secret"] != "s3") {
			t.Errorf("placement %d: top-level secret %v in %v", tc.placement, msg["secret"], msg)
		}
		if _, ok := payload["secret"]; ok != tc.payload || (ok && payload["secret"] != "s3") {
			t.Errorf("placement %d: payload secret %v in %v", tc.placement, payload["secret"], msg)
		}
		if payload["id"] != "g" {
			t.Errorf("payload lost its members: %v", payload)
		}
	}
	// No secret: none sent, and a nil payload is {}.
	c := dial(t, f, Options{})
	if err := c.Send("runtime", "getruntime", nil); err != nil {
		t.Fatal(err)
	}
	msg := <-f.received
	if _, ok := msg["secret"]; ok || len(msg["payload"].(map[string]any)) != 0 {
		t.Errorf("without a secret: %v", msg)
	}
}

func TestWithSecretKeepsThePayload(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, `{"secret":"x"}`},
		{`{"a":1,"b":"<>"}`, `{"a":1,"b":"<>","secret":"x"}`},
		{`{"secret":"old","a":1}`, `{"a":1,"secret":"x"}`},
		{`[1]`, `[1]`},
	} {
		got, err := withSecret([]byte(tc.in), "x")
		if err != nil || string(got) != tc.want {
			t.Errorf("withSecret(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// Request returns the reply; what arrived before it stays for Next, in
// order; an error reply is a RemoteError.
func TestRequestKeepsOtherMessages(t *testing.T) {
	f := newFakeRuntime(t, func(msg map[string]any) []string {
		switch msg["command"] {
		case "start":
			return []string{
				`{"protocol":"network","command":"data","payload":{"n":1}}`,
				`{"protocol":"runtime","command":"packet","payload":{"n":2}}`,
				`{"protocol":"network","command":"started","payload":{"graph":"g"}}`,
			}
		case "addnode":
			return []string{`{"protocol":"graph","command":"error","payload":{"message":"Requested graph not found"}}`}
		}
		return nil
	})
	c := dial(t, f, Options{})
	m, err := c.RequestMessage(ctxT(t), wire.Start{Graph: "g"})
	if err != nil || !m.Is("network", "started") {
		t.Fatalf("start: %v %v", m, err)
	}
	if w, err := m.Wire(); err != nil || w.(wire.Started).Graph != "g" {
		t.Fatalf("started as a wire message: %#v %v", w, err)
	}
	for _, want := range []string{"data", "packet"} {
		m, err := c.Next(ctxT(t))
		if err != nil || m.Command != want {
			t.Fatalf("next: %v %v, want %s", m, err, want)
		}
	}
	_, err = c.Request(ctxT(t), "graph", "addnode", map[string]any{"graph": "h"})
	var re *RemoteError
	if !errors.As(err, &re) || re.Message != "Requested graph not found" {
		t.Fatalf("addnode: %v, want a RemoteError", err)
	}
}

func TestComponentsAndGetRuntime(t *testing.T) {
	f := newFakeRuntime(t, func(msg map[string]any) []string {
		switch msg["command"] {
		case "list":
			return []string{
				`{"protocol":"component","command":"component","payload":{"name":"a"}}`,
				`{"protocol":"network","command":"status","payload":{}}`,
				`{"protocol":"component","command":"component","payload":{"name":"b"}}`,
				`{"protocol":"component","command":"componentsready","payload":2}`,
			}
		case "getruntime":
			return []string{`{"protocol":"runtime","command":"runtime","payload":{"type":"x","version":"0.8","capabilities":["protocol:graph"]}}`}
		}
		return nil
	})
	c := dial(t, f, Options{})
	list, err := c.Components(ctxT(t))
	if err != nil || len(list) != 2 || list[1].Name != "b" {
		t.Fatalf("components: %v %v", list, err)
	}
	if m, err := c.Next(ctxT(t)); err != nil || !m.Is("network", "status") {
		t.Fatalf("the status sent during the listing: %v %v", m, err)
	}
	rt, err := c.GetRuntime(ctxT(t))
	if err != nil || rt.Type != "x" || !rt.Has("protocol:graph") || rt.Has("protocol:network") {
		t.Fatalf("getruntime: %+v %v", rt, err)
	}
}

func TestNextWaitsForTheDeadlineAndTheClose(t *testing.T) {
	f := newFakeRuntime(t, func(msg map[string]any) []string {
		if msg["command"] == "bye" {
			return []string{`not json`, "CLOSE"}
		}
		return nil
	})
	c := dial(t, f, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
	if err := c.Send("x", "bye", nil); err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(ctxT(t))
	if err != nil || m.Protocol != "" || string(m.Raw) != "not json" {
		t.Fatalf("a frame that is not JSON: %+v %v", m, err)
	}
	if _, err := c.Next(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after the server closed: %v", err)
	}
}

// The error after a close says why: the server's close status is there
// for errors.As.
func TestNextSaysWhyTheServerClosed(t *testing.T) {
	f := newFakeRuntime(t, func(map[string]any) []string { return []string{"CLOSE 1008"} })
	c := dial(t, f, Options{})
	if err := c.Send("x", "bye", nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.Next(ctxT(t))
	var ce *websocket.CloseError
	if !errors.Is(err, ErrClosed) || !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("after a close with status 1008: %v", err)
	}
}

func TestWaitForAndCollect(t *testing.T) {
	f := newFakeRuntime(t, func(msg map[string]any) []string {
		return []string{
			`{"protocol":"a","command":"1","payload":{}}`,
			`{"protocol":"a","command":"2","payload":{}}`,
			`{"protocol":"a","command":"3","payload":{}}`,
			`{"protocol":"a","command":"4","payload":{}}`,
		}
	})
	c := dial(t, f, Options{})
	if err := c.Send("x", "go", nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.Collect(ctxT(t), func(m Message) bool { return m.Command == "2" })
	if err != nil || len(got) != 2 || got[0].Command != "1" {
		t.Fatalf("collect: %v %v", got, err)
	}
	m, err := c.WaitFor(ctxT(t), func(m Message) bool { return m.Command == "4" })
	if err != nil || m.Command != "4" {
		t.Fatalf("wait for: %v %v", m, err)
	}
	if p := c.Pending(); len(p) != 0 {
		t.Fatalf("pending after WaitFor took 3 and 4: %v", p)
	}
}

func TestDialErrorCarriesTheResponse(t *testing.T) {
	f := newFakeRuntime(t, func(map[string]any) []string { return nil })
	_, err := Dial(ctxT(t), f.url(), Options{Header: http.Header{"X-Refuse": {"1"}}})
	var de *DialError
	if !errors.As(err, &de) || de.Response == nil || de.Response.StatusCode != http.StatusForbidden {
		t.Fatalf("refused handshake: %v", err)
	}
}
