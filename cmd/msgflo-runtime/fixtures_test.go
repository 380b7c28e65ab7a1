package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// msgflo's own procfile cases, with its fixture libraries and graphs (npm
// msgflo 0.12.3): our procfile prints what msgflo-procfile prints.
func TestProcfileOfMsgfloFixtures(t *testing.T) {
	t.Parallel()
	nodes := nodeDir(t)
	fx := filepath.Join(nodes, "node_modules", "msgflo", "spec", "fixtures")
	for _, args := range [][]string{
		{filepath.Join(fx, "imgflo-server.fbp"), "--components", "participants", "--library", filepath.Join(fx, "library-imgflo.json"), "--ignore=imgflo_jobs", "--ignore=imgflo_api", "--ignore", "drop", "--include", "web: node index.js"},
		{filepath.Join(fx, "iips.fbp"), "--library", filepath.Join(fx, "library-noflo.json"), "--ignore", "web", "--include", "web: node index.js"},
		{filepath.Join(fx, "handlers.fbp"), "--library=" + filepath.Join(fx, "library-handlers.json"), "--components=" + fx, "--include", "web: node index.js"},
	} {
		// msgflo's .coffee handler names the file by its absolute path
		// under the fixtures: both do, so the lines are comparable as they are.
		sameProcfileAsMsgflo(t, nodes, t.TempDir(), args...)
	}
}

// Every command of msgflo's fixture libraries and every default handler,
// run as the runtime runs them, with hostile node ids and initial packets:
// the programs (stand-ins that print their arguments) get the id and the
// packets as literal arguments, and no shell runs any of them.
func TestMsgfloFixtureCommandsWithHostileValues(t *testing.T) {
	t.Parallel()
	nodes := nodeDir(t)
	fx := filepath.Join(nodes, "node_modules", "msgflo", "spec", "fixtures")
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	printer := "#!/bin/sh\nprintf '%s\\0' \"$@\"\n"
	for _, p := range []string{
		"bin/node", "bin/noflo-runtime-msgflo", "bin/msgflo-nodejs", "bin/msgflo-python", "bin/msgflo-register", "bin/go",
		"node_modules/.bin/coffee", "node_modules/.bin/noflo-runtime-msgflo",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(work, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, p), []byte(printer), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	comps := filepath.Join(work, "participants")
	if err := os.Mkdir(comps, 0o755); err != nil {
		t.Fatal(err)
	}
	for ext := range library.DefaultHandlers {
		if err := os.WriteFile(filepath.Join(comps, "H"+strings.TrimPrefix(ext, ".")+ext), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(fx, "library-*.json"))
	if len(files) < 5 {
		t.Fatalf("msgflo's fixture libraries: %v", files)
	}
	tried := 0
	for _, f := range files {
		l, err := library.Load(f, false, comps)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range l.Components() {
			for _, role := range []string{"r$(touch PWNED)", "r`touch PWNED`;touch PWNED", "r' && touch PWNED '", "r\ntouch PWNED", "#IIPS"} {
				iips := map[string]any{"in": "x' ; touch PWNED ; echo '", "cfg": `"; touch PWNED; "`}
				js, _ := json.Marshal(iips)
				text, err := l.Script(c, role, iips)
				if err != nil {
					t.Fatalf("%s %s: %v", filepath.Base(f), c.Name, err)
				}
				cmd := exec.Command("/bin/sh", "-c", text)
				cmd.Dir = work
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s %s: %q: %v\n%s", filepath.Base(f), c.Name, text, err, stderr.String())
				}
				if _, err := os.Stat(filepath.Join(work, "PWNED")); err == nil {
					t.Fatalf("%s %s: %q ran a value as shell code", filepath.Base(f), c.Name, text)
				}
				args := strings.Split(string(out), "\x00")
				if strings.Contains(c.Command, "#ROLE") && !slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, role) }) {
					t.Errorf("%s %s: %q: the role is not one argument: %q", filepath.Base(f), c.Name, text, args)
				}
				if strings.Contains(c.Command, "#IIPS") && !slices.Contains(args, string(js)) {
					t.Errorf("%s %s: %q: the packets are not one argument: %q", filepath.Base(f), c.Name, text, args)
				}
				tried++
			}
		}
	}
	if tried < 50 {
		t.Fatalf("only %d commands tried", tried)
	}
}

