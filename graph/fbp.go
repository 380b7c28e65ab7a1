package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/msgflo/msgflo-runtime/internal/jsontext"
)

// ParseFBP parses the FBP language as the reference JavaScript parser (npm
// fbp 1.8) does, and returns what that parser returns, as JSON: the JSON
// graph format with caseSensitive false. Errors name the line and column.
//
// The parser follows the reference grammar rule by rule, as a parsing
// expression grammar: ordered choice, greedy repetition, no backtracking
// into a matched repetition, and the same side effects (nodes are
// registered where the reference registers them).
func ParseFBP(src string) ([]byte, error) {
	return newFBPParser(src).parse()
}

func newFBPParser(src string) *fbpParser {
	return &fbpParser{
		in:             []rune(src),
		defaultInPort:  "IN",
		defaultOutPort: "OUT",
		nodes:          map[string]*fbpNode{},
		anonIndex:      map[string]int{},
		anonNames:      map[int]string{},
	}
}

// LoadFBP parses FBP source into a graph with id id.
func LoadFBP(id, src string) (*Graph, error) {
	data, err := ParseFBP(src)
	if err != nil {
		return nil, err
	}
	g := &Graph{}
	if err := g.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	g.ID = id
	return g, nil
}

type fbpNode struct {
	component string
	hasComp   bool
	metadata  map[string]any
}

type fbpPort struct {
	Process string   `json:"process"`
	Port    string   `json:"port"`
	Index   *float64 `json:"index,omitempty"`
}

// fbpEdgePart is one element of the reference parser's edge list: a
// source, a target or initial data.
type fbpEdgePart struct {
	src  *fbpPort
	tgt  *fbpPort
	data any // the value, for the reference's checks and messages
	// raw is the data's JSON text: a 'text' IIP's string, or a JSON IIP's
	// literal as written (compacted), so numbers, escapes and key order
	// reach participants unchanged.
	raw     json.RawMessage
	hasData bool
}

type fbpParser struct {
	in  []rune
	pos int

	// furthest failure, for error messages (as peg.js reports them)
	failPos  int
	expected []string

	defaultInPort, defaultOutPort string
	nodes                         map[string]*fbpNode
	nodeOrder                     []string
	anonIndex                     map[string]int
	anonNames                     map[int]string
	edges                         []fbpEdgePart
	inports, outports             map[string]fbpPort
	inportOrder, outportOrder     []string
	properties                    map[string]any
}

// FBPError is a syntax or content error in FBP source.
type FBPError struct {
	Line, Column int // 1-based; 0 when the error is about the whole graph
	Msg          string
}

