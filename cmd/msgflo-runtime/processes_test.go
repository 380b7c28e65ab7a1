package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var startedPID = regexp.MustCompile(`started participant process .*pid=(\d+) role=(\S+)`)

// pidsOf reads the participant processes the runtime says it started.
func pidsOf(p *proc) map[string]int {
	out := map[string]int{}
	for _, m := range startedPID.FindAllStringSubmatch(p.stderrText(), -1) {
		pid, _ := strconv.Atoi(m[1])
		out[m[2]] = pid
	}
	return out
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// waitGone waits until pid is no longer in the process table (exited and
// reaped: a zombie still answers kill 0).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still exists", pid)
		}
		time.Sleep(20 * time.Millisecond) // polling the process table: no event to wait on
	}
}

func TestLibraryParticipantProcesses(t *testing.T) {
	t.Parallel()
	nodes := nodeDir(t)
	lib := writeFile(t, "library.json", mustJSON(map[string]any{
		"namespace": "procs",
		"components": map[string]string{
			"procs/GoRepeat": runtimeBinary(t) + " participant core/Repeat --role #ROLE",
			"procs/NjRepeat": filepath.Join(nodes, "node_modules", ".bin", "msgflo-nodejs") + " --name #ROLE " + filepath.Join(nodes, "node_modules", "msgflo-nodejs", "examples", "Repeat.coffee"),
			"procs/Missing":  "/nonexistent/participant --role #ROLE",
			"procs/Silent":   "sleep 600 && echo #ROLE",
		},
	}))
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", "", "--wait-timeout", "2")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)

	c.send("component", "list", map[string]any{})
	listed := map[string]bool{}
	for {
		m := c.next()
		if m["command"] == "componentsready" {
			break
		}
		if pl, _ := m["payload"].(map[string]any); m["command"] == "component" {
			listed[pl["name"].(string)] = true
		}
	}
	if !listed["procs/GoRepeat"] || !listed["procs/NjRepeat"] {
		t.Fatalf("library components not listed: %v", listed)
	}

	c.edit("clear", map[string]any{"id": "g", "main": true})
	start := time.Now()
	c.edit("addnode", map[string]any{"id": "goproc", "component": "procs/GoRepeat", "graph": "g"})
	c.edit("addnode", map[string]any{"id": "njproc", "component": "procs/NjRepeat", "graph": "g"})
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("addnode waited for the processes: %s", d)
	}
	c.edit("addedge", map[string]any{"src": map[string]any{"node": "goproc", "port": "out"}, "tgt": map[string]any{"node": "njproc", "port": "in"}, "graph": "g"})
	c.send("graph", "addinport", map[string]any{"public": "in", "node": "goproc", "port": "in", "graph": "g"})
	c.waitFor("runtime", "ports", nil)
	c.send("graph", "addoutport", map[string]any{"public": "out", "node": "njproc", "port": "out", "graph": "g"})
	c.waitFor("runtime", "ports", nil)
	c.send("network", "start", map[string]any{"graph": "g"})
	c.waitFor("network", "started", nil)
	if got := c.packetThrough("g", "through two processes"); got != "through two processes" {
		t.Fatalf("packet came out as %v", got)
	}
	pids := pidsOf(p)
	if pids["goproc"] == 0 || pids["njproc"] == 0 {
		t.Fatalf("no pids in the log: %v", pids)
	}

	// Removing a node stops its process.
	c.edit("removenode", map[string]any{"id": "njproc", "graph": "g"})
	waitGone(t, pids["njproc"])

	// A process that dies is reported.
	if err := syscall.Kill(pids["goproc"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pe := c.waitFor("network", "processerror", func(m map[string]any) bool { return m["id"] == "goproc" })
	if !strings.Contains(pe["error"].(string), "exited with code 137") || pe["graph"] != "g" {
		t.Fatalf("processerror %v", pe)
	}

	// A command that does not exist, and one that never announces itself.
	c.edit("addnode", map[string]any{"id": "missing", "component": "procs/Missing", "graph": "g"})
	pe = c.waitFor("network", "processerror", func(m map[string]any) bool { return m["id"] == "missing" })
	if !strings.Contains(pe["error"].(string), "exited with code 127") {
		t.Fatalf("processerror %v", pe)
	}
	c.edit("addnode", map[string]any{"id": "silent", "component": "procs/Silent", "graph": "g"})
	pe = c.waitFor("network", "processerror", func(m map[string]any) bool { return m["id"] == "silent" })
	if !strings.Contains(pe["error"].(string), "did not announce itself within 2s") {
		t.Fatalf("processerror %v", pe)
	}
	silent := pidsOf(p)["silent"]
	if silent == 0 || !alive(silent) {
		t.Fatal("the silent process should still run")
	}

	// Stopping the runtime stops every process it started.
	p.signalAndWait(t, syscall.SIGTERM)
	for role, pid := range pidsOf(p) {
		if alive(pid) {
			t.Errorf("process of %s (%d) survived the runtime", role, pid)
		}
	}
	if !strings.Contains(p.stderrText(), "njproc(stdout): njproc connected to") {
		t.Errorf("participant output not forwarded with its role:\n%s", p.stderrText())
	}
}

func TestBadLibraries(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ text, want string }{
		"not json":   {"{components: x}", "not a JSON object"},
		"bad values": {`{"msgflo": {"components": {"a": 5}}}`, "msgflo configuration"},
	} {
		t.Run(name, func(t *testing.T) {
			lib := writeFile(t, "lib.json", tc.text)
			out, err := runBinary(t, "--port", "0", "--library", lib)
			if err == nil || !strings.Contains(out, tc.want) || !strings.Contains(out, lib) {
				t.Fatalf("err %v, output %q", err, out)
			}
		})
	}
	out, err := runBinary(t, "--port", "0", "--library", "/nonexistent/lib.json")
	if err == nil || !strings.Contains(out, "no such file") {
		t.Fatalf("missing library: %v %q", err, out)
	}
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

var errNoExit = errors.New("did not exit")

func runBinary(t *testing.T, args ...string) (string, error) {
	t.Helper()
	p := start(t, []string{"MSGFLO_BROKER="}, args...)
	select {
	case err := <-p.done:
		p.done <- err
		return p.stderrText(), err
	case <-time.After(30 * time.Second):
		return p.stderrText(), fmt.Errorf("%w within 30 s", errNoExit)
	}
}

// component:source writes a component into the component directory and
// registers it (addnode then starts it); getsource returns the file; names
// that are not plain file names are refused.
func TestComponentSource(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "components")
	lib := writeFile(t, "lib.json", `{"msgflo": {"namespace": "mine", "handlers": {".py": "python3 #FILENAME #ROLE"}}}`)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", dir, "--allow-setsource")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	c.send("runtime", "getruntime", map[string]any{})
	if rt := c.waitFor("runtime", "runtime", nil); rt["namespace"] != "mine" {
		t.Fatalf("runtime does not report the library's namespace: %v", rt)
	}
	code := "import sys\nprint('hello from', sys.argv[1])\n"
	c.send("component", "source", map[string]any{"name": "Hello", "language": "python", "code": code})
	comp := c.waitFor("component", "component", nil)
	if comp["name"] != "mine/Hello" {
		t.Fatalf("component %v", comp)
	}
	c.send("component", "getsource", map[string]any{"name": "mine/Hello"})
	src := c.waitFor("component", "source", nil)
	if src["code"] != code || src["language"] != "python" || src["name"] != "Hello" || src["library"] != "mine" {
		t.Fatalf("source %v", src)
	}
	for _, bad := range []string{"../escape", "a/b", "..", ".hidden", ""} {
		c.send("component", "source", map[string]any{"name": bad, "language": "python", "code": "x"})
		if m := c.next(); m["command"] != "error" {
			t.Fatalf("name %q accepted: %v", bad, m)
		}
	}
	c.edit("clear", map[string]any{"id": "g"})
	c.edit("addnode", map[string]any{"id": "greeter", "component": "mine/Hello", "graph": "g"})
	pe := c.waitFor("network", "processerror", func(m map[string]any) bool { return m["id"] == "greeter" })
	if !strings.Contains(pe["error"].(string), "exited with code 0") {
		t.Fatalf("processerror %v", pe)
	}
	p.signalAndWait(t, syscall.SIGTERM)
	if !strings.Contains(p.stderrText(), "greeter(stdout): hello from greeter") {
		t.Fatalf("the component did not run:\n%s", p.stderrText())
	}
}
