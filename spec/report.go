package spec

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"
)

// Reporter writes results as they come (Case) and at the end (Finish).
type Reporter interface {
	Case(r Result)
	Finish(results []SuiteResult, elapsed time.Duration) error
}

// NewReporter returns the reporter of a format: "human", "tap" or "junit".
func NewReporter(format string, w io.Writer, color bool) (Reporter, error) {
	switch format {
	case "", "human":
		return &humanReporter{w: w, color: color}, nil
	case "tap":
		return &tapReporter{w: w}, nil
	case "junit":
		return &junitReporter{w: w}, nil
	}
	return nil, fmt.Errorf("unknown format %q (human, tap or junit)", format)
}

// ExitCode is fbp-spec's: 0 when every case passed (or was skipped), 2
// when a case failed, 1 when a suite could not be set up or torn down
// (where fbp-spec stops the run with an error).
func ExitCode(results []SuiteResult) int {
	code := 0
	for _, s := range results {
		if s.Err != nil {
			return 1
		}
		for _, c := range s.Cases {
			if c.Status == Failed {
				code = 2
			}
		}
	}
	return code
}

// Counts adds up the cases' outcomes.
func Counts(results []SuiteResult) (passed, failed, skipped int) {
	for _, s := range results {
		for _, c := range s.Cases {
			switch c.Status {
			case Passed:
				passed++
			case Failed:
				failed++
			case Skipped:
				skipped++
			}
		}
	}
	return
}

// humanReporter writes fbp-spec's text (suite, case, "assertion: ✓"), the
// failing expectation's expected and actual values side by side, and a
// closing count.
type humanReporter struct {
	w         io.Writer
	color     bool
	lastSuite *Suite
}

