package protocol

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// decodeStrict fills the struct dst points to from v (read by readStrict)
// as encoding/json would from v's text, except that a key differing from a
// field's JSON name only by case is refused: encoding/json would fill the
// field with a value schema validation never saw. Where the value does not
// fit the field, or for what it does not handle itself, it reports
// errNotDecoded (the caller then lets encoding/json decode the text, for
// its exact error).
func decodeStrict(v *jsonValue, dst any, path string) error {
	return decodeInto(v, reflect.ValueOf(dst).Elem(), path)
}

var errNotDecoded = errors.New("left to encoding/json")

var genericMap = reflect.TypeFor[map[string]any]()

// childPath is the path of a value inside the one at path, for the errors
// about keys; only values with keys of their own need it.
// The step is .key, or [index] when key is "" and index not negative.
func childPath(rv reflect.Value, path, key string, index int) string {
	switch rv.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer:
		if key == "" && index >= 0 {
			return path + "[" + strconv.Itoa(index) + "]"
		}
		return path + "." + key
	}
	return ""
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func decodeInto(v *jsonValue, rv reflect.Value, path string) error {
	if pt := reflect.PointerTo(rv.Type()); pt.Implements(jsonUnmarshaler) {
		return rv.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(v.raw)
	} else if pt.Implements(textUnmarshaler) {
		return errNotDecoded
	}
	if v.kind == 'n' { // null: as encoding/json, nothing for values, nil for the rest
		switch rv.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
			rv.SetZero()
		}
		return nil
	}
	switch rv.Kind() {
	case reflect.Struct:
		return decodeStruct(v, rv, path)
	case reflect.Pointer:
		rv.Set(reflect.New(rv.Type().Elem()))
		return decodeInto(v, rv.Elem(), path)
	case reflect.Interface:
		if rv.NumMethod() != 0 {
			return errNotDecoded
		}
		rv.Set(reflect.ValueOf(v.generic(false)))
		return nil
	case reflect.Map:
		return decodeMap(v, rv, path)
	case reflect.Slice:
		return decodeSlice(v, rv, path)
	}
	return decodeScalar(v, rv)
}

func decodeStruct(v *jsonValue, rv reflect.Value, path string) error {
	if v.kind != '{' {
		return errNotDecoded
	}
	fields, ok := structFields(rv.Type())
	if !ok {
		return errNotDecoded
	}
	var left leftOver
	for i, key := range v.keys {
		f, exact := fields[key]
		if !exact {
			for name := range fields {
				if strings.EqualFold(key, name) {
					return fmt.Errorf("key %q in %s: keys are case-sensitive (%q)", key, path, name)
				}
			}
			continue
		}
		field := rv.FieldByIndex(f)
		if err := left.note(decodeInto(&v.elems[i], field, childPath(field, path, key, -1))); err != nil {
			return err
		}
	}
	return left.err()
}

// leftOver remembers that a part of a value was left to encoding/json
// while the rest is still checked for case variants, which come first.
type leftOver bool

func (l *leftOver) note(err error) error {
	if errors.Is(err, errNotDecoded) {
		*l = true
		return nil
	}
	return err
}

func (l leftOver) err() error {
	if l {
		return errNotDecoded
	}
	return nil
}

func decodeMap(v *jsonValue, rv reflect.Value, path string) error {
	if v.kind != '{' || rv.Type().Key().Kind() != reflect.String {
		return errNotDecoded
	}
	if rv.Type().ConvertibleTo(genericMap) { // metadata: the client's own keys
		rv.Set(reflect.ValueOf(v.generic(false)).Convert(rv.Type()))
		return nil
	}
	m := reflect.MakeMapWithSize(rv.Type(), len(v.keys))
	var left leftOver
	for i, key := range v.keys {
		elem := reflect.New(rv.Type().Elem()).Elem()
		if err := left.note(decodeInto(&v.elems[i], elem, childPath(elem, path, key, -1))); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()), elem)
	}
	rv.Set(m)
	return left.err()
}

func decodeSlice(v *jsonValue, rv reflect.Value, path string) error {
	if v.kind != '[' || rv.Type().Elem().Kind() == reflect.Uint8 { // []byte is base64 text
		return errNotDecoded
	}
	s := reflect.MakeSlice(rv.Type(), len(v.elems), len(v.elems))
	var left leftOver
	for i := range v.elems {
		if err := left.note(decodeInto(&v.elems[i], s.Index(i), childPath(s.Index(i), path, "", i))); err != nil {
			return err
		}
	}
	rv.Set(s)
	return left.err()
}

func decodeScalar(v *jsonValue, rv reflect.Value) error {
	switch {
	case rv.Kind() == reflect.String && v.kind == '"':
		rv.SetString(v.str)
	case rv.Kind() == reflect.Bool && (v.kind == 't' || v.kind == 'f'):
		rv.SetBool(v.kind == 't')
	case rv.CanInt() && v.kind == '0':
		n, ok := jsonInteger(v.raw)
		if !ok || rv.OverflowInt(n) {
			return errNotDecoded
		}
		rv.SetInt(n)
	case rv.CanFloat() && v.kind == '0':
		f, err := strconv.ParseFloat(string(v.raw), rv.Type().Bits())
		if err != nil {
			return errNotDecoded
		}
		rv.SetFloat(f)
	default:
		return errNotDecoded
	}
	return nil
}

// jsonInteger reads a JSON number that is an integer, as JSON Schema's
// "integer" does: 3, and also 3.0 or 3e2 (the schemas accept those).
func jsonInteger(raw []byte) (int64, bool) {
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	// Beyond ±2^63 a float64 is no int64; below, every integral float64
	// converts exactly.
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// structFields maps the JSON names of a struct's fields (promoted ones
// included) to their indexes; ok is false for what decodeStruct leaves to
// encoding/json (",string" options, embedded pointers).
func structFields(t reflect.Type) (map[string][]int, bool) {
	if f, ok := structFieldsCache.Load(t); ok {
		return f.(map[string][]int), f.(map[string][]int) != nil
	}
	fields := map[string][]int{}
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case tag == "-" || (!f.IsExported() && !f.Anonymous):
			continue
		case f.Anonymous && f.Type.Kind() == reflect.Pointer:
			fields = nil
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			continue // its fields are promoted
		case strings.Contains(","+opts+",", ",string,"):
			fields = nil
		}
		if fields == nil {
			break
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := fields[name]; !taken {
			fields[name] = f.Index
		}
	}
	structFieldsCache.Store(t, fields)
	return fields, fields != nil
}

var structFieldsCache sync.Map // reflect.Type -> map[string][]int (nil: not decoded here)
