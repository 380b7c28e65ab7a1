package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// JSONPath as fbp-spec evaluates it: the npm jsonpath package (1.x, the
// grammar of Goessner's article as that package implements it). Paths
// start with $ (or a member name); components are .name, ..name, .*, ..*,
// [n], ['name'], ["name"], [*], [start:end:step], unions [a,b], filters
// [?(@.x > 1)] and scripts [(@.length-1)], whose JavaScript expressions
// are evaluated by expr.go (a subset: literals, @ and its members,
// arithmetic, comparisons, logic). The package's quirks are kept: string
// literals are not unescaped, [-1] matches nothing, .length of an array
// is its length, and a path applied to a value that is not an object or
// array is an error.

type pathComponent struct {
	operation string // member, subscript
	scope     string // child, descendant
	kind      string // identifier, numeric_literal, string_literal, wildcard, slice, union, script_expression, filter_expression
	value     string
	number    float64
	union     []pathComponent
}

type pathToken struct {
	kind, text string
}

var pathLexRules = []struct {
	kind string
	re   *regexp.Regexp
}{
	{"DOLLAR", regexp.MustCompile(`^\$`)},
	{"DOT_DOT", regexp.MustCompile(`^\.\.`)},
	{"DOT", regexp.MustCompile(`^\.`)},
	{"STAR", regexp.MustCompile(`^\*`)},
	{"IDENTIFIER", regexp.MustCompile(`^[a-zA-Z_]+[a-zA-Z0-9_]*`)},
	{"[", regexp.MustCompile(`^\[`)},
	{"]", regexp.MustCompile(`^\]`)},
	{",", regexp.MustCompile(`^,`)},
	{"ARRAY_SLICE", regexp.MustCompile(`^(-?(?:0|[1-9][0-9]*))?:(-?(?:0|[1-9][0-9]*))?(:(-?(?:0|[1-9][0-9]*))?)?`)},
	{"INTEGER", regexp.MustCompile(`^-?(?:0|[1-9][0-9]*)`)},
	{"QQ_STRING", regexp.MustCompile(`^"(?:\\["bfnrt/\\]|\\u[a-fA-F0-9]{4}|[^"\\])*"`)},
	{"Q_STRING", regexp.MustCompile(`^'(?:\\['bfnrt/\\]|\\u[a-fA-F0-9]{4}|[^'\\])*'`)},
	{"SCRIPT_EXPRESSION", regexp.MustCompile(`^\(.+?\)\]`)},
	{"FILTER_EXPRESSION", regexp.MustCompile(`^\?\(.+?\)\]`)},
}

// lexPath splits a path into tokens: the first rule that matches wins, as
// in the package's generated lexer.
func lexPath(path string) ([]pathToken, error) {
	var toks []pathToken
	for rest := path; rest != ""; {
		matched := false
		for _, r := range pathLexRules {
			m := r.re.FindString(rest)
			if m == "" {
				continue
			}
			if strings.HasSuffix(r.kind, "_EXPRESSION") {
				m = m[:len(m)-1] // the ] is only looked ahead at
			}
			text := m
			if r.kind == "QQ_STRING" || r.kind == "Q_STRING" {
				text = m[1 : len(m)-1]
			}
			toks = append(toks, pathToken{r.kind, text})
			rest = rest[len(m):]
			matched = true
			break
		}
		if !matched {
			return nil, fmt.Errorf("Lexical error on JSONPath %q at %q", path, rest)
		}
	}
	return toks, nil
}

type pathParser struct {
	path string
	toks []pathToken
	pos  int
}

func (p *pathParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos].kind
	}
	return "EOF"
}

func (p *pathParser) next() pathToken {
	t := p.toks[p.pos]
	p.pos++
	return t
}

func (p *pathParser) fail() error {
	return fmt.Errorf("Parse error on JSONPath %q: unexpected %s", p.path, p.peek())
}

// parsePath parses a path into components (the root $ left out).
func parsePath(path string) ([]pathComponent, error) {
	toks, err := lexPath(path)
	if err != nil {
		return nil, err
	}
	p := &pathParser{path: path, toks: toks}
	var comps []pathComponent
	if p.peek() == "DOLLAR" {
		p.next()
	} else {
		c, err := p.memberExpression("child")
		if err != nil {
			return nil, err
		}
		comps = append(comps, c)
	}
	for p.peek() != "EOF" {
		c, err := p.component()
		if err != nil {
			return nil, err
		}
		comps = append(comps, c)
	}
	return comps, nil
}

func (p *pathParser) component() (pathComponent, error) {
	switch p.peek() {
	case "DOT":
		p.next()
		return p.memberExpression("child")
	case "DOT_DOT":
		p.next()
		if p.peek() == "[" {
			return p.subscript("descendant")
		}
		return p.memberExpression("descendant")
	case "[":
		return p.subscript("child")
	}
	return pathComponent{}, p.fail()
}

