package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runTool runs the binary with args and returns its exit code and output.
func runTool(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runToolEnv(t, nil, args...)
}

// runToolEnv is runTool with env (nil: this process's environment).
func runToolEnv(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(runtimeBinary(t), args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errOut.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errOut.String()
}

// trace start, packets, trace dump > file, trace show file: the command
// line round trip on the binary.
func TestTraceDumpAndShow(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "demo.fbp", demoFBP)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path)
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)

	if code, _, stderr := runTool(t, "trace", "start", "--address", ws, "--secret", testSecret); code != 0 {
		t.Fatalf("trace start: exit %d: %s", code, stderr)
	}
	for i := 1; i <= 3; i++ {
		c.packetThrough("demo", map[string]any{"n": i})
	}
	// The coordinator records what its tap sees; wait until all three are in.
	var dump string
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, stdout, stderr := runTool(t, "trace", "dump", "--address", ws, "--graph", "demo", "--secret", testSecret)
		if code != 0 {
			t.Fatalf("trace dump: exit %d: %s", code, stderr)
		}
		dump = stdout
		var ft struct{ Events []json.RawMessage }
		if err := json.Unmarshal([]byte(dump), &ft); err != nil {
			t.Fatalf("dump is not a flowtrace: %v\n%s", err, dump)
		}
		if len(ft.Events) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flowtrace has %d events after 30 s: %s", len(ft.Events), dump)
		}
	}
	file := filepath.Join(t.TempDir(), "trace.json")
	if err := os.WriteFile(file, []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	code, shown, stderr := runTool(t, "trace", "show", file)
	if code != 0 {
		t.Fatalf("trace show: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(shown), "\n")
	if len(lines) != 3 {
		t.Fatalf("trace show printed %d lines, want 3:\n%s", len(lines), shown)
	}
	for i, line := range lines {
		want := fmt.Sprintf(` demo: first OUT -> IN last DATA {"n":%d} [`, i+1)
		if !strings.Contains(line, want) {
			t.Fatalf("line %d %q does not say %q", i, line, want)
		}
	}

	// Failures are reported, with an exit code, never a hang.
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"wrong secret":  {[]string{"trace", "dump", "--address", ws, "--graph", "demo", "--secret", "nope"}, 1, "trace"},
		"unknown graph": {[]string{"trace", "dump", "--address", ws, "--graph", "nope", "--secret", testSecret}, 1, "Requested graph not found"},
		"no runtime":    {[]string{"trace", "dump", "--address", "ws://127.0.0.1:1", "--secret", testSecret}, 1, "connect to"},
		"bad command":   {[]string{"trace", "pause"}, 2, "unknown command"},
		"show no file":  {[]string{"trace", "show", filepath.Join(t.TempDir(), "absent.json")}, 1, "no such file"},
		"show not JSON": {[]string{"trace", "show", writeFile(t, "x.json", "not json")}, 1, "is not a flowtrace"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runTool(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}
