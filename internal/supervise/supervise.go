// Package supervise keeps a participant process, and everything it starts,
// from outliving the runtime. The runtime starts each participant through
// a small supervisor (this binary, re-executed): the supervisor is a child
// subreaper (orphans of the participant's descendants become its children),
// starts the participant in a process group of its own with a parent-death
// signal, and holds the read end of a pipe whose write end only the runtime
// has. When that pipe closes (the runtime exited, however it died, or it
// asks for a hard stop) the supervisor kills the participant's group and
// every descendant left, reaps them, and exits. SIGTERM, SIGINT and SIGHUP
// are passed to the participant's group; when the participant exits, what
// it left behind is killed and the supervisor exits with its status.
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
)

// Command is the first argument that makes the binary a supervisor:
// BINARY Command PROGRAM ARGS... with the pipe as file descriptor 3.
const Command = "__supervise"

// lifeline is the file descriptor of the pipe from the runtime.
const lifeline = 3

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER

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
// until none is left. The supervisor's waiting goroutine may reap some of
// them meanwhile; ECHILD ends the loop either way.
func killAll(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	self := os.Getpid()
	for {
		for _, c := range children(self) {
			_ = syscall.Kill(-c, syscall.SIGKILL) // its group, when it leads one
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
		var ws syscall.WaitStatus
		p, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || p <= 0 {
			return // no children left
		}
	}
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
