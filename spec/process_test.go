package spec

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A runtime's stderr is kept whole while it is short, and only its last
// keptOutput bytes once it is long: a run's log cannot fill the memory.
func TestProcessOutputKeepsItsEnd(t *testing.T) {
	var l lockedBuffer
	fmt.Fprintf(&l, "started\n")
	if got := l.String(); got != "started\n" {
		t.Fatalf("short output: %q", got)
	}
	line := strings.Repeat("x", 99) + "\n"
	written := len("started\n")
	for i := 0; written < 5*keptOutput; i++ {
		fmt.Fprint(&l, line)
		written += len(line)
	}
	fmt.Fprint(&l, "the end\n")
	written += len("the end\n")
	got := l.String()
	header := fmt.Sprintf("[%d bytes left out]\n", written-keptOutput)
	if !strings.HasPrefix(got, header) || !strings.HasSuffix(got, line+"the end\n") || len(got) != len(header)+keptOutput {
		t.Fatalf("long output: %d bytes, starting %q, ending %q; want %q and %d bytes kept", len(got), got[:min(len(got), 40)], got[max(0, len(got)-20):], header, keptOutput)
	}
	if len(l.b) > 2*keptOutput {
		t.Fatalf("%d bytes held, want at most %d", len(l.b), 2*keptOutput)
	}
}

// startWithBackground starts `sh -c script` with StartCommand, script writing the pid of
// a background process to $PIDFILE; it returns the process (nil with an
// error) and that pid.
func startWithBackground(t *testing.T, script string) (*Process, error, int) {
	t.Helper()
	pidfile := filepath.Join(t.TempDir(), "pid")
	p, err := StartCommand(context.Background(), "PIDFILE="+pidfile+"; "+script)
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(pidfile)
		if s := strings.TrimSpace(string(b)); s != "" {
			pid, _ = strconv.Atoi(s)
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if pid == 0 {
		t.Fatal("no background pid written")
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return p, err, pid
}

// gone waits until pid has exited (a zombie counts: it runs no more).
func gone(pid int) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// A command that exits cleanly before it is taken as started may have
// started the runtime in the background (fbp-spec takes it as started):
// the run goes on, and Stop stops what it started.
func TestCommandThatExitsCleanlyIsStarted(t *testing.T) {
	p, err, pid := startWithBackground(t, `sleep 300 & echo $! > "$PIDFILE"`)
	if err != nil {
		t.Fatalf("StartCommand: %v", err)
	}
	_ = p.Stop()
	if !gone(pid) {
		t.Fatal("the runtime the command started in the background still runs after Stop")
	}
}

// A command that fails leaves nothing running.
func TestFailedCommandLeavesNothingRunning(t *testing.T) {
	_, err, pid := startWithBackground(t, `sleep 300 & echo $! > "$PIDFILE"; exit 3`)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("StartCommand: %v, want exit status 3", err)
	}
	if !gone(pid) {
		t.Fatal("what the failed command started in the background still runs")
	}
}

// A process the runtime started outside its process group (setsid), which
// holds its stderr, does not keep Stop waiting until it exits.
func TestStopDoesNotWaitForWhatLeftTheGroup(t *testing.T) {
	p, err, _ := startWithBackground(t, `setsid sleep 300 & echo $! > "$PIDFILE"; echo ready; exec sleep 300`)
	if err != nil {
		t.Fatalf("StartCommand: %v", err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop() }()
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatal("Stop waits for a process outside the runtime's process group")
	}
}
