package spec

import (
	"fmt"
	"math"
	"strings"
)

// Failure is a failed expectation: what was expected of which port, and
// the value that came.
type Failure struct {
	Port     string
	Path     string // the JSONPath the value was taken with, if any
	Operator string
	Expected any
	Actual   any
	HasValue bool // Actual is a value that came (not a missing port)
	Message  string
}

func (f *Failure) Error() string { return f.Message }

// operators are fbp-spec's (lib/expectation.js), each as the chai
// assertion it is there. Each returns "" when the value passes, else
// chai's message.
var operators = map[string]func(actual, expected any) string{
	"type":        opType,
	"equals":      opEquals,
	"above":       func(a, e any) string { return opCompare(a, e, "above", func(x, y float64) bool { return x > y }) },
	"below":       func(a, e any) string { return opCompare(a, e, "below", func(x, y float64) bool { return x < y }) },
	"haveKeys":    func(a, e any) string { return opKeys(a, e, false) },
	"includeKeys": func(a, e any) string { return opKeys(a, e, true) },
	"contains":    opContains,
	"noterror":    opNotError,
}

// operatorNames in fbp-spec's order, for messages.
var operatorNames = []string{"type", "equals", "above", "below", "haveKeys", "includeKeys", "contains", "noterror"}

// checkStep checks what one step received (port -> last value) against
// its expectation (port -> one check or a list of checks), as fbp-spec's
// expectation.expect: ports in the order written, checks in order, the
// first failure ends it.
func checkStep(expect any, received map[string]any) error {
	e, ok := expect.(*Object)
	if !ok {
		if expect == nil {
			return fmt.Errorf("Cannot convert undefined or null to object")
		}
		return nil // Object.keys of a string or number: nothing to check
	}
	for _, port := range e.jsKeys() {
		for _, ex := range steps(e.Values[port]) {
			if err := checkOne(port, ex, received); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkOne(port string, ex any, received map[string]any) error {
	data, got := received[port]
	if !got {
		return &Failure{Port: port, Message: fmt.Sprintf("No data received on port %s", port)}
	}
	name, expected, err := findOperator(ex)
	if err != nil {
		return err
	}
	matches := []any{data}
	path := ""
	if o, ok := ex.(*Object); ok {
		if p, has := o.Get("path"); has && jsTruthy(p) {
			path = jsString(p)
			if matches, err = jsonPathQuery(data, path); err != nil {
				return &Failure{Port: port, Path: path, Operator: name, Expected: expected, Actual: data, HasValue: true, Message: err.Error()}
			}
			if len(matches) == 0 {
				return &Failure{Port: port, Path: path, Operator: name, Expected: expected, Actual: data, HasValue: true,
					Message: fmt.Sprintf("expected JSONPath '%s' to match data in %s", path, show(data))}
			}
		}
	}
	for _, m := range matches {
		if msg := operators[name](m, expected); msg != "" {
			return &Failure{Port: port, Path: path, Operator: name, Expected: expected, Actual: m, HasValue: true, Message: msg}
		}
	}
	return nil
}

// findOperator picks the first key of the expectation, in the order
// written, that names an operator (fbp-spec applies that one only).
func findOperator(ex any) (string, any, error) {
	o, ok := ex.(*Object)
	if ex == nil {
		return "", nil, fmt.Errorf("Cannot convert undefined or null to object")
	}
	var keys []string
	if ok {
		keys = o.jsKeys()
		for _, k := range keys {
			if k == "path" {
				continue
			}
			if _, isOp := operators[k]; isOp {
				return k, o.Values[k], nil
			}
		}
	}
	return "", nil, fmt.Errorf("fbp-spec: No operator matching %s. Available: %s", strings.Join(keys, ","), strings.Join(operatorNames, ","))
}

// inspect renders a value as chai's messages do (strings quoted).
func inspect(v any) string {
	if s, ok := v.(string); ok {
		return "'" + s + "'"
	}
	return show(v)
}

func opType(actual, expected any) string {
	s, ok := expected.(string)
	if !ok {
		return "type.toLowerCase is not a function"
	}
	want := strings.ToLower(s)
	article := "a "
	if want != "" && strings.ContainsRune("aeiou", rune(want[0])) {
		article = "an "
	}
	if typeName(actual) != want {
		return fmt.Sprintf("expected %s to be %s%s", inspect(actual), article, want)
	}
	return ""
}

func opEquals(actual, expected any) string {
	if !deepEqual(actual, expected) {
		return fmt.Sprintf("expected %s to deeply equal %s", inspect(actual), inspect(expected))
	}
	return ""
}

// deepEqual is chai's deep equality (deep-eql) on JSON values: 0 and -0
// differ, NaN equals NaN, objects by their keys whatever their order.
func deepEqual(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return false
		}
		if math.IsNaN(x) && math.IsNaN(y) {
			return true
		}
		return x == y && math.Signbit(x) == math.Signbit(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !deepEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case *Object:
		y, ok := b.(*Object)
		if !ok || len(x.Keys) != len(y.Keys) {
			return false
		}
		for _, k := range x.Keys {
			yv, has := y.Values[k]
			if !has || !deepEqual(x.Values[k], yv) {
				return false
			}
		}
		return true
	}
	return a == b
}

func opCompare(actual, expected any, name string, ok func(x, y float64) bool) string {
	x, isNum := actual.(float64)
	y, expNum := expected.(float64)
	switch {
	case !expNum && isNum:
		return fmt.Sprintf("the argument to %s must be a number", name)
	case !isNum:
		return fmt.Sprintf("expected %s to be a number or a date", inspect(actual))
	case !ok(x, y):
		return fmt.Sprintf("expected %s to be %s %s", show(x), name, show(y))
	}
	return ""
}

// ownKeys is Object.keys(v) for a JSON value (a string's are its indices);
// null has none and is an error in JavaScript.
func ownKeys(v any) ([]string, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case *Object:
		return x.jsKeys(), true
	case []any:
		keys := make([]string, len(x))
		for i := range x {
			keys[i] = fmt.Sprint(i)
		}
		return keys, true
	case string:
		var keys []string
		for i := range utf16Len(x) {
			keys = append(keys, fmt.Sprint(i))
		}
		return keys, true
	}
	return nil, true
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// opKeys is chai's keys assertion: every expected key present, and with
// haveKeys (include false) as many keys as expected.
func opKeys(actual, expected any, include bool) string {
	var want []string
	switch x := expected.(type) {
	case []any:
		for _, k := range x {
			want = append(want, jsString(k))
		}
	case *Object:
		want = x.jsKeys()
	default:
		want = []string{jsString(expected)}
	}
	have, ok := ownKeys(actual)
	if !ok {
		return "Cannot convert undefined or null to object"
	}
	if len(want) == 0 {
		return "keys required"
	}
	set := map[string]bool{}
	for _, k := range have {
		set[k] = true
	}
	pass := true
	for _, k := range want {
		pass = pass && set[k]
	}
	verb := "have"
	if include {
		verb = "contain"
	} else {
		pass = pass && len(want) == len(have)
	}
	if !pass {
		return fmt.Sprintf("expected %s to %s keys %s", inspect(actual), verb, quoteList(want))
	}
	return ""
}

func quoteList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "'" + k + "'"
	}
	return strings.Join(q, ", ")
}