const (
	green  = "\x1b[32m"
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

func (h *humanReporter) paint(color, s string) string {
	if !h.color {
		return s
	}
	return color + s + reset
}

func (h *humanReporter) Case(r Result) {
	if r.Suite != h.lastSuite {
		fmt.Fprintln(h.w, oneLine(r.Suite.Name))
		h.lastSuite = r.Suite
	}
	res := h.paint(green, "✓")
	switch r.Status {
	case Skipped:
		res = h.paint(yellow, "SKIP: "+oneLine(r.Reason))
	case Failed:
		res = h.paint(red, "✗ Error: "+oneLine(r.Err.Error()))
	}
	fmt.Fprintf(h.w, "  %s\n    %s: %s\n", oneLine(r.Case.Name), oneLine(r.Case.Assertion), res)
	var f *Failure
	if r.Status == Failed && errors.As(r.Err, &f) && f.HasValue {
		h.sideBySide(f)
	}
}

// sideBySide shows what was expected next to what came; long values one
// under the other.
func (h *humanReporter) sideBySide(f *Failure) {
	left := "expected"
	if f.Operator != "" && f.Operator != "equals" {
		left += " (" + f.Operator + ")"
	}
	if f.Path != "" {
		left += " at " + f.Path
	}
	exp, act := oneLine(show(f.Expected)), oneLine(show(f.Actual))
	const indent = "      "
	width := max(len(left), len(exp))
	if width <= 50 && len(act) <= 50 {
		fmt.Fprintf(h.w, "%s%-*s | %s\n", indent, width, left, "actual")
		fmt.Fprintf(h.w, "%s%s | %s\n", indent, h.paint(green, fmt.Sprintf("%-*s", width, exp)), h.paint(red, act))
		return
	}
	fmt.Fprintf(h.w, "%s%s: %s\n%sactual: %s\n", indent, left, h.paint(green, exp), indent, h.paint(red, act))
}

func (h *humanReporter) Finish(results []SuiteResult, elapsed time.Duration) error {
	for _, s := range results {
		if s.Err != nil {
			fmt.Fprintf(h.w, "%s\n", h.paint(red, "Error: "+oneLine(s.Err.Error())))
		}
	}
	p, f, s := Counts(results)
	_, err := fmt.Fprintf(h.w, "\n%d passed, %d failed, %d skipped\n(%s)\n", p, f, s, elapsed.Round(time.Millisecond))
	return err
}

// oneLine keeps a name, message or value on its line and out of the
// terminal's control: control characters (a runtime's text included) and
// bidirectional overrides (which reorder what follows on the line) are
// shown escaped.
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, "\\x%02x", r)
		case unicode.Is(unicode.Bidi_Control, r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// tapReporter writes TAP version 13: a test point per case, failures with
// a YAML block, skips as # SKIP, the plan at the end.
type tapReporter struct {
	w       io.Writer
	n       int
	started bool
}

func (t *tapReporter) Case(r Result) {
	if !t.started {
		fmt.Fprintln(t.w, "TAP version 13")
		t.started = true
	}
	t.n++
	desc := tapEscape(r.Suite.Name + ": " + r.Case.Name + ": " + r.Case.Assertion)
	switch r.Status {
	case Passed:
		fmt.Fprintf(t.w, "ok %d - %s\n", t.n, desc)
	case Skipped:
		fmt.Fprintf(t.w, "ok %d - %s # SKIP %s\n", t.n, desc, tapEscape(r.Reason))
	case Failed:
		fmt.Fprintf(t.w, "not ok %d - %s\n", t.n, desc)
		t.diagnostics(r)
	}
}

func (t *tapReporter) diagnostics(r Result) {
	lines := [][2]string{{"message", r.Err.Error()}}
	var f *Failure
	if errors.As(r.Err, &f) {
		lines = append(lines, [2]string{"port", f.Port})
		if f.Operator != "" {
			lines = append(lines, [2]string{"operator", f.Operator})
		}
		if f.Path != "" {
			lines = append(lines, [2]string{"path", f.Path})
		}
		if f.HasValue {
			lines = append(lines, [2]string{"expected", show(f.Expected)}, [2]string{"actual", show(f.Actual)})
		}
	}
	fmt.Fprintln(t.w, "  ---")
	for _, l := range lines {
		v, _ := json.Marshal(l[1]) // a JSON string is a YAML scalar
		fmt.Fprintf(t.w, "  %s: %s\n", l[0], v)
	}
	fmt.Fprintln(t.w, "  ...")
}

// tapEscape keeps a description on its line and its # from starting a
// directive.
func tapEscape(s string) string {
	s = strings.ReplaceAll(oneLine(s), "\\", "\\\\")
	return strings.ReplaceAll(s, "#", "\\#")
}

func (t *tapReporter) Finish(results []SuiteResult, _ time.Duration) error {
	if !t.started {
		fmt.Fprintln(t.w, "TAP version 13")
	}
	for _, s := range results {
		if s.Err != nil {
			fmt.Fprintf(t.w, "# %s\n", oneLine(s.Err.Error()))
		}
	}
	_, err := fmt.Fprintf(t.w, "1..%d\n", t.n)
	return err
}

// junitReporter writes the Apache Ant JUnit XML format (the JUnit XSD's),
// one testsuite per suite, at the end.
type junitReporter struct{ w io.Writer }

func (j *junitReporter) Case(Result) {}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Package    string      `xml:"package,attr"`
	ID         int         `xml:"id,attr"`
	Name       string      `xml:"name,attr"`
	Timestamp  string      `xml:"timestamp,attr"`
	Hostname   string      `xml:"hostname,attr"`
	Tests      int         `xml:"tests,attr"`
	Failures   int         `xml:"failures,attr"`
	Errors     int         `xml:"errors,attr"`
	Skipped    int         `xml:"skipped,attr"`
	Time       string      `xml:"time,attr"`
	Properties struct{}    `xml:"properties"`
	Cases      []junitCase `xml:"testcase"`
	SystemOut  string      `xml:"system-out"`
	SystemErr  string      `xml:"system-err"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	Failure   *junitMessage `xml:"failure,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func (j *junitReporter) Finish(results []SuiteResult, _ time.Duration) error {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05")
	out := junitSuites{Suites: []junitSuite{}}
	for i, s := range results {
		name := nonEmpty(s.Suite.Name, s.Suite.Topic, fmt.Sprintf("suite %d", i+1))
		js := junitSuite{Package: nonEmpty(s.Suite.File, name), ID: i, Name: name, Timestamp: now, Hostname: host, Time: seconds(s.Duration)}
		if s.Err != nil {
			js.SystemErr = s.Err.Error()
		}
		for _, c := range s.Cases {
			jc := junitCase{Name: nonEmpty(c.Case.Name+": "+c.Case.Assertion, "case"), Classname: name, Time: seconds(c.Duration)}
			js.Tests++
			switch c.Status {
			case Skipped:
				js.Skipped++
				jc.Skipped = &junitMessage{Message: c.Reason}
			case Failed:
				js.Failures++
				typ := "error"
				var f *Failure
				if errors.As(c.Err, &f) && f.Operator != "" {
					typ = f.Operator
				}
				jc.Failure = &junitMessage{Message: c.Err.Error(), Type: typ, Text: failureText(c.Err)}
			}
			js.Cases = append(js.Cases, jc)
		}
		out.Suites = append(out.Suites, js)
	}
	if _, err := io.WriteString(j.w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(j.w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err = io.WriteString(j.w, "\n")
	return err
}

func failureText(err error) string {
	var f *Failure
	if !errors.As(err, &f) || !f.HasValue {
		return err.Error()
	}
	return fmt.Sprintf("port: %s\nexpected: %s\nactual: %s", f.Port, show(f.Expected), show(f.Actual))
}

func nonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