func (p *pathParser) memberExpression(scope string) (pathComponent, error) {
	c := pathComponent{operation: "member", scope: scope}
	switch p.peek() {
	case "STAR":
		c.kind, c.value = "wildcard", p.next().text
	case "IDENTIFIER":
		c.kind, c.value = "identifier", p.next().text
	case "SCRIPT_EXPRESSION":
		c.kind, c.value = "script_expression", p.next().text
	case "INTEGER":
		t := p.next()
		c.kind, c.value = "numeric_literal", t.text
		c.number, _ = strconv.ParseFloat(t.text, 64)
	default:
		return c, p.fail()
	}
	return c, nil
}

func (p *pathParser) subscript(scope string) (pathComponent, error) {
	p.next() // [
	c := pathComponent{operation: "subscript", scope: scope}
	switch p.peek() {
	case "STAR":
		c.kind, c.value = "wildcard", p.next().text
	case "SCRIPT_EXPRESSION":
		c.kind, c.value = "script_expression", p.next().text
	case "FILTER_EXPRESSION":
		c.kind, c.value = "filter_expression", p.next().text
	default:
		var list []pathComponent
		for {
			item, err := p.listable()
			if err != nil {
				return c, err
			}
			list = append(list, item)
			if p.peek() != "," {
				break
			}
			p.next()
		}
		if len(list) == 1 {
			c.kind, c.value, c.number = list[0].kind, list[0].value, list[0].number
		} else {
			c.kind, c.union = "union", list
		}
	}
	if p.peek() != "]" {
		return c, p.fail()
	}
	p.next()
	return c, nil
}

func (p *pathParser) listable() (pathComponent, error) {
	switch p.peek() {
	case "INTEGER":
		t := p.next()
		n, _ := strconv.ParseFloat(t.text, 64)
		return pathComponent{kind: "numeric_literal", value: t.text, number: n}, nil
	case "QQ_STRING", "Q_STRING":
		return pathComponent{kind: "string_literal", value: p.next().text}, nil
	case "ARRAY_SLICE":
		return pathComponent{kind: "slice", value: p.next().text}, nil
	}
	return pathComponent{}, p.fail()
}

// pathNode is a value found, with the path to it (for unions' duplicates).
type pathNode struct {
	path  string
	value any
}

// jsonPathQuery returns the values path selects in data.
func jsonPathQuery(data any, path string) ([]any, error) {
	if !isContainer(data) {
		return nil, fmt.Errorf("obj needs to be an object")
	}
	comps, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	for _, c := range comps {
		for _, k := range []string{c.value} {
			if (c.kind == "identifier" || c.kind == "string_literal") && (k == "__proto__" || k == "prototype" || k == "constructor") {
				return nil, fmt.Errorf("Unsafe key in JSONPath: %s", k)
			}
		}
	}
	nodes, err := evalPath(pathNode{"$", data}, comps)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(nodes))
	for i, n := range nodes {
		out[i] = n.value
	}
	return out, nil
}

func evalPath(root pathNode, comps []pathComponent) ([]pathNode, error) {
	partials := []pathNode{root}
	for _, c := range comps {
		var next []pathNode
		for _, p := range partials {
			found, err := applyComponent(c, p)
			if err != nil {
				return nil, err
			}
			next = append(next, found...)
		}
		partials = next
	}
	return partials, nil
}

func isContainer(v any) bool {
	switch v.(type) {
	case *Object, []any:
		return true
	}
	return false
}

// children lists v's members: an array's elements (keys are numbers in
// JavaScript), an object's values in Object.keys order.
func children(p pathNode) (keys []any, nodes []pathNode) {
	switch x := p.value.(type) {
	case []any:
		for i, e := range x {
			keys = append(keys, float64(i))
			nodes = append(nodes, pathNode{p.path + "-" + strconv.Itoa(i), e})
		}
	case *Object:
		for _, k := range x.jsKeys() {
			keys = append(keys, k)
			nodes = append(nodes, pathNode{p.path + "-" + strings.ReplaceAll(k, "-", "--"), x.Values[k]})
		}
	}
	return keys, nodes
}

// walk is the package's traverser: the members of p that pass, then (when
// recurse) the same below each member.
func walk(p pathNode, recurse bool, pass func(key, value any) bool) []pathNode {
	var out []pathNode
	keys, nodes := children(p)
	for i, n := range nodes {
		if pass(keys[i], n.value) {
			out = append(out, n)
		}
	}
	if recurse {
		for _, n := range nodes {
			out = append(out, walk(n, true, pass)...)
		}
	}
	return out
}

