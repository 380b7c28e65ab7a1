package protocol

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Strict JSON: Go's encoding/json takes the last of repeated keys and
// matches struct fields case-insensitively ("Payload", "ID", even
// "ſecret"), while schema validation sees keys exactly. So that what is
// validated is what is handled, repeated keys are refused, and a key that
// differs from a field of the handler's payload only by case is refused.

// The scanners below read JSON that json.Valid accepted; they never
// allocate for values, only for keys.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just after the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// keyText is the text of a JSON string as encoding/json decodes it (escapes
// resolved, invalid UTF-8 replaced), cheaply for plain ASCII keys.
func keyText(raw []byte) string {
	plain := true
	for _, ch := range raw {
		if ch == '\\' || ch >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// members calls fn with each key and raw value of the object obj (valid
// JSON, an object) in order, and stops at fn's first error.
func members(obj []byte, fn func(key string, value []byte) error) error {
	i := skipSpace(obj, 0) + 1 // '{'
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return nil
		}
		ks := i
		i = skipString(obj, i)
		key := keyText(obj[ks:i])
		i = skipSpace(obj, i) + 1 // ':'
		i = skipSpace(obj, i)
		vs := i
		i = skipValue(obj, i)
		if err := fn(key, obj[vs:i]); err != nil {
			return err
		}
		i = skipSpace(obj, i)
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
}

// duplicateKey finds a key repeated in one object anywhere in b (valid
// JSON).
func duplicateKey(b []byte) (string, bool) {
	type level struct {
		object    bool
		expectKey bool
		keys      map[string]struct{}
	}
	var stack []level
	for i := 0; i < len(b); {
		switch b[i] {
		case '{':
			stack = append(stack, level{object: true, expectKey: true})
		case '[':
			stack = append(stack, level{})
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			if top := &stack[len(stack)-1]; top.object {
				top.expectKey = true
			}
		case '"':
			j := skipString(b, i)
			if len(stack) > 0 {
				if top := &stack[len(stack)-1]; top.object && top.expectKey {
					key := keyText(b[i:j])
					if _, seen := top.keys[key]; seen {
						return key, true
					}
					if top.keys == nil {
						top.keys = map[string]struct{}{}
					}
					top.keys[key] = struct{}{}
					top.expectKey = false
				}
			}
			i = j
			continue
		}
		i++
	}
	return "", false
}

// jsonFields maps the JSON names of a struct's fields (promoted ones
// included) to their types.
var jsonFieldsCache sync.Map // reflect.Type -> map[string]reflect.Type

func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := jsonFieldsCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			continue // its fields are promoted
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := fields[name]; !taken {
			fields[name] = f.Type
		}
	}
	jsonFieldsCache.Store(t, fields)
	return fields
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// caseExactKeys checks a decoded value v against the type t it will be
// decoded into: every object key meant for a struct field must spell the
// field's JSON name exactly, or encoding/json would fill the field with a
// value the schema never saw.
func caseExactKeys(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil // decodes itself
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		for key, val := range obj {
			if ft, exact := fields[key]; exact {
				if err := caseExactKeys(val, ft, path+"."+key); err != nil {
					return err
				}
				continue
			}
			for name := range fields {
				if strings.EqualFold(key, name) {
					return fmt.Errorf("key %q in %s: keys are case-sensitive (%q)", key, path, name)
				}
			}
		}
	case reflect.Map:
		if obj, ok := v.(map[string]any); ok {
			for key, val := range obj {
				if err := caseExactKeys(val, t.Elem(), path+"."+key); err != nil {
					return err
				}
			}
		}
	case reflect.Slice, reflect.Array:
		if list, ok := v.([]any); ok {
			for i, val := range list {
				if err := caseExactKeys(val, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
