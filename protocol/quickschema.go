package protocol

import (
	"slices"
	"strings"
	"sync"
)

// A quick check of valid input. gojsonschema is the judge of a payload
// and the author of the errors clients see, but it takes microseconds
// and tens of allocations for the simplest payload (4 µs for an addnode,
// a third of an edit's time in the runtime), and every message a client
// sends goes through it. The protocol's input schemas use a few keywords
// of JSON Schema draft-04 (type, properties, required,
// additionalProperties, items, string enums, $ref to a shared
// definition): quickSchema checks those, on the value readStrict read,
// and says only "valid for sure". Anything else (a keyword it does not
// know, a number whose integer-ness takes arithmetic, an enum of other
// values) makes it unsure, and gojsonschema decides as before, so a
// payload is accepted exactly when gojsonschema accepts it
// (FuzzQuickSchemaAgrees).

// quickSchema is a schema compiled for the quick check; a nil
// *quickSchema is unsure of everything.
type quickSchema struct {
	// types are the types allowed ("object", "array", "string", "number",
	// "integer", "boolean", "null"); none: any.
	types    []string
	props    map[string]*quickSchema
	required []string
	// closed refuses properties not in props (additionalProperties:
	// false); extra checks them (a schema).
	closed bool
	extra  *quickSchema
	items  *quickSchema
	enum   []string
	// ref is the definition this schema refers to ($ref), resolved.
	ref *quickSchema
}

// quickCompiler compiles one message's schema; defs are the shared
// definitions, compiled once each (they may refer to each other).
type quickCompiler struct {
	defs     map[string]any
	compiled map[string]*quickSchema
	ok       bool
}

// compileQuick compiles doc for the quick check; nil when it uses
// anything the check does not know.
func compileQuick(doc map[string]any, defs map[string]any) *quickSchema {
	c := &quickCompiler{defs: defs, compiled: map[string]*quickSchema{}, ok: true}
	q := c.schema(doc)
	if !c.ok {
		return nil
	}
	return q
}

// ignoredKeywords are the keywords that do not change what is valid.
var ignoredKeywords = map[string]bool{"description": true, "title": true, "default": true, "$schema": true, "definitions": true, "examples": true}

func (c *quickCompiler) schema(v any) *quickSchema {
	doc, isMap := v.(map[string]any)
	if !isMap || !c.ok {
		c.ok = false
		return nil
	}
	q := &quickSchema{}
	for k, x := range doc {
		switch {
		case ignoredKeywords[k]:
		case k == "type":
			q.types = c.strings(x)
		case k == "properties":
			props, isMap := x.(map[string]any)
			if !isMap {
				c.ok = false
				break
			}
			q.props = make(map[string]*quickSchema, len(props))
			for name, p := range props {
				q.props[name] = c.schema(p)
			}
		case k == "required":
			q.required = c.strings(x)
		case k == "additionalProperties":
			if b, isBool := x.(bool); isBool {
				q.closed = !b
			} else {
				q.extra = c.schema(x)
			}
		case k == "items":
			q.items = c.schema(x) // a list of schemas (tuples) is refused there
		case k == "enum":
			q.enum = c.strings(x)
		case k == "$ref":
			q.ref = c.ref(x)
		default:
			c.ok = false
		}
	}
	return q
}

// strings reads a list of strings (or one string: "type" takes both).
func (c *quickCompiler) strings(x any) []string {
	if s, isString := x.(string); isString {
		return []string{s}
	}
	list, isList := x.([]any)
	if !isList {
		c.ok = false
		return nil
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, isString := e.(string)
		if !isString {
			c.ok = false
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (c *quickCompiler) ref(x any) *quickSchema {
	s, isString := x.(string)
	name, found := strings.CutPrefix(s, "#/definitions/")
	if !isString || !found || c.defs[name] == nil {
		c.ok = false
		return nil
	}
	if q, done := c.compiled[name]; done {
		return q
	}
	q := &quickSchema{}
	c.compiled[name] = q // before its body: a definition may refer to itself
	if body := c.schema(c.defs[name]); body != nil {
		*q = *body
	}
	return q
}

// valid says v is valid for sure; false means invalid or unsure.
func (q *quickSchema) valid(v *jsonValue) bool {
	if q == nil {
		return false
	}
	if q.ref != nil && !q.ref.valid(v) {
		return false
	}
	if len(q.types) > 0 && !q.typed(v) {
		return false
	}
	if q.enum != nil && (v.kind != '"' || !slices.Contains(q.enum, v.str)) {
		return false
	}
	switch v.kind {
	case '{':
		return q.object(v)
	case '[':
		if q.items != nil {
			for i := range v.elems {
				if !q.items.valid(&v.elems[i]) {
					return false
				}
			}
		}
	}
	return true
}

func (q *quickSchema) object(v *jsonValue) bool {
	for _, r := range q.required {
		if !slices.Contains(v.keys, r) {
			return false
		}
	}
	for i, k := range v.keys {
		p, known := q.props[k]
		switch {
		case known:
			if !p.valid(&v.elems[i]) {
				return false
			}
		case q.closed:
			return false
		case q.extra != nil:
			if !q.extra.valid(&v.elems[i]) {
				return false
			}
		}
	}
	return true
}

// typed says v has one of the types for sure.
func (q *quickSchema) typed(v *jsonValue) bool {
	for _, t := range q.types {
		switch {
		case t == "object" && v.kind == '{', t == "array" && v.kind == '[',
			t == "string" && v.kind == '"', t == "number" && v.kind == '0',
			t == "boolean" && (v.kind == 't' || v.kind == 'f'), t == "null" && v.kind == 'n':
			return true
		case t == "integer" && v.kind == '0' && plainInteger(v.raw):
			return true
		}
	}
	return false
}

// plainInteger says a number's text is digits, with an optional minus (no
// fraction or exponent, which only arithmetic tells apart: 1.0 and 1e2
// are integers, gojsonschema's to say).
func plainInteger(raw []byte) bool {
	if len(raw) > 0 && raw[0] == '-' {
		raw = raw[1:]
	}
	if len(raw) == 0 {
		return false
	}
	for _, ch := range raw {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return true
}

// quickSchemas are the messages' quick schemas, compiled when first used
// (nil: the check is unsure of that message).
type quickSchemas struct{ m sync.Map }

func (qs *quickSchemas) get(key string, compile func() *quickSchema) *quickSchema {
	if q, ok := qs.m.Load(key); ok {
		return q.(*quickSchema)
	}
	q := compile()
	qs.m.Store(key, q)
	return q
}
