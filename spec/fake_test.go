package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeRuntime is a scripted FBP runtime with one component, x/Echo, whose
// source carries fbp-spec tests: a runtime:packet comes back on out, "boom"
// is answered with a network:error and "silent" with nothing.
func fakeRuntime(t *testing.T, tests string) string {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: []string{"noflo"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		send := func(protocol, command string, payload any) {
			_ = conn.WriteJSON(map[string]any{"protocol": protocol, "command": command, "payload": payload})
		}
		for {
			var m struct {
				Protocol, Command string
				Payload           map[string]any
			}
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			delete(m.Payload, "secret")
			switch m.Protocol + ":" + m.Command {
			case "runtime:getruntime":
				send("runtime", "runtime", map[string]any{"type": "fake", "version": "0.8",
					"capabilities": []string{"protocol:graph", "protocol:network", "protocol:runtime", "component:getsource"}})
			case "component:list":
				send("component", "component", map[string]any{"name": "x/Echo", "inPorts": []any{map[string]any{"id": "in"}}, "outPorts": []any{map[string]any{"id": "out"}}})
				send("component", "componentsready", 1)
			case "component:getsource":
				send("component", "source", map[string]any{"name": "Echo", "library": "x", "language": "yaml", "code": "", "tests": tests})
			case "network:start":
				send("network", "started", m.Payload)
			case "network:stop":
				send("network", "stopped", m.Payload)
			case "runtime:packet":
				send("runtime", "packetsent", m.Payload)
				switch m.Payload["payload"] {
				case "boom":
					send("network", "error", map[string]any{"message": "it went boom", "graph": m.Payload["graph"]})
				case "silent":
				default:
					m.Payload["port"] = "out"
					send("runtime", "packet", m.Payload)
				}
			default:
				send(m.Protocol, m.Command, m.Payload)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

const echoTests = `
topic: x/Echo
cases:
- name: echo
  assertion: passes
  inputs: { in: 1 }
  expect: { out: { equals: 1 } }
- name: a network error
  assertion: fails
  inputs: { in: boom }
  expect: { out: { equals: boom } }
- name: nothing comes
  assertion: fails when the time is up
  timeout: 50
  inputs: { in: silent }
  expect: { out: { equals: silent } }
`

// With --component-tests the suites in the components' sources run (on a
// runtime without a broker: this is the runner's whole flow in the fast
// tier).
func TestComponentTests(t *testing.T) {
	addr := fakeRuntime(t, echoTests)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, _ := NewReporter("human", &out, false)
	results, err := RunFiles(ctx, Config{Options: Options{Address: addr}, ComponentTests: true}, nil, rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Suite.File != "component x/Echo" || len(results[0].Cases) != 3 {
		t.Fatalf("results %+v\n%s", results, out.String())
	}
	for _, c := range results[0].Cases {
		if want := wantStatus(c.Case); c.Status != want {
			t.Errorf("%s: %s (%v), want %s", c.Case.Name, c.Status, c.Err, want)
		}
	}
	if err := results[0].Cases[1].Err; err == nil || !strings.Contains(err.Error(), "it went boom") {
		t.Errorf("the network:error's message is not in the failure: %v", err)
	}
	if code := ExitCode(results); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	// Without the flag there is nothing to run.
	results, err = RunFiles(ctx, Config{Options: Options{Address: addr}}, nil, rep)
	if err != nil || len(results) != 0 {
		t.Errorf("without component tests: %v %v", results, err)
	}
}

// A runtime that lacks a capability fbp-spec needs is refused.
func TestConnectChecksCapabilities(t *testing.T) {
	up := websocket.Upgrader{Subprotocols: []string{"noflo"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		_, _, _ = conn.ReadMessage()
		payload, _ := json.Marshal(map[string]any{"type": "x", "version": "0.8", "capabilities": []string{"protocol:graph"}})
		_ = conn.WriteJSON(map[string]any{"protocol": "runtime", "command": "runtime", "payload": json.RawMessage(payload)})
		_, _, _ = conn.ReadMessage()
	}))
	defer srv.Close()
	_, err := Connect(context.Background(), Options{Address: "ws" + strings.TrimPrefix(srv.URL, "http"), ConnectTimeout: time.Millisecond})
	if err == nil || err.Error() != "Runtime doesn't provide protocol:network" {
		t.Fatalf("connect: %v", err)
	}
}
