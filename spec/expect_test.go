package spec

import (
	"strings"
	"testing"
)

// yamlOne reads one YAML value (the expectations and values of the table
// are written as in suites).
func yamlOne(t *testing.T, src string) any {
	t.Helper()
	docs, err := parseYAMLDocuments([]byte("v: " + src))
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	v, _ := docs[0].(*Object).Get("v")
	return v
}

// The operators decide as chai does in fbp-spec 0.8.
func TestOperators(t *testing.T) {
	for _, tc := range []struct {
		actual, expect string
		pass           bool
	}{
		{`{a: 1, b: [1, 2]}`, `{equals: {b: [1, 2], a: 1}}`, true},
		{`{a: 1, b: 2}`, `{equals: {a: 1}}`, false},
		{`[1, 2]`, `{equals: [2, 1]}`, false},
		{`0`, `{equals: -0}`, false}, // deep-eql tells 0 from -0
		{`"1"`, `{equals: 1}`, false},
		{`10`, `{above: 9}`, true},
		{`10`, `{above: 10}`, false},
		{`"10"`, `{above: 1}`, false},
		{`10`, `{above: "1"}`, false},
		{`-1.5`, `{below: 0}`, true},
		{`3`, `{below: 2}`, false},
		{`{x: 1}`, `{type: object}`, true},
		{`{x: 1}`, `{type: Object}`, true},
		{`[1]`, `{type: array}`, true},
		{`[1]`, `{type: object}`, false},
		{`null`, `{type: "null"}`, true},
		{`1`, `{type: 5}`, false},
		{`{a: 1, b: 2}`, `{haveKeys: [b, a]}`, true},
		{`{a: 1, b: 2}`, `{haveKeys: [a]}`, false},
		{`{a: 1, b: 2}`, `{haveKeys: [a, a]}`, true}, // chai counts, it does not dedupe
		{`[7]`, `{haveKeys: [0]}`, true},
		{`"ab"`, `{haveKeys: ["0", "1"]}`, true},
		{`null`, `{haveKeys: [a]}`, false},
		{`{a: 1}`, `{haveKeys: []}`, false},
		{`{a: 1, b: 2}`, `{includeKeys: [a]}`, true},
		{`{a: 1}`, `{includeKeys: [a, c]}`, false},
		{`"a substring 22"`, `{contains: 22}`, true},
		{`"a substring"`, `{contains: other}`, false},
		{`[1, two, 3]`, `{contains: two}`, true},
		{`[{a: 1}]`, `{contains: {a: 1}}`, false},
		{`{a: 1, b: x}`, `{contains: {b: x}}`, true},
		{`{a: {c: 1}}`, `{contains: {a: {c: 1}}}`, false},
		{`5`, `{contains: 5}`, false},
		{`{result: 1}`, `{noterror: true}`, true},
		{`"message"`, `{noterror: true}`, true},
		{`{message: "it broke"}`, `{noterror: true}`, false},
		{`{message: ""}`, `{noterror: true}`, true},
		{`1`, `{equals: 1, type: string}`, true}, // only the first operator applies
		{`1`, `{path: "$", equals: 1}`, false},   // a path on a number is an error
		{`1`, `{equal: 1}`, false},
		{`1`, `5`, false},
	} {
		err := checkStep(yamlOne(t, `{out: `+tc.expect+`}`), map[string]any{"out": yamlOne(t, tc.actual)})
		if (err == nil) != tc.pass {
			t.Errorf("%s on %s: error %v, want pass %v", tc.expect, tc.actual, err, tc.pass)
		}
	}
}

func TestCheckStepsMessages(t *testing.T) {
	exp := []any{yamlOne(t, `{out: {equals: 1}}`), yamlOne(t, `{out: {equals: 2}}`)}
	got := func(a, b float64) []map[string]any { return []map[string]any{{"out": a}, {"out": b}} }
	if err := checkSteps(exp, got(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := checkSteps(exp, got(1, 3)); err == nil || !strings.HasPrefix(err.Error(), "Expectation 1 of sequence failed: ") {
		t.Fatalf("one step wrong: %v", err)
	}
	if err := checkSteps(exp, got(5, 5)); err == nil || !strings.HasPrefix(err.Error(), "Multiple failures in sequence: ") {
		t.Fatalf("two steps wrong: %v", err)
	}
	if err := checkStep(yamlOne(t, `{in: {equals: 1}}`), map[string]any{"out": 1.0}); err == nil || err.Error() != "No data received on port in" {
		t.Fatalf("a port with no data: %v", err)
	}
}
