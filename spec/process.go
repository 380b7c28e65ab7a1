package spec

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// startQuiet is how long a command may print nothing before it is
	// taken as started, and startSettle how long after its first output
	// (fbp-spec's subprocess.js: 300 ms and 100 ms).
	startQuiet  = 300 * time.Millisecond
	startSettle = 100 * time.Millisecond
	// stopGrace is how long a stopped runtime has before it is killed.
	stopGrace = 5 * time.Second
)

// Process is a runtime started for a run.
type Process struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{}
	err    error // how it exited, once exited is closed
}

// keptOutput is how much of a runtime's stderr is kept: its last bytes.
// A runtime logs for the whole run, which may be long.
const keptOutput = 64 << 10

// lockedBuffer collects the end of a process's output.
type lockedBuffer struct {
	mu      sync.Mutex
	b       []byte
	dropped int64 // bytes written before those kept
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if over := len(l.b) - keptOutput; over > keptOutput { // cut now and then, not at every write
		l.dropped += int64(over)
		l.b = append(l.b[:0], l.b[over:]...)
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept, dropped := l.b, l.dropped
	if over := len(kept) - keptOutput; over > 0 {
		kept, dropped = kept[over:], dropped+int64(over)
	}
	if dropped > 0 {
		return fmt.Sprintf("[%d bytes left out]\n%s", dropped, kept)
	}
	return string(kept)
}

// StartCommand starts a runtime with `sh -c command`, as fbp-spec's
// --command: it is started at its first output on stdout (plus 100 ms),
// or after 300 ms of silence; output on stderr before that fails.
func StartCommand(ctx context.Context, command string) (*Process, error) {
	p, stdout, err := start(exec.Command("sh", "-c", command))
	if err != nil {
		return nil, err
	}
	first := make(chan struct{})
	go func() {
		r := bufio.NewReader(stdout)
		if _, err := r.ReadByte(); err == nil {
			close(first)
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	quiet := time.NewTimer(startQuiet)
	defer quiet.Stop()
	exited := p.exited
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		if text := p.stderr.String(); text != "" {
			p.Stop()
			return nil, fmt.Errorf("Subprocess wrote on stderr: '%s'", text)
		}
		select {
		case <-first:
			time.Sleep(startSettle)
			return p, nil
		case <-quiet.C:
			return p, nil
		case <-exited:
			if p.err != nil {
				p.Stop() // what it started in the background too
				return nil, fmt.Errorf("the runtime command exited: %v", p.err)
			}
			// A command that exited cleanly may have started the
			// runtime in the background (as fbp-spec allows): it is
			// started as any other; Stop stops its process group.
			exited = nil
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-poll.C:
		}
	}
}

// readyLine is how msgflo-runtime says where it listens.
var readyLine = regexp.MustCompile(`ready on (wss?://\S+)`)

// StartRuntime starts the msgflo-runtime binary at path on a free port of
// localhost with a fresh secret (the environment's broker, else the
// embedded one), waits for its ready line and returns where it listens.
// Extra arguments go to the runtime.
func StartRuntime(ctx context.Context, path string, extra ...string) (p *Process, address, secret string, err error) {
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return nil, "", "", err
	}
	secret = hex.EncodeToString(buf)
	args := append([]string{"--port", "0", "--host", "localhost", "--secret", secret}, extra...)
	cmd := exec.Command(path, args...)
	cmd.Env = withoutSecret(os.Environ())
	p, stdout, err := start(cmd)
	if err != nil {
		return nil, "", "", err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case address = <-found:
		return p, address, secret, nil
	case <-p.exited:
		return nil, "", "", fmt.Errorf("%s exited before it was ready (%v): %s", path, p.err, strings.TrimSpace(p.stderr.String()))
	case <-ctx.Done():
		p.Stop()
		return nil, "", "", fmt.Errorf("%s not ready: %w", path, ctx.Err())
	}
}

// withoutSecret drops MSGFLO_SECRET: the runtime gets the run's secret.
func withoutSecret(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "MSGFLO_SECRET=") {
			out = append(out, e)
		}
	}
	return out
}

func start(cmd *exec.Cmd) (*Process, io.Reader, error) {
	p := &Process{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The runtime's stdout and stderr are pipes of our own, not ones
	// exec makes: Wait then returns as soon as the command exits, though
	// a process it started in the background (or outside its group, with
	// setsid) still holds them, and that process can go on writing on
	// stdout after the command exited (exec closes its own pipes then).
	// They are read until every holder is gone.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, nil, fmt.Errorf("start the runtime: %w", err)
	}
	go func() {
		_, _ = io.Copy(p.stderr, errR)
		errR.Close()
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, closingReader{outR}, nil
}

// closingReader closes its file at the end of what it reads.
type closingReader struct{ f *os.File }

func (c closingReader) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	if err != nil {
		c.f.Close()
	}
	return n, err
}

// Stderr is what the runtime wrote on stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Stop stops the runtime (its process group: a shell's children too) with
// SIGTERM, then SIGKILL after a grace; it returns how the runtime exited
// (nil when it exited cleanly on SIGTERM).
func (p *Process) Stop() error {
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
		return fmt.Errorf("the runtime did not stop within %s of SIGTERM", stopGrace)
	}
	return p.err
}
