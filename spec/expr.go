package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// The JavaScript expressions of JSONPath filters and scripts, evaluated as
// the jsonpath package does (static-eval): @ is the current value; a
// failure makes the expression undefined (a filter then drops the value).
// Supported: number, string, true/false/null/undefined literals, @, member
// access (.name, [expr]), unary ! - +, the binary operators * / % + - < <=
// > >= == != === !== && ||, and parentheses.

// undefined is JavaScript's undefined.
type undefinedT struct{}

var undefined = undefinedT{}

type expr interface {
	eval(at any) any
}

type (
	litExpr    struct{ v any }
	atExpr     struct{}
	memberExpr struct {
		obj, key expr
	}
	unaryExpr struct {
		op string
		x  expr
	}
	binaryExpr struct {
		op   string
		l, r expr
	}
)

func (e litExpr) eval(any) any { return e.v }
func (atExpr) eval(at any) any { return at }
func (e unaryExpr) eval(at any) any {
	x := e.x.eval(at)
	switch e.op {
	case "!":
		return !truthy(x)
	case "-":
		return -toNumber(x)
	}
	return toNumber(x)
}

func (e memberExpr) eval(at any) any {
	obj, key := e.obj.eval(at), e.key.eval(at)
	k := exprString(key)
	switch x := obj.(type) {
	case *Object:
		if v, ok := x.Get(k); ok {
			return v
		}
	case []any:
		if k == "length" {
			return float64(len(x))
		}
		if i, err := strconv.Atoi(k); err == nil && isArrayIndex(k) && i < len(x) {
			return x[i]
		}
	case string:
		if k == "length" {
			return float64(utf16Len(x))
		}
	}
	return undefined
}

func (e binaryExpr) eval(at any) any {
	l := e.l.eval(at)
	switch e.op {
	case "&&":
		if !truthy(l) {
			return l
		}
		return e.r.eval(at)
	case "||":
		if truthy(l) {
			return l
		}
		return e.r.eval(at)
	}
	r := e.r.eval(at)
	switch e.op {
	case "===":
		return exprStrictEqual(l, r)
	case "!==":
		return !exprStrictEqual(l, r)
	case "==":
		return looseEqual(l, r)
	case "!=":
		return !looseEqual(l, r)
	case "<", "<=", ">", ">=":
		return compare(e.op, l, r)
	case "+":
		if isStringy(l) || isStringy(r) {
			return exprString(l) + exprString(r)
		}
		return toNumber(l) + toNumber(r)
	case "-":
		return toNumber(l) - toNumber(r)
	case "*":
		return toNumber(l) * toNumber(r)
	case "/":
		return toNumber(l) / toNumber(r)
	case "%":
		return math.Mod(toNumber(l), toNumber(r))
	}
	return undefined
}

func isStringy(v any) bool {
	switch v.(type) {
	case string, *Object, []any:
		return true
	}
	return false
}

func truthy(v any) bool {
	if v == any(undefined) {
		return false
	}
	if b, ok := v.(bool); ok {
		return b
	}
	return jsTruthy(v)
}

func exprString(v any) string {
	if v == any(undefined) {
		return "undefined"
	}
	return jsString(v)
}

func toNumber(v any) float64 {
	switch x := v.(type) {
	case nil:
		return 0
	case bool:
		if x {
			return 1
		}
		return 0
	case float64:
		return x
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	case []any:
		return toNumber(jsString(x))
	}
	return math.NaN()
}

func exprStrictEqual(a, b any) bool {
	if a == any(undefined) || b == any(undefined) {
		return a == b
	}
	return strictEqual(a, b) || (typeName(a) == "null" && typeName(b) == "null")
}

// looseEqual is JavaScript's ==.
func looseEqual(a, b any) bool {
	an, bn := a == nil || a == any(undefined), b == nil || b == any(undefined)
	if an || bn {
		return an && bn
	}
	switch a.(type) {
	case *Object, []any:
		switch b.(type) {
		case *Object, []any:
			return false // other references
		}
		return looseEqual(jsString(a), b)
	}
	switch b.(type) {
	case *Object, []any:
		return looseEqual(a, jsString(b))
	}
	as, aStr := a.(string)
	bs, bStr := b.(string)
	if aStr && bStr {
		return as == bs
	}
	return toNumber(a) == toNumber(b)
}

