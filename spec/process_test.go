package spec

import (
	"fmt"
	"strings"
	"testing"
)

// A runtime's stderr is kept whole while it is short, and only its last
// keptOutput bytes once it is long: a run's log cannot fill the memory.
func TestProcessOutputKeepsItsEnd(t *testing.T) {
	var l lockedBuffer
	fmt.Fprintf(&l, "started\n")
	if got := l.String(); got != "started\n" {
		t.Fatalf("short output: %q", got)
	}
	line := strings.Repeat("x", 99) + "\n"
	written := len("started\n")
	for i := 0; written < 5*keptOutput; i++ {
		fmt.Fprint(&l, line)
		written += len(line)
	}
	fmt.Fprint(&l, "the end\n")
	written += len("the end\n")
	got := l.String()
	header := fmt.Sprintf("[%d bytes left out]\n", written-keptOutput)
	if !strings.HasPrefix(got, header) || !strings.HasSuffix(got, line+"the end\n") || len(got) != len(header)+keptOutput {
		t.Fatalf("long output: %d bytes, starting %q, ending %q; want %q and %d bytes kept", len(got), got[:min(len(got), 40)], got[max(0, len(got)-20):], header, keptOutput)
	}
	if len(l.b) > 2*keptOutput {
		t.Fatalf("%d bytes held, want at most %d", len(l.b), 2*keptOutput)
	}
}
