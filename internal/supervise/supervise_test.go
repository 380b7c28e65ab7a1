//go:build linux

package supervise

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary is the supervisor here, as msgflo-runtime is.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Command {
		os.Exit(Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// supervised runs args under the supervisor, with a lifeline whose write
// end is returned.
func supervised(t *testing.T, args ...string) (*exec.Cmd, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], append([]string{Command}, args...)...)
	cmd.ExtraFiles = []*os.File{r}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { w.Close(); _ = cmd.Wait() })
	return cmd, w
}

func exitCodeOf(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	if err == nil {
		return 0
	}
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatal(err)
	}
	return ee.ExitCode()
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"/nonexistent/program"}, 127},
		{[]string{"/bin/sh", "-c", "exit 7"}, 7},
		{[]string{"/bin/sh", "-c", "kill -9 $$"}, 137},
	} {
		cmd, _ := supervised(t, tc.args...)
		if got := exitCodeOf(t, cmd); got != tc.want {
			t.Errorf("%q: exit code %d, want %d", tc.args, got, tc.want)
		}
	}
}

// SIGTERM, SIGINT and SIGHUP are passed to the participant's group.
func TestSignalsArePassedOn(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd, _ := supervised(t, "/bin/sh", "-c", "touch "+ready+"; exec sleep 600")
		waitFile(t, ready)
		_ = cmd.Process.Signal(sig)
		if got := exitCodeOf(t, cmd); got != 128+int(sig) {
			t.Errorf("%s: exit code %d", sig, got)
		}
	}
}

// Closing the lifeline kills the participant, even one that ignores
// SIGTERM, and the supervisor exits as killed.
func TestLifeline(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	cmd, lifeline := supervised(t, "/bin/sh", "-c", "trap '' TERM; touch "+ready+"; exec sleep 600")
	waitFile(t, ready)
	lifeline.Close()
	if got := exitCodeOf(t, cmd); got != 137 {
		t.Errorf("exit code %d, want 137", got)
	}
}

func waitFile(t *testing.T, file string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(file); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", file)
		}
		time.Sleep(10 * time.Millisecond) // written by another process
	}
}

// fakeProcs is a subreaper's view of its children for killAllWith: the
// program's exit is reaped elsewhere (the supervisor's waiting goroutine)
// the moment it is killed, and what it left running outside its group
// becomes a child only after the first scan.
type fakeProcs struct {
	mu           sync.Mutex
	program      int
	alive, dead  []int
	orphan       int // becomes a child after the first scan
	scans        int
	orphanKilled bool
}

func (f *fakeProcs) children() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scans++
	out := slices.Clone(f.alive)
	if f.scans == 1 {
		f.alive = append(f.alive, f.orphan)
	}
	return out
}

func (f *fakeProcs) kill(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if pid == f.program {
		return // reaped by the other goroutine: not a child any more
	}
	if i := slices.Index(f.alive, pid); i >= 0 {
		f.alive = slices.Delete(f.alive, i, i+1)
		f.dead = append(f.dead, pid)
		f.orphanKilled = f.orphanKilled || pid == f.orphan
	}
}

func (f *fakeProcs) reap() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.dead) > 0 {
		p := f.dead[0]
		f.dead = f.dead[1:]
		return p, nil
	}
	if len(f.alive) > 0 {
		return 0, nil
	}
	return 0, syscall.ECHILD
}

// A process orphaned by the program's death after killAll looked at its
// children is killed too: killAll looks again until no child is left.
// Under load, a blocking wait there waited forever for such a process
// (TestStopKillsAfterGrace in runtime/procs timed out waiting for it).
func TestKillAllKillsWhatIsOrphanedLater(t *testing.T) {
	f := &fakeProcs{program: 100, orphan: 200}
	done := make(chan struct{})
	go func() { killAllWith(f.program, f); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("killAll did not return")
	}
	if !f.orphanKilled {
		t.Error("the process orphaned after the first scan was not killed")
	}
}
