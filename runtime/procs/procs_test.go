package procs

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/supervise"
)

// The test binary is also the supervisor (as msgflo-runtime is).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == supervise.Command {
		os.Exit(supervise.Main(os.Args[2:]))
	}
	os.Exit(m.Run())
}

var supervisor = []string{os.Args[0], supervise.Command}

// buffer is a bytes.Buffer safe for the writers of several streams.
type buffer struct {
	mu     sync.Mutex
	writes []string
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes = append(b.writes, string(p))
	return len(p), nil
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.writes, "")
}

func start(t *testing.T, spec Spec) *Process {
	t.Helper()
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.Done()
	})
	return p
}

// waitGone waits until pid is no longer in the process table (exited and
// reaped: a zombie still answers kill 0).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still exists", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling the process table: no event to wait on
	}
}

// pidFrom reads the pid a command wrote to file, once it is there.
func pidFrom(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(file)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && perr == nil && strings.HasSuffix(string(data), "\n") {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", file)
		}
		time.Sleep(10 * time.Millisecond) // the file is written by another process
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		command    string
		supervised bool
		want       int
	}{
		{"exit 0", false, 0},
		{"exit 3", false, 3},
		{"exit 3", true, 3},
		{"kill -9 $$", false, 137},
		{"kill -9 $$", true, 137},
		{"/nonexistent/program", false, 127},
	} {
		spec := Spec{Command: tc.command}
		if tc.supervised {
			spec.Supervisor = supervisor
		}
		if got := start(t, spec).Wait(); got.Code != tc.want || got.At.IsZero() {
			t.Errorf("%q (supervised %v): exit %+v, want code %d", tc.command, tc.supervised, got, tc.want)
		}
	}
}

func TestStartFailure(t *testing.T) {
	if _, err := Start(Spec{Command: "true", Shell: "/nonexistent/shell"}); err == nil {
		t.Fatal("started a shell that does not exist")
	}
	if _, err := Start(Spec{Command: "true", Supervisor: []string{"/nonexistent/supervisor"}}); err == nil {
		t.Fatal("started a supervisor that does not exist")
	}
}

// Each line of output is one write, prefixed with the name and the stream;
// a last line without a newline is written too, a \r before a newline
// dropped, and a line longer than maxLine cut into prefixed pieces.
func TestPrefixedOutput(t *testing.T) {
	var out, errOut buffer
	long := strings.Repeat("x", maxLine+10)
	start(t, Spec{
		Command: "echo one; echo two >&2; printf 'three\\r\\n'; printf '" + long + "\\n'; printf four",
		Stdout:  &out, Stderr: &errOut, Prefix: "role",
	}).Wait()
	want := []string{"role(stdout): one\n", "role(stdout): three\n", "role(stdout): " + long[:maxLine] + "\n", "role(stdout): xxxxxxxxxx\n", "role(stdout): four\n"}
	if !slices.Equal(out.writes, want) {
		t.Errorf("stdout writes %q, want %q", out.writes, want)
	}
	if want := []string{"role(stderr): two\n"}; !slices.Equal(errOut.writes, want) {
		t.Errorf("stderr writes %q, want %q", errOut.writes, want)
	}
}

// Without a prefix the output is copied as it is.
func TestPlainOutput(t *testing.T) {
	var out buffer
	start(t, Spec{Command: "printf 'a\\r\\nb'", Stdout: &out}).Wait()
	if out.String() != "a\r\nb" {
		t.Errorf("stdout %q", out.String())
	}
}

