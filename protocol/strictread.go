package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// One decode per message: once the envelope read (readEnvelope) let a
// message through, readStrict reads the whole message once into a
// jsonValue, refusing a key repeated in one object. Schema validation
// gets its values from that (schemaValue), and the handler its payload
// struct (decodeStrict, strictdecode.go): the text is not read again.

// jsonValue is one JSON value as readStrict read it.
type jsonValue struct {
	raw   []byte      // the value's text
	kind  byte        // '{', '[', '"', '0' (number), 't', 'f', 'n' (null)
	str   string      // a string's text, escapes resolved
	keys  []string    // an object's keys, in order
	elems []jsonValue // an object's values (as keys) or an array's elements
}

// errDuplicateKey is a key repeated in one object.
type errDuplicateKey struct{ key string }

func (e errDuplicateKey) Error() string {
	return fmt.Sprintf("Invalid message: duplicate key %q", e.key)
}

// errNumberRange is a number no float64 holds (encoding/json refuses it).
var errNumberRange = errors.New("number out of range")

// readStrict reads b, which json.Valid accepted, in one pass. A repeated
// key is an errDuplicateKey; else a number no float64 holds is
// errNumberRange.
func readStrict(b []byte) (jsonValue, error) {
	var v jsonValue
	r := reader{b: b}
	if _, err := r.value(skipSpace(b, 0), &v); err != nil {
		return v, err
	}
	if r.outOfRange {
		return v, errNumberRange
	}
	return v, nil
}

// reader is one readStrict.
type reader struct {
	b          []byte
	outOfRange bool // a number no float64 holds
}

// value reads the value starting at b[i] into v and returns the index
// after it.
func (r *reader) value(i int, v *jsonValue) (int, error) {
	b := r.b
	start := i
	v.kind = b[i]
	var err error
	switch b[i] {
	case '{':
		i, err = r.object(i, v)
	case '[':
		i, err = r.array(i, v)
	case '"':
		i = skipString(b, i)
		v.str = keyText(b[start:i])
	case 't', 'f', 'n':
		i = skipValue(b, i)
	default:
		v.kind = '0'
		i = skipValue(b, i)
		if _, perr := strconv.ParseFloat(string(b[start:i]), 64); perr != nil {
			r.outOfRange = true
		}
	}
	v.raw = b[start:i]
	return i, err
}

// smallObject is how many keys an object may have before object looks
// for repeated ones in a map rather than among the keys read so far.
const smallObject = 16

func (r *reader) object(i int, v *jsonValue) (int, error) {
	b := r.b
	i = skipSpace(b, i+1)
	var seen map[string]struct{}
	for i < len(b) && b[i] != '}' {
		ks := i
		i = skipString(b, i)
		key := keyText(b[ks:i])
		if repeated(v.keys, &seen, key) {
			return i, errDuplicateKey{key}
		}
		i = skipSpace(b, skipSpace(b, i)+1) // ':'
		v.keys = append(v.keys, key)
		v.elems = append(v.elems, jsonValue{})
		var err error
		if i, err = r.value(i, &v.elems[len(v.elems)-1]); err != nil {
			return i, err
		}
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return i + 1, nil
}

func (r *reader) array(i int, v *jsonValue) (int, error) {
	b := r.b
	i = skipSpace(b, i+1)
	for i < len(b) && b[i] != ']' {
		v.elems = append(v.elems, jsonValue{})
		var err error
		if i, err = r.value(i, &v.elems[len(v.elems)-1]); err != nil {
			return i, err
		}
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	v.elems = append([]jsonValue{}, v.elems...) // [] is an empty list, never nil
	return i + 1, nil
}

// repeated reports whether key is among keys, with a map (seen) once
// there are many.
func repeated(keys []string, seen *map[string]struct{}, key string) bool {
	if len(keys) < smallObject {
		for _, k := range keys {
			if k == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(keys))
		for _, k := range keys {
			(*seen)[k] = struct{}{}
		}
	}
	if _, ok := (*seen)[key]; ok {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

// member is the value of key in an object, or nil.
func (v *jsonValue) member(key string) *jsonValue {
	for i, k := range v.keys {
		if k == key {
			return &v.elems[i]
		}
	}
	return nil
}

// stringMember is the string value of key in an object, or "".
func (v *jsonValue) stringMember(key string) string {
	if m := v.member(key); m != nil && m.kind == '"' {
		return m.str
	}
	return ""
}

// generic is the value as encoding/json decodes it into an any (numbers
// float64), or for schema validation (numbers json.Number, as
// gojsonschema reads them).
func (v *jsonValue) generic(numbers bool) any {
	switch v.kind {
	case '{':
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			m[k] = v.elems[i].generic(numbers)
		}
		return m
	case '[':
		l := make([]any, len(v.elems))
		for i := range v.elems {
			l[i] = v.elems[i].generic(numbers)
		}
		return l
	case '"':
		return v.str
	case '0':
		if numbers {
			return json.Number(v.raw)
		}
		f, _ := strconv.ParseFloat(string(v.raw), 64) // readStrict checked the range
		return f
	case 't':
		return true
	case 'f':
		return false
	}
	return nil
}

// keyText is the text of a JSON string as encoding/json decodes it (escapes
// resolved, invalid UTF-8 replaced), cheaply for plain keys.
func keyText(raw []byte) string {
	body := raw[1 : len(raw)-1]
	plain := true
	for _, ch := range body {
		if ch == '\\' || ch < 0x20 {
			plain = false
			break
		}
	}
	if plain && utf8.Valid(body) {
		return string(body)
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}
