package spec

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseSuites(t *testing.T) {
	src := `
# a comment before the first document
---
topic: "core/Repeat"
timeout: 1500
base: &in { in: 017 }
cases:
- name: one
  assertion: plain
  inputs: { <<: *in, other: 0x1F }
  expect: { out: { equals: true } }
  timeout: 20
- name: two
  assertion: a sequence
  inputs: [ { in: 1 }, { in: 2 } ]
  expect: [ { out: { equals: 1 } } ]
  skip: ""
---
- name: "listed"
  topic: x
  skip: 'not now'
`
	suites, err := Parse("mem.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 2 {
		t.Fatalf("%d suites, want 2", len(suites))
	}
	s := suites[0]
	if s.Name != "core/Repeat" || s.Timeout != 1500*time.Millisecond || s.Fixture != nil || len(s.Cases) != 2 {
		t.Fatalf("first suite: %+v", s)
	}
	one, two := s.Cases[0], s.Cases[1]
	if got := show(one.Inputs[0]); got != `{"in":15,"other":31}` || one.Timeout != 20*time.Millisecond || one.Err != nil {
		t.Errorf("case one: inputs %s, timeout %s, err %v", got, one.Timeout, one.Err)
	}
	if two.Skip != "" || two.Err == nil || !strings.Contains(two.Err.Error(), "Got 2 inputs and 1 expectations") {
		t.Errorf("case two: skip %q, err %v", two.Skip, two.Err)
	}
	if suites[1].Name != "listed" || suites[1].Skip != "not now" {
		t.Errorf("second suite: %+v", suites[1])
	}
	for _, bad := range []string{"a: [", "topic: x\ncases: 5", "- 1", "a: 1\na: 2"} {
		ss, err := Parse("bad.yaml", []byte(bad))
		if err == nil && (len(ss) == 0 || ss[0].Err == nil) {
			t.Errorf("%q: no error", bad)
		}
	}
}

// Aliases of aliases cannot make a suite of a few lines into billions of
// values: the document is refused. Aliases within reason still read.
func TestParseRefusesAliasBombs(t *testing.T) {
	var src strings.Builder
	src.WriteString("topic: x\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 7; i++ { // 10^7 values
		fmt.Fprintf(&src, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 10), ", "))
	}
	if _, err := Parse("bomb.yaml", []byte(src.String())); err == nil || !strings.Contains(err.Error(), "the aliases make more than") {
		t.Fatalf("a billion laughs: %v", err)
	}
	suites, err := Parse("ok.yaml", []byte("topic: x\na: &a [1, 2]\nb: &b [*a, *a]\ncases: [{inputs: {in: *b}, expect: {out: {equals: *b}}}]\n"))
	if err != nil || len(suites) != 1 || show(suites[0].Cases[0].Inputs[0]) != `{"in":[[1,2],[1,2]]}` {
		t.Fatalf("aliases within reason: %v", err)
	}
}

// Values go out as JSON.stringify writes them.
func TestEncodeLikeJavaScript(t *testing.T) {
	for src, want := range map[string]string{
		`{b: 1, 2: x, a: [1.5, -0, 1e21, 0.0000001], "1": y}`: `{"1":"y","2":"x","b":1,"a":[1.5,0,1e+21,1e-7]}`,
		`"<tag> & ü"`:                  `"<tag> & ü"`,
		`2001-12-14t21:59:43.10-05:00`: `"2001-12-15T02:59:43.100Z"`,
	} {
		got, err := encodeJSON(yamlOne(t, src))
		if err != nil || string(got) != want {
			t.Errorf("%s -> %s (%v), want %s", src, got, err, want)
		}
	}
}

// A truthy skip skips, whatever its text (fbp-spec tests the field's
// truthiness): [] is truthy in JavaScript though String([]) is empty. A
// timeout beyond any run (.inf, 1e13 ms) is no limit, not a negative
// duration that falls back to the default; one that is not a number of
// milliseconds is an error.
func TestSkipAndTimeoutEdges(t *testing.T) {
	src := `
topic: x
cases:
- { name: a, inputs: {in: 1}, expect: {out: {equals: 1}}, skip: [] }
- { name: b, inputs: {in: 1}, expect: {out: {equals: 1}}, skip: [null] }
- { name: c, inputs: {in: 1}, expect: {out: {equals: 1}}, timeout: .inf }
- { name: d, inputs: {in: 1}, expect: {out: {equals: 1}}, timeout: 1e13 }
- { name: e, inputs: {in: 1}, expect: {out: {equals: 1}}, timeout: .nan }
`
	suites, err := Parse("edges.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	cs := suites[0].Cases
	if cs[0].Skip != "[]" || cs[1].Skip != "[null]" {
		t.Errorf("skips %q %q, want [] and [null]", cs[0].Skip, cs[1].Skip)
	}
	for _, c := range cs[2:4] {
		if c.Err != nil || c.Timeout < 100*365*24*time.Hour {
			t.Errorf("case %s: timeout %s, err %v: want no limit", c.Name, c.Timeout, c.Err)
		}
	}
	if cs[4].Err == nil && suites[0].Err == nil {
		t.Errorf("case e: timeout .nan read as %s", cs[4].Timeout)
	}
}