func TestShell(t *testing.T) {
	shell := filepath.Join(t.TempDir(), "myshell")
	if err := os.WriteFile(shell, []byte("#!/bin/sh\necho \"myshell was given: $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out buffer
	start(t, Spec{Command: "echo hi", Shell: shell, Stdout: &out}).Wait()
	if out.String() != "myshell was given: -c echo hi\n" {
		t.Errorf("stdout %q", out.String())
	}
}

// Stop sends SIGTERM to the process group: the shell and what it started.
func TestStopTerminates(t *testing.T) {
	for _, supervised := range []bool{false, true} {
		dir := t.TempDir()
		spec := Spec{Command: "sleep 600 & echo $! > " + dir + "/pid; wait"}
		if supervised {
			spec.Supervisor = supervisor
		}
		p := start(t, spec)
		child := pidFrom(t, dir+"/pid")
		p.Stop()
		p.Stop() // twice is once
		if got := p.Wait(); got.Code != 128+int(syscall.SIGTERM) {
			t.Errorf("supervised %v: exit %+v, want SIGTERM's", supervised, got)
		}
		waitGone(t, child)
		p.Stop() // after the exit: nothing
	}
}

// A process that ignores SIGTERM is killed after the grace; under a
// supervisor, by the supervisor, which also kills what left the group.
func TestStopKillsAfterGrace(t *testing.T) {
	for _, supervised := range []bool{false, true} {
		dir := t.TempDir()
		spec := Spec{Command: "trap '' TERM; setsid sh -c 'trap \"\" TERM; echo $$ > " + dir + "/pid; sleep 600' & sleep 600", Grace: 50 * time.Millisecond}
		if supervised {
			spec.Supervisor = supervisor
		}
		p := start(t, spec)
		escaped := pidFrom(t, dir+"/pid")
		p.Stop()
		if got := p.Wait(); got.Code != 128+int(syscall.SIGKILL) {
			t.Errorf("supervised %v: exit %+v, want SIGKILL's", supervised, got)
		}
		if supervised {
			waitGone(t, escaped)
		} else {
			// Without a supervisor what left the group survives: the
			// reason for the supervisor.
			if syscall.Kill(escaped, 0) != nil {
				t.Errorf("unsupervised: the process that left the group is gone; the test shows nothing")
			}
			_ = syscall.Kill(escaped, syscall.SIGKILL)
		}
	}
}

// When the command exits, what it left running in its group is killed; under
// a supervisor, also what left the group.
func TestNoOrphans(t *testing.T) {
	for _, supervised := range []bool{false, true} {
		dir := t.TempDir()
		spec := Spec{Command: "sleep 600 >/dev/null 2>&1 & echo $! > " + dir + "/ingroup; setsid sh -c 'echo $$ > " + dir + "/escaped; exec sleep 600' >/dev/null 2>&1 & while [ ! -s " + dir + "/escaped ]; do sleep 0.01; done"}
		if supervised {
			spec.Supervisor = supervisor
		}
		p := start(t, spec)
		inGroup, escaped := pidFrom(t, dir+"/ingroup"), pidFrom(t, dir+"/escaped")
		if got := p.Wait(); got.Code != 0 {
			t.Errorf("supervised %v: exit %+v", supervised, got)
		}
		waitGone(t, inGroup)
		if supervised {
			waitGone(t, escaped)
		} else {
			_ = syscall.Kill(escaped, syscall.SIGKILL)
		}
	}
}

// Closing the supervisor's pipe (this process gone) kills everything.
func TestLifelineClosed(t *testing.T) {
	dir := t.TempDir()
	p := start(t, Spec{Command: "trap '' TERM; echo $$ > " + dir + "/pid; sleep 600", Supervisor: supervisor})
	shell := pidFrom(t, dir+"/pid")
	p.closeLifeline()
	if got := p.Wait(); got.Code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit %+v, want SIGKILL's", got)
	}
	waitGone(t, shell)
}

func TestEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "MSGFLO_SECRET=s3cret", "MSGFLO_BROKER=amqp://old", "MSGFLO_QUEUE_TYPE=quorum", "MSGFLO_PERSISTENT_MESSAGES=false", "HOME=/home/x"}
	for _, tc := range []struct {
		env  Env
		want []string
	}{
		{Env{}, []string{"PATH=/bin", "MSGFLO_BROKER=amqp://old", "MSGFLO_QUEUE_TYPE=quorum", "MSGFLO_PERSISTENT_MESSAGES=false", "HOME=/home/x"}},
		{Env{Broker: "mqtt://new", QueueType: "classic"}, []string{"PATH=/bin", "MSGFLO_PERSISTENT_MESSAGES=false", "HOME=/home/x", "MSGFLO_BROKER=mqtt://new", "MSGFLO_QUEUE_TYPE=classic"}},
		{Env{Broker: "mqtt://new", TransientMessages: true}, []string{"PATH=/bin", "MSGFLO_QUEUE_TYPE=quorum", "HOME=/home/x", "MSGFLO_BROKER=mqtt://new", "MSGFLO_PERSISTENT_MESSAGES=false"}},
	} {
		if got := tc.env.Environ(base); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.env, got, tc.want)
		}
	}
}

// The process gets the environment it is given, and only that.
func TestEnvironmentOfTheProcess(t *testing.T) {
	for _, supervised := range []bool{false, true} {
		var out buffer
		spec := Spec{Command: "env", Stdout: &out, Env: Env{Broker: "mqtt://b"}.Environ([]string{"PATH=" + os.Getenv("PATH"), "MSGFLO_SECRET=s3cret"})}
		if supervised {
			spec.Supervisor = supervisor
		}
		start(t, spec).Wait()
		if env := out.String(); strings.Contains(env, "s3cret") || !strings.Contains(env, "MSGFLO_BROKER=mqtt://b\n") {
			t.Errorf("supervised %v: environment %q", supervised, env)
		}
	}
}