func (e *FBPError) Error() string {
	if e.Line == 0 {
		return "fbp: " + e.Msg
	}
	return fmt.Sprintf("fbp: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

func (p *fbpParser) fail(what string) {
	if p.pos > p.failPos {
		p.failPos = p.pos
		p.expected = p.expected[:0]
	}
	if p.pos == p.failPos {
		p.expected = append(p.expected, what)
	}
}

func (p *fbpParser) lineCol(pos int) (int, int) {
	line, col := 1, 1
	for i := 0; i < pos && i < len(p.in); i++ {
		switch p.in[i] {
		case '\n', '\u2028', '\u2029':
			line, col = line+1, 1
		case '\r':
			if i+1 < len(p.in) && p.in[i+1] == '\n' {
				// peg.js counts \r\n as one line break
				continue
			}
			line, col = line+1, 1
		default:
			col++
		}
	}
	return line, col
}

func (p *fbpParser) syntaxError() error {
	line, col := p.lineCol(p.failPos)
	found := "end of input"
	if p.failPos < len(p.in) {
		found = strconv.Quote(string(p.in[p.failPos]))
	}
	exp := dedupe(p.expected)
	msg := "unexpected " + found
	if len(exp) > 0 {
		msg = "expected " + strings.Join(exp, ", ") + " but " + found + " found"
	}
	return &FBPError{Line: line, Column: col, Msg: msg}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// --- terminals ---

func (p *fbpParser) lit(s string) bool {
	r := []rune(s)
	if p.pos+len(r) > len(p.in) {
		p.fail(strconv.Quote(s))
		return false
	}
	for i, c := range r {
		if p.in[p.pos+i] != c {
			p.fail(strconv.Quote(s))
			return false
		}
	}
	p.pos += len(r)
	return true
}

func (p *fbpParser) class(ok func(rune) bool, what string) (rune, bool) {
	if p.pos < len(p.in) && ok(p.in[p.pos]) {
		p.pos++
		return p.in[p.pos-1], true
	}
	p.fail(what)
	return 0, false
}

func isAlpha(r rune) bool   { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
func isDigit(r rune) bool   { return r >= '0' && r <= '9' }
func isNewline(r rune) bool { return r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' }

// many matches ok zero or more times.
func (p *fbpParser) many(ok func(rune) bool) string {
	start := p.pos
	for p.pos < len(p.in) && ok(p.in[p.pos]) {
		p.pos++
	}
	return string(p.in[start:p.pos])
}

// _ = " "*
func (p *fbpParser) ws0() { p.many(func(r rune) bool { return r == ' ' }) }

// __ = " "+
func (p *fbpParser) ws1() bool {
	if _, ok := p.class(func(r rune) bool { return r == ' ' }, `" "`); !ok {
		return false
	}
	p.ws0()
	return true
}

func (p *fbpParser) newline() bool {
	_, ok := p.class(isNewline, "newline")
	return ok
}

// --- rules ---

func (p *fbpParser) parse() ([]byte, error) {
	for p.pos < len(p.in) {
		start := p.pos
		if !p.line() {
			p.pos = start
			return nil, p.syntaxError()
		}
	}
	return p.result()
}

func (p *fbpParser) line() bool {
	alts := []func() bool{
		func() bool { return p.exportLine("INPORT=", true) },
		func() bool { return p.exportLine("OUTPORT=", false) },
		func() bool { return p.defaultLine("DEFAULT_INPORT=", &p.defaultInPort) },
		func() bool { return p.defaultLine("DEFAULT_OUTPORT=", &p.defaultOutPort) },
		func() bool {
			key, value, ok := p.annotation()
			if !ok || !p.newline() {
				return false
			}
			p.registerAnnotation(key, value)
			return true
		},
		func() bool {
			if !p.comment() {
				return false
			}
			p.newline() // optional
			return true
		},
		func() bool {
			p.ws0()
			return p.newline()
		},
		func() bool {
			p.ws0()
			parts, ok := p.connection()
			if !ok {
				return false
			}
			p.ws0()
			p.lineTerminator()
			p.edges = append(p.edges, parts...)
			return true
		},
	}
	wrapped := make([]func() (struct{}, bool), len(alts))
	for i, alt := range alts {
		wrapped[i] = func() (struct{}, bool) { return struct{}{}, alt() }
	}
	_, ok := choice(p, wrapped...)
	return ok
}

// choice is the grammar's ordered choice: the first alternative that
// matches, each tried from the same position (which is restored when none
// does).
func choice[T any](p *fbpParser, alts ...func() (T, bool)) (T, bool) {
	start := p.pos
	for _, alt := range alts {
		p.pos = start
		if v, ok := alt(); ok {
			return v, true
		}
	}
	p.pos = start
	var zero T
	return zero, false
}

// parts makes a one-part alternative of an edge rule.
func parts(rule func() (fbpEdgePart, bool)) func() ([]fbpEdgePart, bool) {
	return func() ([]fbpEdgePart, bool) {
		part, ok := rule()
		return []fbpEdgePart{part}, ok
	}
}

func (p *fbpParser) exportLine(keyword string, in bool) bool {
	p.ws0()
	if !p.lit(keyword) {
		return false
	}
	node, ok := p.node()
	if !ok || !p.lit(".") {
		return false
	}
	port, ok := p.portName()
	if !ok || !p.lit(":") {
		return false
	}
	pub, ok := p.portName()
	if !ok {
		return false
	}
	p.ws0()
	p.lineTerminator()
	pub, port = strings.ToLower(pub), strings.ToLower(port)
	if in {
		if p.inports == nil {
			p.inports = map[string]fbpPort{}
		}
		if _, seen := p.inports[pub]; !seen {
			p.inportOrder = append(p.inportOrder, pub)
		}
		p.inports[pub] = fbpPort{Process: node, Port: port}
	} else {
		if p.outports == nil {
			p.outports = map[string]fbpPort{}
		}
		if _, seen := p.outports[pub]; !seen {
			p.outportOrder = append(p.outportOrder, pub)
		}
		p.outports[pub] = fbpPort{Process: node, Port: port}
	}
	return true
}

func (p *fbpParser) defaultLine(keyword string, into *string) bool {
	p.ws0()
	if !p.lit(keyword) {
		return false
	}
	name, ok := p.portName()
	if !ok {
		return false
	}
	p.ws0()
	p.lineTerminator()
	*into = name
	return true
}

// LineTerminator = _ ","? comment? newline?
func (p *fbpParser) lineTerminator() {
	p.ws0()
	if p.pos < len(p.in) && p.in[p.pos] == ',' {
		p.pos++
	}
	save := p.pos
	if !p.comment() {
		p.pos = save
	}
	if p.pos < len(p.in) && isNewline(p.in[p.pos]) {
		p.pos++
	}
}

// comment = _ "#" anychar*
func (p *fbpParser) comment() bool {
	p.ws0()
	if !p.lit("#") {
		return false
	}
	p.many(func(r rune) bool { return !isNewline(r) })
	return true
}

// annotation = "#" __ "@" [a-zA-Z0-9\-_]+ __ [a-zA-Z0-9\-_ \.]+
func (p *fbpParser) annotation() (string, string, bool) {
	if !p.lit("#") || !p.ws1() || !p.lit("@") {
		return "", "", false
	}
	key := p.many(func(r rune) bool { return isAlpha(r) || isDigit(r) || r == '-' || r == '_' })
	if key == "" {
		p.fail("annotation name")
		return "", "", false
	}
	if !p.ws1() {
		return "", "", false
	}
	value := p.many(func(r rune) bool { return isAlpha(r) || isDigit(r) || r == '-' || r == '_' || r == ' ' || r == '.' })
	if value == "" {
		p.fail("annotation value")
		return "", "", false
	}
	return key, value, true
}

func (p *fbpParser) registerAnnotation(key, value string) {
	if p.properties == nil {
		p.properties = map[string]any{}
	}
	if key == "runtime" {
		p.properties["environment"] = map[string]any{"type": value}
		return
	}
	p.properties[key] = value
}

// connection = source _ "->" _ connection / destination
func (p *fbpParser) connection() ([]fbpEdgePart, bool) {
	start := p.pos
	if x, ok := p.source(); ok {
		p.ws0()
		if p.lit("->") {
			p.ws0()
			if y, ok := p.connection(); ok {
				return append(x, y...), true
			}
		}
	}
	p.pos = start
	return p.destination()
}

// source = bridge / outport / iip
func (p *fbpParser) source() ([]fbpEdgePart, bool) {
	return choice(p, p.bridge, parts(p.outport), parts(p.iip))
}

// destination = inport / bridge
func (p *fbpParser) destination() ([]fbpEdgePart, bool) {
	return choice(p, parts(p.inport), p.bridge)
}

type portRef struct {
	name  string
	index *float64
}

// bridge = port__ node __port / port__? nodeWithComponent __port?
func (p *fbpParser) bridge() ([]fbpEdgePart, bool) {
	start := p.pos
	if x, ok := p.portSp(); ok {
		if proc, ok := p.node(); ok {
			if y, ok := p.spPort(); ok {
				return []fbpEdgePart{{tgt: p.makePort(proc, &x, p.defaultInPort)}, {src: p.makePort(proc, &y, p.defaultOutPort)}}, true
			}
		}
	}
	p.pos = start
	x := p.optional(p.portSp)
	proc, ok := p.nodeWithComponent()
	if !ok {
		p.pos = start
		return nil, false
	}
	y := p.optional(p.spPort)
	return []fbpEdgePart{{tgt: p.makePort(proc, x, p.defaultInPort)}, {src: p.makePort(proc, y, p.defaultOutPort)}}, true
}

// outport = node __port?
func (p *fbpParser) outport() (fbpEdgePart, bool) {
	proc, ok := p.node()
	if !ok {
		return fbpEdgePart{}, false
	}
	y := p.optional(p.spPort)
	return fbpEdgePart{src: p.makePort(proc, y, p.defaultOutPort)}, true
}

// inport = port__? node
func (p *fbpParser) inport() (fbpEdgePart, bool) {
	x := p.optional(p.portSp)
	proc, ok := p.node()
	if !ok {
		return fbpEdgePart{}, false
	}
	return fbpEdgePart{tgt: p.makePort(proc, x, p.defaultInPort)}, true
}

func (p *fbpParser) makePort(process string, port *portRef, def string) *fbpPort {
	fp := &fbpPort{Process: process, Port: strings.ToLower(def)}
	if port != nil {
		fp.Port = port.name
		fp.Index = port.index
	}
	return fp
}

// iip = "'" iipchar* "'" / JSON_text
func (p *fbpParser) iip() (fbpEdgePart, bool) {
	start := p.pos
	if p.lit("'") {
		var b strings.Builder
		for p.pos < len(p.in) {
			c := p.in[p.pos]
			if c == '\\' && p.pos+1 < len(p.in) && p.in[p.pos+1] == '\'' {
				b.WriteRune('\'')
				p.pos += 2
				continue
			}
			if c == '\'' {
				break
			}
			b.WriteRune(c)
			p.pos++
		}
		if p.lit("'") {
			raw, err := jsontext.Marshal(b.String())
			if err != nil {
				return fbpEdgePart{}, false
			}
			return fbpEdgePart{data: b.String(), raw: raw, hasData: true}, true
		}
	}
	p.pos = start
	v, ok := p.jsonText()
	if !ok {
		p.pos = start
		return fbpEdgePart{}, false
	}
	var raw bytes.Buffer
	if err := json.Compact(&raw, []byte(string(p.in[start:p.pos]))); err != nil {
		// The grammar is JSON's: what it accepts, encoding/json reads.
		p.fail("JSON")
		p.pos = start
		return fbpEdgePart{}, false
	}
	return fbpEdgePart{data: v, raw: raw.Bytes(), hasData: true}, true
}

// node = nodeNameAndComponent / nodeName / nodeComponent
func (p *fbpParser) node() (string, bool) {
	return choice(p, p.nodeNameAndComponent, p.nodeName, p.nodeComponent)
}

// nodeWithComponent = nodeNameAndComponent / nodeComponent
func (p *fbpParser) nodeWithComponent() (string, bool) {
	return choice(p, p.nodeNameAndComponent, p.nodeComponent)
}

// nodeName = [a-zA-Z_][a-zA-Z0-9_\-]*
func (p *fbpParser) nodeName() (string, bool) {
	first, ok := p.class(func(r rune) bool { return isAlpha(r) || r == '_' }, "node name")
	if !ok {
		return "", false
	}
	return string(first) + p.many(func(r rune) bool { return isAlpha(r) || isDigit(r) || r == '_' || r == '-' }), true
}

func (p *fbpParser) nodeNameAndComponent() (string, bool) {
	name, ok := p.nodeName()
	if !ok {
		return "", false
	}
	comp, meta, ok := p.component()
	if !ok {
		return "", false
	}
	p.addNode(name, comp, meta)
	return name, true
}

var anonSanitize = regexp.MustCompile(`[^a-zA-Z0-9]+`)

func (p *fbpParser) nodeComponent() (string, bool) {
	offset := p.pos
	comp, meta, ok := p.component()
	if !ok {
		return "", false
	}
	if name, seen := p.anonNames[offset]; seen {
		return name, true
	}
	// JavaScript's replace with a non-global pattern: the first run only.
	clean := comp
	if loc := anonSanitize.FindStringIndex(comp); loc != nil {
		clean = comp[:loc[0]] + "_" + comp[loc[1]:]
	}
	p.anonIndex[clean]++
	name := "_" + clean + "_" + strconv.Itoa(p.anonIndex[clean])
	p.anonNames[offset] = name
	p.addNode(name, comp, meta)
	return name, true
}

// component = "(" [a-zA-Z/\-0-9_]* compMeta? ")" ; compMeta = ":" [a-zA-Z/=_,0-9]+
func (p *fbpParser) component() (string, *string, bool) {
	if !p.lit("(") {
		return "", nil, false
	}
	comp := p.many(func(r rune) bool { return isAlpha(r) || isDigit(r) || r == '/' || r == '-' || r == '_' })
	var meta *string
	save := p.pos
	if p.lit(":") {
		m := p.many(func(r rune) bool { return isAlpha(r) || isDigit(r) || r == '/' || r == '=' || r == '_' || r == ',' })
		if m != "" {
			meta = &m
		} else {
			p.fail("component metadata")
			p.pos = save
		}
	} else {
		p.pos = save
	}
	if !p.lit(")") {
		return "", nil, false
	}
	return comp, meta, true
}

func (p *fbpParser) addNode(name, comp string, meta *string) {
	n, ok := p.nodes[name]
	if !ok {
		n = &fbpNode{}
		p.nodes[name] = n
		p.nodeOrder = append(p.nodeOrder, name)
	}
	if comp != "" {
		n.component, n.hasComp = comp, true
	}
	if meta != nil {
		md := map[string]any{}
		for _, item := range strings.Split(*meta, ",") {
			parts := strings.Split(item, "=")
			if len(parts) == 1 {
				parts = []string{"routes", parts[0]}
			}
			key := parts[0]
			var value any = parts[1]
			if key == "x" || key == "y" {
				value = jsParseFloat(parts[1])
			}
			md[key] = value
		}
		n.metadata = md
	}
}

// jsParseFloat is JavaScript's parseFloat for the digits the grammar
// allows in metadata: the longest leading number, else NaN (kept as nil,
// which JSON.stringify writes as null).
func jsParseFloat(s string) any {
	end := 0
	for end < len(s) && isDigit(rune(s[end])) {
		end++
	}
	if end == 0 {
		return nil
	}
	f, err := strconv.ParseFloat(s[:end], 64)
	if err != nil || math.IsInf(f, 0) {
		return nil
	}
	return f
}

// portName = [a-zA-Z_][a-zA-Z.0-9_]*
func (p *fbpParser) portName() (string, bool) {
	first, ok := p.class(func(r rune) bool { return isAlpha(r) || r == '_' }, "port name")
	if !ok {
		return "", false
	}
	return string(first) + p.many(func(r rune) bool { return isAlpha(r) || isDigit(r) || r == '.' || r == '_' }), true
}

// port = portName portIndex?
func (p *fbpParser) port() (portRef, bool) {
	name, ok := p.portName()
	if !ok {
		return portRef{}, false
	}
	r := portRef{name: strings.ToLower(name)}
	save := p.pos
	if p.lit("[") {
		digits := p.many(isDigit)
		if digits != "" && p.lit("]") {
			n, _ := strconv.ParseFloat(digits, 64) // parseInt, as a JavaScript number
			r.index = &n
			return r, true
		}
		if digits == "" {
			p.fail("port index")
		}
	}
	p.pos = save
	return r, true
}

// optional is rule? : the rule's port, or nil (and the position back)
// when it does not match.
func (p *fbpParser) optional(rule func() (portRef, bool)) *portRef {
	if r, ok := choice(p, rule); ok {
		return &r
	}
	return nil
}

// port__ = port __
func (p *fbpParser) portSp() (portRef, bool) {
	r, ok := p.port()
	if !ok || !p.ws1() {
		return portRef{}, false
	}
	return r, true
}

// __port = __ port
func (p *fbpParser) spPort() (portRef, bool) {
	if !p.ws1() {
		return portRef{}, false
	}
	return p.port()
}

// --- JSON (RFC 7159, as in the reference grammar) ---

func (p *fbpParser) jws() {
	p.many(func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

func (p *fbpParser) jsonText() (any, bool) {
	p.jws()
	v, ok := p.jsonValue()
	if !ok {
		return nil, false
	}
	p.jws()
	return v, true
}

func (p *fbpParser) jsonValue() (any, bool) {
	literal := func(text string, v any) func() (any, bool) {
		return func() (any, bool) { return v, p.lit(text) }
	}
	return choice(p, literal("false", false), literal("null", nil), literal("true", true),
		p.jsonObject, p.jsonArray, p.jsonNumber, p.jsonString)
}

func (p *fbpParser) sep(c string) bool {
	p.jws()
	if !p.lit(c) {
		return false
	}
	p.jws()
	return true
}

func (p *fbpParser) jsonObject() (any, bool) {
	if !p.sep("{") {
		return nil, false
	}
	obj := map[string]any{}
	save := p.pos
	if k, v, ok := p.jsonMember(); ok {
		obj[k] = v
		for {
			s := p.pos
			if !p.sep(",") {
				p.pos = s
				break
			}
			k, v, ok := p.jsonMember()
			if !ok {
				p.pos = s
				break
			}
			obj[k] = v
		}
	} else {
		p.pos = save
	}
	if !p.sep("}") {
		return nil, false
	}
	return obj, true
}

func (p *fbpParser) jsonMember() (string, any, bool) {
	k, ok := p.jsonString()
	if !ok || !p.sep(":") {
		return "", nil, false
	}
	v, ok := p.jsonValue()
	if !ok {
		return "", nil, false
	}
	return k.(string), v, true
}

func (p *fbpParser) jsonArray() (any, bool) {
	if !p.sep("[") {
		return nil, false
	}
	arr := []any{}
	save := p.pos
	if v, ok := p.jsonValue(); ok {
		arr = append(arr, v)
		for {
			s := p.pos
			if !p.sep(",") {
				p.pos = s
				break
			}
			v, ok := p.jsonValue()
			if !ok {
				p.pos = s
				break
			}
			arr = append(arr, v)
		}
	} else {
		p.pos = save
	}
	if !p.sep("]") {
		return nil, false
	}
	return arr, true
}

func (p *fbpParser) jsonNumber() (any, bool) {
	start := p.pos
	if p.pos < len(p.in) && p.in[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.in) && p.in[p.pos] == '0':
		p.pos++
	case p.pos < len(p.in) && p.in[p.pos] >= '1' && p.in[p.pos] <= '9':
		p.many(isDigit)
	default:
		p.fail("number")
		return nil, false
	}
	if p.pos < len(p.in) && p.in[p.pos] == '.' {
		s := p.pos
		p.pos++
		if p.many(isDigit) == "" {
			p.pos = s
		}
	}
	if p.pos < len(p.in) && (p.in[p.pos] == 'e' || p.in[p.pos] == 'E') {
		s := p.pos
		p.pos++
		if p.pos < len(p.in) && (p.in[p.pos] == '+' || p.in[p.pos] == '-') {
			p.pos++
		}
		if p.many(isDigit) == "" {
			p.pos = s
		}
	}
	f, err := strconv.ParseFloat(string(p.in[start:p.pos]), 64)
	if err != nil {
		// Out of range: JavaScript makes it Infinity, which JSON writes
		// as null.
		return nil, true
	}
	return f, true
}

func isHex(r rune) bool { return isDigit(r) || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' }

func (p *fbpParser) jsonString() (any, bool) {
	if !p.lit(`"`) {
		return nil, false
	}
	var units []uint16 // JavaScript strings are UTF-16
	for {
		if p.pos >= len(p.in) {
			p.fail(`"\""`)
			return nil, false
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return decodeUTF16(units), true
		case c == '\\':
			if p.pos+1 >= len(p.in) {
				p.fail("escape")
				return nil, false
			}
			e := p.in[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				units = append(units, uint16(e))
			case 'b':
				units = append(units, '\b')
			case 'f':
				units = append(units, '\f')
			case 'n':
				units = append(units, '\n')
			case 'r':
				units = append(units, '\r')
			case 't':
				units = append(units, '\t')
			case 'u':
				if p.pos+4 > len(p.in) {
					p.fail("hex digit")
					return nil, false
				}
				for _, h := range p.in[p.pos : p.pos+4] {
					if !isHex(h) {
						p.fail("hex digit")
						return nil, false
					}
				}
				n, _ := strconv.ParseUint(string(p.in[p.pos:p.pos+4]), 16, 16)
				units = append(units, uint16(n))
				p.pos += 4
			default:
				p.fail("escape")
				return nil, false
			}
		case c < 0x20:
			p.fail("string character")
			return nil, false
		default:
			p.pos++
			if c >= 0x10000 {
				c -= 0x10000
				units = append(units, uint16(0xD800+(c>>10)), uint16(0xDC00+(c&0x3FF)))
			} else {
				units = append(units, uint16(c))
			}
		}
	}
}

// decodeUTF16 turns UTF-16 into a Go string (a lone surrogate becomes
// U+FFFD, as JSON.stringify's output would be read back).
func decodeUTF16(units []uint16) string {
	var b strings.Builder
	for i := 0; i < len(units); i++ {
		u := rune(units[i])
		if u >= 0xD800 && u < 0xDC00 && i+1 < len(units) && units[i+1] >= 0xDC00 && units[i+1] < 0xE000 {
			b.WriteRune(0x10000 + (u-0xD800)<<10 + (rune(units[i+1]) - 0xDC00))
			i++
			continue
		}
		if u >= 0xD800 && u < 0xE000 {
			b.WriteRune('\uFFFD')
			continue
		}
		b.WriteRune(u)
	}
	return b.String()
}

// --- result ---

type fbpConnection struct {
	Src   *fbpPort
	Data  json.RawMessage
	value any // Data decoded, for the reference's checks
	Tgt   *fbpPort
	iip   bool
}

func (c fbpConnection) MarshalJSON() ([]byte, error) {
	if c.iip {
		return jsontext.Marshal(struct {
			Data json.RawMessage `json:"data"`
			Tgt  *fbpPort        `json:"tgt"`
		}{c.Data, c.Tgt})
	}
	return json.Marshal(struct {
		Src *fbpPort `json:"src"`
		Tgt *fbpPort `json:"tgt"`
	}{c.Src, c.Tgt})
}

// processEdges pairs sources with the targets after them, as the reference
// parser does over the edges of all lines.
func (p *fbpParser) processEdges() []fbpConnection {
	var out []fbpConnection
	flats := p.edges
	for i := 1; i < len(flats); i++ {
		prev, cur := flats[i-1], flats[i]
		if (prev.src != nil || prev.hasData) && cur.tgt != nil {
			out = append(out, fbpConnection{Src: prev.src, Data: prev.raw, value: prev.data, Tgt: cur.tgt, iip: prev.hasData})
			i++
		}
	}
	return out
}

func (p *fbpParser) result() ([]byte, error) {
	conns := p.processEdges()
	// Validate the contents, in the reference's order and words.
	for _, name := range p.nodeOrder {
		if !p.nodes[name].hasComp {
			return nil, &FBPError{Msg: fmt.Sprintf("Node %q does not have a component defined", name)}
		}
	}
	for _, pub := range p.inportOrder {
		if _, ok := p.nodes[p.inports[pub].Process]; !ok {
			return nil, &FBPError{Msg: fmt.Sprintf("Inport %q is connected to an undefined target node %q", pub, p.inports[pub].Process)}
		}
	}
	for _, pub := range p.outportOrder {
		if _, ok := p.nodes[p.outports[pub].Process]; !ok {
			return nil, &FBPError{Msg: fmt.Sprintf("Outport %q is connected to an undefined source node %q", pub, p.outports[pub].Process)}
		}
	}
	for _, c := range conns {
		if _, ok := p.nodes[c.Tgt.Process]; !ok {
			if c.iip && jsTruthy(c.value) {
				return nil, &FBPError{Msg: fmt.Sprintf("IIP containing %q is connected to an undefined target node %q", jsString(c.value), c.Tgt.Process)}
			}
			if c.Src == nil {
				return nil, &FBPError{Msg: fmt.Sprintf("Edge from \"undefined\" port \"undefined\" is connected to an undefined target node %q", c.Tgt.Process)}
			}
			return nil, &FBPError{Msg: fmt.Sprintf("Edge from %q port %q is connected to an undefined target node %q", c.Src.Process, c.Src.Port, c.Tgt.Process)}
		}
		if c.Src != nil {
			if _, ok := p.nodes[c.Src.Process]; !ok {
				return nil, &FBPError{Msg: fmt.Sprintf("Edge to %q port %q is connected to an undefined source node %q", c.Tgt.Process, c.Tgt.Port, c.Src.Process)}
			}
		}
	}

	// Processes in the order the reference registers them: loading the
	// JSON keeps that order in Graph.Nodes (msgflo's tools follow it).
	processes := make(orderedObject, 0, len(p.nodeOrder))
	for _, name := range p.nodeOrder {
		n := p.nodes[name]
		proc := map[string]any{"component": n.component}
		if n.metadata != nil {
			proc["metadata"] = n.metadata
		}
		processes = append(processes, objectMember{name, proc})
	}
	inports, outports := p.inports, p.outports
	if inports == nil {
		inports = map[string]fbpPort{}
	}
	if outports == nil {
		outports = map[string]fbpPort{}
	}
	if conns == nil {
		conns = []fbpConnection{}
	}
	res := map[string]any{
		"inports":       inports,
		"outports":      outports,
		"groups":        []any{},
		"processes":     processes,
		"connections":   conns,
		"caseSensitive": false,
	}
	if p.properties != nil {
		res["properties"] = p.properties
	}
	return jsontext.Marshal(res)
}

// orderedObject is a JSON object whose members keep their order.
type orderedObject []objectMember

type objectMember struct {
	key   string
	value any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func jsTruthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && !math.IsNaN(x)
	case string:
		return x != ""
	}
	return true
}

// jsString is String(v) for what an IIP can hold.
func jsString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if e != nil {
				parts[i] = jsString(e)
			}
		}
		return strings.Join(parts, ",")
	case map[string]any:
		return "[object Object]"
	}
	return fmt.Sprint(v)
}
