package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// runTest runs `msgflo-runtime test ARGS` and returns its stdout, stderr
// and exit code.
func runTest(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runTestEnv(t, nil, args...)
}

// runTestEnv is runTest with variables env added to the environment.
func runTestEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	// No PATH: no Node.js (nor anything else) is needed.
	env = append(append(os.Environ(), "MSGFLO_BROKER=", "MSGFLO_SECRET=", "PATH="+t.TempDir()), env...)
	code, stdout, stderr := runToolEnv(t, env, append([]string{"test"}, args...)...)
	return stdout, stderr, code
}

// `msgflo-runtime test` runs the project's suites against this runtime,
// started for the run on the embedded broker, with nothing on PATH (no
// Node.js), with fbp-spec's exit codes:
// 0 passed, 2 a case failed, 1 the run could not be done.
func TestTestSubcommand(t *testing.T) {
	out, errText, code := runTest(t, "../../spec/")
	if code != 0 || !strings.Contains(out, "\n13 passed, 0 failed, 0 skipped\n") || !strings.Contains(out, "arrives unchanged: ✓") {
		t.Fatalf("spec/: exit %d\n%s\n%s", code, out, errText)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colours when stdout is not a terminal:\n%s", out)
	}
	out, _, code = runTest(t, "--format", "tap", "../../spec/testdata/msgflo/sequences.yaml")
	if code != 2 || !strings.HasPrefix(out, "TAP version 13\n") || !strings.Contains(out, "not ok 3 - ") {
		t.Fatalf("a failing suite: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{},
		{"--format", "yaml", "../../spec/"},
		{"--address", "ws://127.0.0.1:1/", "--start-timeout", "0.1", "../../spec/"},
		{"--timeout", "1e300", "../../spec/"},
		{"../../spec/no-such-file.yaml"},
	} {
		if _, errText, code := runTest(t, args...); code != 1 {
			t.Errorf("test %v: exit %d, want 1 (%s)", args, code, errText)
		}
	}
}

// With --address, test presents MSGFLO_SECRET when --secret is not given
// (the settings table); without the secret the runtime answers nothing
// but runtime:runtime, and the run cannot be done.
func TestTestSubcommandSecretFromEnvironment(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0")
	ws, _ := p.ready(t)
	out, errText, code := runTestEnv(t, []string{"MSGFLO_SECRET=" + testSecret}, "--address", ws, "../../spec/repeat.yaml")
	if code != 0 || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("MSGFLO_SECRET: exit %d\n%s\n%s", code, out, errText)
	}
	if _, errText, code := runTest(t, "--address", ws, "../../spec/repeat.yaml"); code != 1 {
		t.Fatalf("no secret: exit %d, want 1\n%s", code, errText)
	}
}

// Tests shipped with a component: component:source stores its tests
// field in the component directory's spec folder, component:getsource
// gives them back, and `test --component-tests` runs them against the
// runtime, verdicts and all (one case passes, one must fail).
func TestComponentTestsShippedWithComponents(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "components")
	lib := writeFile(t, "lib.json", mustJSON(map[string]any{"msgflo": map[string]any{
		"namespace": "mine",
		"handlers":  map[string]string{".py": runtimeBinary(t) + " participant core/Repeat --role #ROLE"},
	}}))
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", dir, "--allow-setsource")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	tests := `name: "Echo's own tests"
topic: mine/Echo
fixture:
  type: fbp
  data: |
    INPORT=e.IN:IN
    OUTPORT=e.OUT:OUT
    e(mine/Echo)
cases:
- name: a string
  assertion: comes back
  inputs: {in: "hello"}
  expect: {out: {equals: "hello"}}
- name: a wrong expectation
  assertion: fails
  inputs: {in: 1}
  expect: {out: {equals: 2}}
`
	c.send("component", "source", map[string]any{"name": "Echo", "language": "python", "code": "# a Repeat\n", "tests": tests})
	c.waitFor("component", "component", func(m map[string]any) bool { return m["name"] == "mine/Echo" })
	if data, err := os.ReadFile(filepath.Join(dir, "spec", "Echo.yaml")); err != nil || string(data) != tests {
		t.Fatalf("spec/Echo.yaml: %q %v", data, err)
	}
	c.send("component", "getsource", map[string]any{"name": "mine/Echo"})
	if src := c.waitFor("component", "source", nil); src["tests"] != tests {
		t.Fatalf("getsource's tests %q, want what source gave", src["tests"])
	}
	out, errText, code := runTest(t, "--address", ws, "--secret", testSecret, "--component-tests", "--format", "tap")
	if code != 2 || !strings.Contains(out, "ok 1 - ") || !strings.Contains(out, "not ok 2 - ") || strings.Contains(out, "not ok 1 ") {
		t.Fatalf("component tests: exit %d, want 2 with case 1 passed and case 2 failed\n%s\n%s", code, out, errText)
	}
}

// `msgflo-runtime test` prints the runtime's own text in a run's error
// (here its runtime:error answer to getruntime) without the control
// characters that would retitle or clear the terminal.
func TestTestSubcommandErrorKeepsTerminalControlOut(t *testing.T) {
	t.Parallel()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"runtime","command":"error","payload":{"message":"\u001b]2;pwned\u0007\u001b[2J\u202e"}}`))
		}
	}))
	defer srv.Close()
	_, errText, code := runTest(t, "--address", "ws"+strings.TrimPrefix(srv.URL, "http"), "--start-timeout", "1", "../../spec/")
	if code != 1 || !strings.Contains(errText, "pwned") {
		t.Fatalf("exit %d, stderr %q: want 1 and the runtime's message", code, errText)
	}
	if i := strings.IndexFunc(strings.TrimSuffix(errText, "\n"), terminalControl); i >= 0 {
		t.Fatalf("control character %U on stderr: %q", []rune(errText[i:])[0], errText)
	}
}