func compare(op string, l, r any) bool {
	ls, lStr := l.(string)
	rs, rStr := r.(string)
	var c int
	if lStr && rStr {
		c = strings.Compare(ls, rs)
	} else {
		x, y := toNumber(l), toNumber(r)
		if math.IsNaN(x) || math.IsNaN(y) {
			return false
		}
		switch {
		case x < y:
			c = -1
		case x > y:
			c = 1
		}
	}
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

// exprParser is a precedence-climbing parser of the subset above.
type exprParser struct {
	src  []rune
	pos  int
	toks []string
	i    int
}

var binaryPrecedence = map[string]int{
	"||": 1, "&&": 2,
	"==": 3, "!=": 3, "===": 3, "!==": 3,
	"<": 4, "<=": 4, ">": 4, ">=": 4,
	"+": 5, "-": 5,
	"*": 6, "/": 6, "%": 6,
}

func parseExpr(src string) (expr, error) {
	toks, err := lexExpr(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks}
	e, err := p.binary(1)
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unsupported expression %q", src)
	}
	return e, nil
}

var exprOperators = []string{"===", "!==", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "!", "(", ")", "[", "]", "."}

func lexExpr(src string) ([]string, error) {
	var toks []string
	rs := []rune(src)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '@' || r == '_' || r == '$' || unicode.IsLetter(r):
			j := i + 1
			for j < len(rs) && (rs[j] == '_' || rs[j] == '$' || unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			toks = append(toks, string(rs[i:j]))
			i = j
		case unicode.IsDigit(r) || (r == '.' && i+1 < len(rs) && unicode.IsDigit(rs[i+1])):
			j := i
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.' || rs[j] == 'e' || rs[j] == 'E') {
				j++
			}
			toks = append(toks, string(rs[i:j]))
			i = j
		case r == '\'' || r == '"':
			j := i + 1
			for j < len(rs) && rs[j] != r {
				if rs[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated string in %q", src)
			}
			toks = append(toks, string(rs[i:j+1]))
			i = j + 1
		default:
			op := ""
			for _, o := range exprOperators {
				if strings.HasPrefix(string(rs[i:]), o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("unsupported character %q in %q", r, src)
			}
			toks = append(toks, op)
			i += len([]rune(op))
		}
	}
	return toks, nil
}

func (p *exprParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *exprParser) binary(minPrec int) (expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		prec, ok := binaryPrecedence[op]
		if !ok || prec < minPrec {
			return l, nil
		}
		p.i++
		r, err := p.binary(prec + 1)
		if err != nil {
			return nil, err
		}
		l = binaryExpr{op, l, r}
	}
}

func (p *exprParser) unary() (expr, error) {
	switch op := p.peek(); op {
	case "!", "-", "+":
		p.i++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return unaryExpr{op, x}, nil
	}
	return p.postfix()
}

func (p *exprParser) postfix() (expr, error) {
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch p.peek() {
		case ".":
			p.i++
			name := p.peek()
			if name == "" || !(unicode.IsLetter([]rune(name)[0]) || name[0] == '_' || name[0] == '$') {
				return nil, fmt.Errorf("expected a member name after .")
			}
			p.i++
			e = memberExpr{e, litExpr{name}}
		case "[":
			p.i++
			k, err := p.binary(1)
			if err != nil {
				return nil, err
			}
			if p.peek() != "]" {
				return nil, fmt.Errorf("expected ]")
			}
			p.i++
			e = memberExpr{e, k}
		default:
			return e, nil
		}
	}
}

func (p *exprParser) primary() (expr, error) {
	t := p.peek()
	if t == "" {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	p.i++
	switch {
	case t == "(":
		e, err := p.binary(1)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("expected )")
		}
		p.i++
		return e, nil
	case t == "@":
		return atExpr{}, nil
	case t == "true", t == "false":
		return litExpr{t == "true"}, nil
	case t == "null":
		return litExpr{nil}, nil
	case t == "undefined":
		return litExpr{undefined}, nil
	case t[0] == '\'' || t[0] == '"':
		s, err := strconv.Unquote(`"` + strings.ReplaceAll(t[1:len(t)-1], `"`, `\"`) + `"`)
		if err != nil {
			s = t[1 : len(t)-1]
		}
		return litExpr{s}, nil
	case unicode.IsDigit(rune(t[0])) || t[0] == '.':
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t)
		}
		return litExpr{f}, nil
	}
	return nil, fmt.Errorf("unsupported identifier %q (only @ is known)", t)
}
