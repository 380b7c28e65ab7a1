package main

import "runtime/debug"

// defaultGCPercent is the runtime server's garbage collection target when
// the environment sets none (GOGC): the heap may grow to 1.75 times what
// is live, instead of Go's 2. The coordinator's live heap is small (3.5 MB
// with 200 in-process participants), so the Go runtime's own overheads
// and the garbage of a burst of edits or packets are most of its memory.
// With the bench's 200-node chain on the embedded broker (#20: RSS under
// 30 MiB, an edit under 1.5 getruntime round trips), measured on a quiet
// machine: Go's default 100 took 31.4 MiB; 50 took 27.2-28.0 MiB but
// collected often enough during a graph upload that an edit took 66-88 µs
// (1.60-2.42 round trips); 75 took 29.0-29.5 MiB with edits of 54-63 µs
// (0.92-1.29 round trips). Operators who trade memory for fewer
// collections set GOGC (or GOMEMLIMIT) as for any Go program.
const defaultGCPercent = 75

// gcPercent is the collection target to set, unless GOGC gives one.
func gcPercent(getenv func(string) string) (percent int, set bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return defaultGCPercent, true
}

// tuneGC applies gcPercent.
func tuneGC(getenv func(string) string) {
	if p, set := gcPercent(getenv); set {
		debug.SetGCPercent(p)
	}
}