// sameProcfileAsMsgflo runs msgflo's msgflo-procfile (from the npm
// install in nodes) and our procfile with args in dir, and fails unless
// both succeed and print the same.
func sameProcfileAsMsgflo(t *testing.T, nodes, dir string, args ...string) {
	t.Helper()
	theirs, err := runIn(t, dir, nil, filepath.Join(nodes, "node_modules", ".bin", "msgflo-procfile"), args...)
	if err != nil {
		t.Fatalf("msgflo-procfile %v: %v\n%s", args, err, theirs)
	}
	ours, err := runIn(t, dir, nil, runtimeBinary(t), append([]string{"procfile"}, args...)...)
	if err != nil {
		t.Fatalf("procfile %v: %v\n%s", args, err, ours)
	}
	if ours != theirs {
		t.Errorf("procfile %v differs\n ours:\n%s\ntheirs:\n%s", args, ours, theirs)
	}
}

// repeatLibrary writes a library file whose component x/Repeat runs this
// binary's core/Repeat as a participant process, and returns its path.
func repeatLibrary(t *testing.T) string {
	t.Helper()
	lib := filepath.Join(t.TempDir(), "lib.json")
	if err := os.WriteFile(lib, []byte(`{"components": {"x/Repeat": "`+runtimeBinary(t)+` participant core/Repeat --role #ROLE"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return lib
}

// setupRun is a running `msgflo-runtime setup`, its output collected.
type setupRun struct {
	out, errOut *syncBuffer
	cmd         *exec.Cmd
	done        chan error // the exit, once
	stopOnce    sync.Once
	exit        error
}

// startSetup runs `msgflo-runtime setup args...` with MSGFLO_BROKER=url;
// it is stopped at the end of the test if not before.
func startSetup(t *testing.T, url string, args ...string) *setupRun {
	t.Helper()
	r := &setupRun{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan error, 1)}
	r.cmd = exec.Command(runtimeBinary(t), append([]string{"setup"}, args...)...)
	r.cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.errOut
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

// exited waits up to d for setup to exit by itself and reports how it
// exited; ok is false if it still runs.
func (r *setupRun) exited(d time.Duration) (ok bool, err error) {
	select {
	case err := <-r.done:
		r.stopOnce.Do(func() { r.exit = err })
		return true, err
	case <-time.After(d):
		return false, nil
	}
}

// stop sends setup SIGTERM (it stops its participants) and returns how it
// exited.
func (r *setupRun) stop(t *testing.T) error {
	r.stopOnce.Do(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case r.exit = <-r.done:
		case <-time.After(30 * time.Second):
			_ = r.cmd.Process.Kill()
			r.exit = <-r.done
			t.Errorf("setup did not stop on SIGTERM; it printed:\n%s%s", r.out, r.errOut)
		}
	})
	return r.exit
}

// externalBroker is a broker server the tests use: RabbitMQ or Mosquitto.
type externalBroker struct{ name, url string }

// eachExternalBroker runs f as a subtest on RabbitMQ ("amqp") and on
// Mosquitto ("mqtt"); a broker that does not run skips its subtest only
// (fails it under MSGFLO_TEST_REQUIRE_BROKERS=1).
func eachExternalBroker(t *testing.T, f func(t *testing.T, bk externalBroker)) {
	for _, bk := range []struct {
		name string
		url  func(testing.TB) string
	}{{"amqp", brokertest.RabbitMQURL}, {"mqtt", brokertest.MosquittoURL}} {
		t.Run(bk.name, func(t *testing.T) { f(t, externalBroker{bk.name, bk.url(t)}) })
	}
}
