package main

import (
	"strings"
	"testing"
	"unicode"
)

// #19 item 6, "trace show prints participant ids and event times
// unfiltered": whatever a flowtrace file holds (it comes from participants
// and runtimes), trace show prints it without control characters (ESC,
// CSI, BEL, newlines) that would move the cursor, clear the terminal or
// add lines. Seen failing on main: the event's time and participant, and
// the header's node and participant, were printed as they were.
func TestTraceShowPrintsNoControlCharacters(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "hostile.json", `{
	"header": {"participants": [{"node": "n\u001b[2J\u202e", "participant": "p\u001b]0;title\u0007", "error": "gone\u009b31m"}]},
	"events": [
		{"protocol": "network", "command": "data", "participant": "x\u001b[31m\nFAKE LINE",
		 "payload": {"time": "2026-12-07T00:00:00Z\u001b[2J\r", "graph": "g\u0085", "src": {"node": "a\u001b", "port": "out"}, "tgt": {"node": "b", "port": "in\u009b"}, "data": "\"\u001b[1m\""}}
	]}`)
	code, shown, stderr := runTool(t, "trace", "show", file)
	if code != 0 {
		t.Fatalf("trace show: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(shown, "\n"), "\n")
	if len(lines) != 2 {
		t.Errorf("trace show printed %d lines, want 2 (one header, one event):\n%q", len(lines), shown)
	}
	for _, line := range lines {
		if i := strings.IndexFunc(line, terminalControl); i >= 0 {
			t.Errorf("trace show printed control character %U:\n%q", []rune(line[i:])[0], line)
		}
	}
	for _, want := range []string{"n [2J", "p ]0;title ", "2026-12-07T00:00:00Z [2J ", "[x [31m FAKE LINE]"} {
		if !strings.Contains(shown, want) {
			t.Errorf("trace show output lacks %q:\n%q", want, shown)
		}
	}
}

// terminalControl reports a character that moves the cursor, changes the
// terminal or reorders the line (a bidirectional override).
func terminalControl(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
