// Package spec runs fbp-spec test suites (https://github.com/flowbased/fbp-spec,
// the 0.8 format) against an FBP runtime over the FBP protocol: a suite
// sets up a fixture graph, and each of its cases sends packets to the
// graph's inports and checks what comes out of its outports.
//
// It reads suites as the fbp-spec 0.8 CLI does and decides each case as
// that CLI does (which operator of an expectation applies, when a case has
// received enough, what fails it), so a suite gives the same verdicts with
// either. The differences (timeouts, a fixture that fails to load) are in
// docs/fbp-spec.md. msgflo-runtime's `test` subcommand is built on it; Go
// tests use it through Run or RunT.
package spec

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Suite is one fbp-spec test suite: a fixture graph and its cases.
type Suite struct {
	Name  string
	Topic string
	// Fixture is the graph under test; nil means one synthesized from
	// the Topic component, every port exported.
	Fixture *Fixture
	Cases   []*Case
	// Timeout is the suite's time limit for each case (0: the runner's).
	Timeout time.Duration
	// Skip is why the whole suite is skipped ("" runs it).
	Skip string
	// File is where the suite was read from.
	File string
	// Err is why the suite cannot run (a malformed suite).
	Err error
}

// Fixture is a suite's graph, in the FBP language ("fbp") or the JSON
// graph format ("json").
type Fixture struct {
	Type string
	Data string
}

// Case is one test case: inputs sent to the fixture's inports and what is
// expected on its outports, once or as a sequence of steps.
type Case struct {
	Name, Assertion string
	// Inputs and Expect have one entry per step of a sequence (one for a
	// plain case). An input maps inport names to the values sent; an
	// expectation maps outport names to checks.
	Inputs []any
	Expect []any
	// Timeout overrides the suite's for this case (0: none given).
	Timeout time.Duration
	Skip    string
	// Err is why the case cannot run as written.
	Err error
}

// LoadFiles reads suites from files, directories (their *.yaml files, as
// fbp-spec) and http(s) URLs, in the order given.
func LoadFiles(paths ...string) ([]*Suite, error) {
	var all []*Suite
	for _, p := range paths {
		suites, err := loadPath(p)
		if err != nil {
			return nil, err
		}
		all = append(all, suites...)
	}
	return all, nil
}

func loadPath(p string) ([]*Suite, error) {
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		data, err := fetch(p)
		if err != nil {
			return nil, err
		}
		return Parse(p, data)
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		var files []string
		for _, e := range entries {
			if filepath.Ext(e.Name()) == ".yaml" {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
		sort.Strings(files)
		return LoadFiles(files...)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return Parse(p, data)
}

func fetch(url string) ([]byte, error) {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// Parse reads the suites of one YAML stream (one suite per document, or a
// document that is a list of suites); file names them in messages.
func Parse(file string, data []byte) ([]*Suite, error) {
	docs, err := parseYAMLDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var suites []*Suite
	for i, d := range docs {
		list, isList := d.([]any)
		if !isList {
			list = []any{d}
		}
		for _, item := range list {
			o, ok := item.(*Object)
			if !ok {
				return nil, fmt.Errorf("%s: document %d is not a suite (a mapping)", file, i+1)
			}
			suites = append(suites, suiteFrom(file, o))
		}
	}
	return suites, nil
}

// suiteFrom reads a suite as fbp-spec normalizes it: the name defaults to
// the topic, cases to none.
func suiteFrom(file string, o *Object) *Suite {
	s := &Suite{File: file}
	s.Topic = stringField(o, "topic")
	s.Name = stringField(o, "name")
	if s.Name == "" {
		s.Name = s.Topic
	}
	s.Skip = skipReason(o)
	var err error
	if s.Timeout, err = durationField(o, "timeout"); err != nil {
		s.Err = err
	}
	if f, ok := o.Get("fixture"); ok && jsTruthy(f) {
		fo, isObj := f.(*Object)
		if !isObj {
			s.Err = fmt.Errorf("fixture is not a mapping")
		} else {
			s.Fixture = &Fixture{Type: stringField(fo, "type"), Data: stringField(fo, "data")}
		}
	}
	cases, _ := o.Get("cases")
	switch list := cases.(type) {
	case nil:
	case []any:
		for i, c := range list {
			s.Cases = append(s.Cases, caseFrom(i, c))
		}
	default:
		s.Err = fmt.Errorf("cases is not a list")
	}
	return s
}

func caseFrom(i int, v any) *Case {
	o, ok := v.(*Object)
	if !ok {
		return &Case{Name: fmt.Sprintf("case %d", i+1), Err: fmt.Errorf("case %d is not a mapping", i+1)}
	}
	c := &Case{Name: stringField(o, "name"), Assertion: stringField(o, "assertion"), Skip: skipReason(o)}
	var err error
	if c.Timeout, err = durationField(o, "timeout"); err != nil {
		c.Err = err
	}
	inputs, _ := o.Get("inputs")
	expect, _ := o.Get("expect")
	c.Inputs = steps(inputs)
	c.Expect = steps(expect)
	if len(c.Inputs) != len(c.Expect) && c.Err == nil {
		c.Err = fmt.Errorf("Test sequence length mismatch. Got %d inputs and %d expectations", len(c.Inputs), len(c.Expect))
	}
	return c
}

// steps is fbp-spec's normalization: a list is a sequence, anything else
// one step.
func steps(v any) []any {
	if list, ok := v.([]any); ok {
		return list
	}
	return []any{v}
}

func stringField(o *Object, key string) string {
	v, ok := o.Get(key)
	if !ok || v == nil {
		return ""
	}
	return jsString(v)
}

// skipReason is the skip field when it is truthy, as fbp-spec tests it.
func skipReason(o *Object) string {
	v, _ := o.Get("skip")
	if !jsTruthy(v) {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	if s := jsString(v); s != "" {
		return s
	}
	return show(v) // truthy with no text: [], [null]
}

// durationField reads milliseconds.
func durationField(o *Object, key string) (time.Duration, error) {
	v, ok := o.Get(key)
	if !ok || v == nil {
		return 0, nil
	}
	ms, isNum := v.(float64)
	if !isNum || !(ms >= 0) {
		return 0, fmt.Errorf("%s is not a number of milliseconds: %s", key, show(v))
	}
	if ms >= float64(math.MaxInt64/time.Millisecond) {
		return math.MaxInt64, nil // .inf, or longer than any run: no limit
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}
