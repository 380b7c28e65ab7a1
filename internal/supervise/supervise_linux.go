//go:build linux

package supervise

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lifeline is the file descriptor of the pipe from the runtime.
const lifeline = 3

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER

// Supported is true where Main works (Linux).
const Supported = true

// Main runs PROGRAM ARGS... (args) under supervision and returns the exit
// code to exit with: the program's, or 128+signal when a signal ended it.
func Main(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "supervise: no program to run")
		return 2
	}
	// The parent-death signal of the child fires when the thread that
	// forked it exits: fork from this locked thread, which lives as long
	// as the supervisor.
	goruntime.LockOSThread()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "supervise: cannot become a subreaper: %v\n", errno)
	}
	syscall.CloseOnExec(lifeline)
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	path := args[0]
	if p, err := exec.LookPath(path); err == nil {
		path = p
	}
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "supervise: start %s: %v\n", args[0], err)
		return 127
	}

	// The runtime is gone (or wants a hard stop) when the pipe closes.
	lost := make(chan struct{})
	go func() {
		f := os.NewFile(lifeline, "lifeline")
		buf := make([]byte, 64)
		for {
			if _, err := f.Read(buf); err != nil {
				close(lost)
				return
			}
		}
	}()
	exited := make(chan syscall.WaitStatus, 1)
	go func() { exited <- reap(pid) }()

	for {
		select {
		case sig := <-signals:
			_ = syscall.Kill(-pid, sig.(syscall.Signal))
		case <-lost:
			killAll(pid)
			return 128 + int(syscall.SIGKILL)
		case ws := <-exited:
			killAll(pid)
			return code(ws)
		}
	}
}

// reap waits for children (the program, and orphans handed to this
// subreaper) until the program has exited, and returns its status.
func reap(pid int) syscall.WaitStatus {
	for {
		var ws syscall.WaitStatus
		p, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return syscall.WaitStatus(1 << 8) // exit status 1: lost track
		}
		if p == pid {
			return ws
		}
	}
}

// killAll kills the program's process group, then every child this
// subreaper still has (descendants that left the group and were orphaned),
// until none is left.
func killAll(pid int) { killAllWith(pid, osProcs{self: os.Getpid()}) }

// procsAPI is what killAllWith asks of the system (a seam for its test).
type procsAPI interface {
	// children lists this process's children.
	children() []int
	// kill sends SIGKILL to pid (a group when negative).
	kill(pid int)
	// reap reaps a dead child without waiting: its pid, 0 when none is
	// dead yet, or an error (ECHILD: no children left).
	reap() (int, error)
}

// killAllWith never blocks in a wait: the reaping goroutine may take the
// program's exit meanwhile, and a process orphaned by that exit becomes a
// child only then, after a scan that missed it; a blocking wait would wait
// for it (sleeping, never killed) forever.
func killAllWith(pid int, sys procsAPI) {
	sys.kill(-pid)
	sys.kill(pid)
	for {
		for _, c := range sys.children() {
			sys.kill(-c) // its group, when it leads one
			sys.kill(c)
		}
		p, err := sys.reap()
		switch {
		case errors.Is(err, syscall.EINTR), p > 0:
			continue // another may be left
		case err != nil:
			return // ECHILD: no children left
		}
		// Children left, none dead yet (killed, or orphaned since the
		// scan): look again shortly.
		time.Sleep(killPoll)
	}
}

// killPoll is how often killAll looks for children left.
const killPoll = 5 * time.Millisecond

// osProcs is procsAPI for this process.
type osProcs struct{ self int }

func (o osProcs) children() []int { return children(o.self) }
func (osProcs) kill(pid int)      { _ = syscall.Kill(pid, syscall.SIGKILL) }
func (osProcs) reap() (int, error) {
	var ws syscall.WaitStatus
	return syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
}

// children lists the processes whose parent is ppid, from /proc.
func children(ppid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if p, err := strconv.Atoi(f[1]); err == nil && p == ppid {
			out = append(out, pid)
		}
	}
	return out
}

func code(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}
