//go:build unix && !linux

package procs

import "syscall"

// sysProcAttr puts the process in a process group of its own. There is no
// parent-death signal outside Linux: without a supervisor a process may
// outlive a runtime that is killed.
func sysProcAttr(bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
