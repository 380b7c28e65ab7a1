// Package procs starts and stops participant processes, for the runtime
// (nodes whose component the library can start) and for the setup tool:
// a command line run by a shell in a process group of its own, optionally
// under a supervisor (internal/supervise), with an environment built in
// one place (Env.Environ) that never carries the runtime's secret, its
// output forwarded line by line, and a stop that asks (SIGTERM) before it
// kills (SIGKILL).
//
// The module runs on Linux: process groups and signals are POSIX, and the
// parent-death signal that keeps a participant from outliving the runtime
// when it runs without a supervisor is Linux's (sys_linux.go).
package procs

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
)

// StopGrace is how long a process has between SIGTERM and SIGKILL.
const StopGrace = 5 * time.Second

// DefaultShell runs a command line.
const DefaultShell = "/bin/sh"

// outputDelay bounds the wait for output pipes held open by what a
// command started, once the command itself is gone.
const outputDelay = time.Second

// Spec is a process to start.
type Spec struct {
	// Command is the command line, run as Shell -c Command, in the working
	// directory of this process (as msgflo: the library's #FILENAME is
	// relative to it).
	Command string
	// Shell is the program that runs Command (default DefaultShell).
	Shell string
	// Supervisor, when set, is the program and arguments the shell runs
	// under: it is given the shell's argv and a pipe as file descriptor 3
	// whose closing means this process is gone, or asks for a hard stop
	// (see internal/supervise). Without it, the shell (or the program it
	// execs) dies with this process, but not what it started.
	Supervisor []string
	// Env is the process's whole environment (see Env.Environ).
	Env []string
	// Stdout and Stderr receive the process's output (nil: discarded).
	Stdout, Stderr io.Writer
	// Prefix, when set, makes each line of output one write of
	// "PREFIX(stdout): LINE" (or stderr) instead of a copy of the bytes.
	Prefix string
	// Grace is the time between SIGTERM and SIGKILL (default StopGrace).
	Grace time.Duration
}

// Exit is how a process ended.
type Exit struct {
	// Code is its exit status, 128+N when signal N ended it, -1 when it
	// is not known.
	Code int
	// At is when it was seen to exit.
	At time.Time
}

// Process is a started process.
type Process struct {
	pid      int
	grace    time.Duration
	done     chan struct{}
	exit     Exit
	stopOnce sync.Once
	// lifeline is the write end of the supervisor's pipe (nil without a
	// supervisor): closing it makes the supervisor kill everything.
	lifeline      *os.File
	closeLifeline func()
}

// Start starts the process described by spec; it returns once the
// process runs (or could not be started). The process is reaped by a
// goroutine of its own; Done says when.
func Start(spec Spec) (*Process, error) {
	shell := spec.Shell
	if shell == "" {
		shell = DefaultShell
	}
	argv := []string{shell, "-c", spec.Command}
	p := &Process{grace: spec.Grace, done: make(chan struct{}), closeLifeline: func() {}}
	if p.grace <= 0 {
		p.grace = StopGrace
	}
	var lifelineChild *os.File
	if len(spec.Supervisor) > 0 {
		var err error
		if lifelineChild, p.lifeline, err = os.Pipe(); err != nil {
			return nil, err
		}
		p.closeLifeline = sync.OnceFunc(func() { p.lifeline.Close() })
		argv = append(slices.Clone(spec.Supervisor), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = spec.Env
	if lifelineChild != nil {
		cmd.ExtraFiles = []*os.File{lifelineChild}
	}
	cmd.SysProcAttr = sysProcAttr(lifelineChild != nil)
	cmd.WaitDelay = outputDelay
	var flush []func()
	cmd.Stdout, flush = output(spec.Stdout, spec.Prefix, "stdout", flush)
	cmd.Stderr, flush = output(spec.Stderr, spec.Prefix, "stderr", flush)
	err := cmd.Start()
	if lifelineChild != nil {
		lifelineChild.Close() // the supervisor has its own copy
	}
	if err != nil {
		p.closeLifeline()
		return nil, err
	}
	p.pid = cmd.Process.Pid
	go func() {
		err := cmd.Wait() // returns once exec has copied all the output
		// Whatever the command started goes with it: no orphans.
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		p.closeLifeline()
		for _, f := range flush {
			f()
		}
		p.exit = Exit{Code: exitCode(err), At: time.Now()}
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id (the supervisor's, when it runs under one).
func (p *Process) Pid() int { return p.pid }

// Done is closed once the process has exited and been reaped, and its
// output forwarded.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits until the process has exited and says how.
func (p *Process) Wait() Exit {
	<-p.done
	return p.exit
}

// Stop asks the process group to stop (SIGTERM) and, when it has not
// after the grace, has the supervisor kill everything (closing its pipe),
// then kills the group (SIGKILL). It returns at once; Done says when the
// process is gone. Stopping twice, or after the exit, does nothing.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.stopOnce.Do(func() {
		_ = syscall.Kill(-p.pid, syscall.SIGTERM)
		go p.escalate()
	})
}

func (p *Process) escalate() {
	t := time.NewTimer(p.grace)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	if p.lifeline != nil {
		p.closeLifeline() // the supervisor kills the participant and all it started
		t.Reset(p.grace)
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
}

// output is what a process writes one of its streams to: w itself, or a
// writer of prefixed lines (whose flush is added to flush) when prefix is
// set.
func output(w io.Writer, prefix, stream string, flush []func()) (io.Writer, []func()) {
	if w == nil || prefix == "" {
		return w, flush
	}
	lw := &lineWriter{out: w, prefix: prefix + "(" + stream + "): "}
	return lw, append(flush, lw.flush)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
