package spec

import (
	"strings"
	"testing"
	"unicode"
)

// What a runtime sent reaches the terminal escaped in every line of the
// human report, the side-by-side values too: no control character (C0,
// DEL, C1 such as CSI) and no bidirectional override.
func TestHumanReportKeepsTerminalControlOut(t *testing.T) {
	hostile := "\u009b2J\x7f\u202egnp.exe\x1b]2;x\x07"
	var out strings.Builder
	rep, err := NewReporter("human", &out, false)
	if err != nil {
		t.Fatal(err)
	}
	suite := &Suite{Name: "s" + hostile}
	for _, actual := range []any{hostile, strings.Repeat("x", 60) + hostile} { // side by side, and one under the other
		rep.Case(Result{Suite: suite, Case: &Case{Name: "c", Assertion: "a"}, Status: Failed,
			Err: &Failure{Port: "out", Operator: "equals", Expected: "ok", Actual: actual, HasValue: true, Message: "m" + hostile}})
	}
	text := out.String()
	for _, r := range text {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
			t.Fatalf("%U in the report:\n%q", r, text)
		}
	}
	if !strings.Contains(text, `\x9b2J\x7f\u202egnp.exe`) {
		t.Fatalf("the value is not shown escaped:\n%s", text)
	}
}