// opContains is chai's include: a substring of a string, a member (===) of
// an array, or properties (===) of an object.
func opContains(actual, expected any) string {
	fail := fmt.Sprintf("expected %s to include %s", inspect(actual), inspect(expected))
	switch x := actual.(type) {
	case string:
		if !strings.Contains(x, jsString(expected)) {
			return fail
		}
		return ""
	case []any:
		for _, e := range x {
			if strictEqual(e, expected) {
				return ""
			}
		}
		return fail
	}
	eo, isObj := expected.(*Object)
	el, isList := expected.([]any)
	if !isObj && !isList {
		return fmt.Sprintf("object tested must be an array, a map, an object, a set, a string, or a weakset, but %s given", typeName(actual))
	}
	ao, _ := actual.(*Object)
	check := func(key string, want any) string {
		if ao == nil {
			return fmt.Sprintf("expected %s to have property '%s'", inspect(actual), key)
		}
		got, has := ao.Get(key)
		if !has || !strictEqual(got, want) {
			return fmt.Sprintf("expected %s to have property '%s' of %s", inspect(actual), key, inspect(want))
		}
		return ""
	}
	if isObj {
		for _, k := range eo.jsKeys() {
			if msg := check(k, eo.Values[k]); msg != "" {
				return msg
			}
		}
		return ""
	}
	for i, v := range el {
		if msg := check(fmt.Sprint(i), v); msg != "" {
			return msg
		}
	}
	return ""
}

// strictEqual is JavaScript's === on JSON values: objects and arrays are
// never equal to another value (they are other references).
func strictEqual(a, b any) bool {
	switch a.(type) {
	case *Object, []any:
		return false
	}
	if x, ok := a.(float64); ok {
		y, ok := b.(float64)
		return ok && x == y
	}
	return a == b
}

// opNotError fails when the value has a truthy message property, as
// fbp-spec's noterror (it throws the value).
func opNotError(actual, _ any) string {
	o, ok := actual.(*Object)
	if !ok {
		return ""
	}
	if m, has := o.Get("message"); has && jsTruthy(m) {
		return jsString(m)
	}
	return ""
}
