package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statusWait guards the waits of the status tests against a hang.
const statusWait = 30 * time.Second

// status prints the runtime, its main graph's state, nodes and edges once;
// a wrong secret is an error, not a partial table.
func TestStatusPrintsTheGraphOnce(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "demo.fbp", demoFBP)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path)
	ws, _ := p.ready(t)
	var out, errOut bytes.Buffer
	if code := statusMain("status", []string{"--address", ws, "--secret", testSecret}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"graph demo: started true",
		"4 nodes, 2 edges, 1 initial packets",
		"first                          core/Repeat                    running",
		"absent                         ext/Absent                     waiting",
		"ROLE ",
		"in-process",
		"first.out -> last.in",
		"waiting.out -> absent.in",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	errOut.Reset()
	if code := statusMain("status", []string{"--address", ws, "--secret", "wrong"}, func(string) string { return "" }, &out, &errOut); code == 0 {
		t.Fatalf("status with a wrong secret succeeded:\n%s", out.String())
	}
}

// status --watch prints the status again every --interval until it is
// interrupted, then exits 0.
func TestStatusWatchRefreshesUntilInterrupted(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", writeFile(t, "demo.fbp", demoFBP))
	ws, _ := p.ready(t)
	cmd := exec.Command(runtimeBinary(t), "status", "--address", ws, "--secret", testSecret, "--watch", "--interval", "20ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		n := 0
		for n < 3 && sc.Scan() {
			if strings.Contains(sc.Text(), "graph demo: started true") {
				n++
			}
		}
		done <- n
	}()
	select {
	case n := <-done:
		if n < 3 {
			t.Fatalf("status --watch printed the status %d times, then stopped", n)
		}
	case <-time.After(statusWait):
		_ = cmd.Process.Kill()
		t.Fatal("status --watch did not print the status three times")
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("status --watch on SIGTERM: %v", err)
		}
	case <-time.After(statusWait):
		_ = cmd.Process.Kill()
		t.Fatal("status --watch did not stop on SIGTERM")
	}
}

// Names come from clients (any node id is allowed): status prints their
// control characters as spaces, so a name cannot move the cursor, clear
// the terminal or add lines to the table.
func TestStatusPrintsNoControlCharacters(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "ctl.json", `{"processes": {"a\u001b[2Jb\nc": {"component": "core/Repeat"}, "d": {"component": "core/Repeat"}},
		"connections": [{"src": {"process": "a\u001b[2Jb\nc", "port": "out"}, "tgt": {"process": "d", "port": "in"}}]}`)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path)
	ws, _ := p.ready(t)
	var out, errOut bytes.Buffer
	if code := statusMain("status", []string{"--address", ws, "--secret", testSecret}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"a [2Jb c ", "a [2Jb c.out -> d.in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%q", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("status printed an escape character:\n%q", out.String())
	}
}