func applyComponent(c pathComponent, p pathNode) ([]pathNode, error) {
	descendant := c.scope == "descendant"
	switch {
	case c.kind == "wildcard":
		return walk(p, descendant, func(any, any) bool { return true }), nil
	case c.kind == "identifier" && !descendant, c.kind == "string_literal" && !descendant:
		return memberOf(p, c.value), nil
	case c.kind == "identifier", c.kind == "string_literal", c.kind == "numeric_literal" && c.operation == "member" && descendant:
		return walk(p, true, func(k, _ any) bool { return looseEqual(k, c.value) }), nil
	case c.kind == "numeric_literal" && c.operation == "member":
		return walk(p, false, func(k, _ any) bool { return jsString(k) == c.value }), nil
	case c.kind == "numeric_literal":
		return walk(p, descendant, func(k, _ any) bool { return k == any(c.number) }), nil
	case c.kind == "slice" && !descendant:
		return sliceOf(p, c.value)
	case c.kind == "union":
		return unionOf(c, p, descendant)
	case c.kind == "filter_expression":
		e, err := parseExpr(c.value[2 : len(c.value)-1])
		if err != nil {
			return nil, err
		}
		return walk(p, descendant, func(_, v any) bool { return truthy(e.eval(v)) }), nil
	case c.kind == "script_expression":
		return scriptOf(c, p)
	}
	return nil, fmt.Errorf("couldn't resolve key: %s-%s-%s", c.operation, c.scope, c.kind)
}

// memberOf is `key in value`: an object's member, an array's element by
// its index text, or an array's length.
func memberOf(p pathNode, key string) []pathNode {
	switch x := p.value.(type) {
	case *Object:
		if v, ok := x.Get(key); ok {
			return []pathNode{{p.path + "-" + key, v}}
		}
	case []any:
		if key == "length" {
			return []pathNode{{p.path + "-length", float64(len(x))}}
		}
		if isArrayIndex(key) {
			if i, _ := strconv.Atoi(key); i < len(x) {
				return []pathNode{{p.path + "-" + key, x[i]}}
			}
		}
	}
	return nil
}

func sliceOf(p pathNode, spec string) ([]pathNode, error) {
	_, nodes := children(p)
	if _, isList := p.value.([]any); !isList {
		return nil, nil
	}
	parts := strings.Split(spec, ":")
	arg := func(i int) (int, bool) {
		if i >= len(parts) || parts[i] == "" {
			return 0, false
		}
		n, _ := strconv.Atoi(parts[i])
		return n, true
	}
	n := len(nodes)
	step, hasStep := arg(2)
	if hasStep && step == 0 {
		return nil, fmt.Errorf("step cannot be zero")
	}
	if !hasStep {
		step = 1
	}
	start, hasStart := arg(0)
	end, hasEnd := arg(1)
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if !hasStart || (start == 0 && !hasStart) {
		if step > 0 {
			start = 0
		} else {
			start = n - 1
		}
	}
	if !hasEnd {
		if step > 0 {
			end = n
		} else {
			end = -1
		}
	}
	if step > 0 {
		start, end = max(0, start), min(end, n)
	} else {
		start, end = min(n, start), max(-1, end)
	}
	var out []pathNode
	for i := start; (step > 0 && i < end) || (step < 0 && i > end); i += step {
		if i >= 0 && i < n {
			out = append(out, nodes[i])
		}
	}
	return out, nil
}

func unionOf(c pathComponent, p pathNode, descendant bool) ([]pathNode, error) {
	targets := []pathNode{p}
	if descendant {
		targets = append(targets, walk(p, true, func(any, any) bool { return true })...)
	}
	seen := map[string]bool{}
	var out []pathNode
	for _, t := range targets {
		for _, item := range c.union {
			item.operation, item.scope = "subscript", "child"
			found, err := applyComponent(item, t)
			if err != nil {
				return nil, err
			}
			for _, f := range found {
				if !seen[f.path] {
					seen[f.path] = true
					out = append(out, f)
				}
			}
		}
	}
	return out, nil
}

// scriptOf evaluates (expr) with @ the current value and selects $[result]
// (a subscript) or $.result (a member), as the package rewrites it.
func scriptOf(c pathComponent, p pathNode) ([]pathNode, error) {
	e, err := parseExpr(c.value[1 : len(c.value)-1])
	if err != nil {
		return nil, err
	}
	v := e.eval(p.value)
	path := "$[" + exprString(v) + "]"
	switch {
	case c.operation == "member" && c.scope == "descendant":
		path = "$..value" // sic: the package's template
	case c.operation == "member":
		path = "$." + exprString(v)
	}
	if !isContainer(p.value) {
		return nil, fmt.Errorf("obj needs to be an object")
	}
	comps, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	found, err := evalPath(pathNode{"$", p.value}, comps)
	if err != nil {
		return nil, err
	}
	for i := range found {
		found[i].path = p.path + strings.TrimPrefix(found[i].path, "$")
	}
	return found, nil
}
