//go:build linux

package procs

import "syscall"

// sysProcAttr puts the process in a process group of its own, so that
// stopping it stops what it started. Without a supervisor it gets a
// parent-death signal: the shell (or the program it execs) dies with this
// process. The supervisor must not: it needs the time to kill everything
// once its pipe closes.
func sysProcAttr(supervised bool) *syscall.SysProcAttr {
	if supervised {
		return &syscall.SysProcAttr{Setpgid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
