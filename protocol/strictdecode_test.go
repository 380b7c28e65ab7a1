package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// decodeBoth decodes text into a new T with decodeStrict (and
// encoding/json where it leaves the value to it, as request.payload does)
// and with encoding/json alone; it reports whether decodeStrict decoded
// by itself.
func decodeBoth[T any](t *testing.T, text string) (strict, std T, alone bool) {
	t.Helper()
	v, err := readStrict([]byte(text))
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	err = decodeStrict(&v, &strict, "payload")
	alone = !errors.Is(err, errNotDecoded)
	if !alone {
		strict = *new(T)
		err = json.Unmarshal([]byte(text), &strict)
	}
	stdErr := json.Unmarshal([]byte(text), &std)
	if (err == nil) != (stdErr == nil) {
		t.Fatalf("%s: decodeStrict %v, encoding/json %v", text, err, stdErr)
	}
	return strict, std, alone
}

// What decodeStrict makes of a payload is what encoding/json makes of its
// text: the handlers see no difference but the refused keys.
func TestDecodeStrictAsEncodingJSON(t *testing.T) {
	check := func(name string, strict, std any, alone bool, wantAlone bool) {
		t.Helper()
		if !reflect.DeepEqual(strict, std) {
			t.Errorf("%s: decodeStrict %#v, encoding/json %#v", name, strict, std)
		}
		if alone != wantAlone {
			t.Errorf("%s: decoded alone %v, want %v", name, alone, wantAlone)
		}
	}
	for _, text := range []string{
		`{"graph":"g","id":"a","component":"core/Repeat","metadata":{"x":1.5,"y":[1,"two",null,true],"z":{"w":{}}}}`,
		`{"graph":"g","id":"\u00e9\n\"q\"","component":"c","metadata":null}`,
		`{"graph":"g","id":"a","component":null,"extra":[1,2]}`,
		`{"graph":"g","id":"a","component":"c","metadata":{}}`,
	} {
		strict, std, alone := decodeBoth[wire.AddNode](t, text)
		check(text, strict, std, alone, true)
	}
	for _, text := range []string{
		`{"graph":"g","src":{"node":"a","port":"out","index":2},"tgt":{"node":"b","port":"in","index":null},"metadata":{"route":3}}`,
		`{"graph":"g","src":{"node":"a","port":"out","index":"x"},"tgt":{"node":"b","port":"in"}}`,
	} {
		strict, std, alone := decodeBoth[wire.AddEdge](t, text)
		check(text, strict, std, alone, true)
	}
	for _, text := range []string{
		`{"graph":"g","src":{"data": { "b" : 1, "a" : [ 1.0, 2e3 ] } },"tgt":{"node":"a","port":"in"}}`,
		`{"graph":"g","src":{"data":null},"tgt":{"node":"a","port":"in"}}`,
		`{"graph":"g","src":{},"tgt":{"node":"a","port":"in"}}`,
	} {
		strict, std, alone := decodeBoth[wire.AddInitial](t, text)
		check(text, strict, std, alone, true)
	}
	for _, text := range []string{
		`{"graph":"g","port":"in","event":"data","payload":  "\ud83d\ude00" }`,
		`{"graph":"g","port":"in","event":"begingroup"}`,
	} {
		strict, std, alone := decodeBoth[wire.Packet](t, text)
		check(text, strict, std, alone, true)
	}
	for _, text := range []string{
		`{"graph":"g","edges":[]}`,
		`{"graph":"g","edges":[{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"}}]}`,
		`{"graph":"g","edges":null}`,
	} {
		strict, std, alone := decodeBoth[wire.Edges](t, text)
		check(text, strict, std, alone, true)
	}
	strict, std, alone := decodeBoth[wire.AddGroup](t, `{"graph":"g","name":"n","nodes":["a","b"],"metadata":{"description":"d"}}`)
	check("addgroup", strict, std, alone, true)
	ts, tstd, alone := decodeBoth[wire.TraceStart](t, `{"graph":"g","buffersize":400}`)
	check("trace:start", ts, tstd, alone, true)
	// A value that does not fit its field is left to encoding/json, for its
	// error text; so is one it takes that decodeStrict does not.
	for _, text := range []string{`{"graph":"g","buffersize":1.5}`, `{"graph":"g","buffersize":"400"}`, `{"graph":7}`} {
		ts, tstd, alone := decodeBoth[wire.TraceStart](t, text)
		check(text, ts, tstd, alone, false)
	}
}

// A case variant of a field's name is refused wherever it is, even after a
// value decodeStrict leaves to encoding/json.
func TestDecodeStrictRefusesCaseVariantsEverywhere(t *testing.T) {
	v, err := readStrict([]byte(`{"graph":7,"BufferSize":1}`))
	if err != nil {
		t.Fatal(err)
	}
	err = decodeStrict(&v, new(wire.TraceStart), "payload")
	if err == nil || errors.Is(err, errNotDecoded) {
		t.Fatalf("got %v, want the case-sensitivity error", err)
	}
}

// FuzzDecodeStrict: for any JSON object, readStrict and decodeStrict
// either refuse it (a repeated key, a case variant of a field's name) or
// decode it as encoding/json does, into the payload types with the most
// shapes.
func FuzzDecodeStrict(f *testing.F) {
	for _, seed := range []string{
		`{"graph":"g","src":{"node":"a","port":"out","index":2},"tgt":{"node":"b","port":"in"},"metadata":{"x":[1,null]}}`,
		`{"graph":"g","src":{"data":{"b":1,"a":"\u00e9"}},"tgt":{"node":"a","port":"in"}}`,
		`{"graph":"g","edges":[{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"}}],"x":1e5}`,
		`{"graph":"g","port":"in","event":"data","payload":null,"type":7}`,
		`{"id":"\ud800","graph":"g","component":"c","metadata":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		if !json.Valid(text) || text[skipSpace(text, 0)] != '{' {
			return
		}
		v, err := readStrict(text)
		if err != nil {
			return // a repeated key, or a number out of range
		}
		same[wire.AddEdge](t, &v, text)
		same[wire.AddInitial](t, &v, text)
		same[wire.Edges](t, &v, text)
		same[wire.Packet](t, &v, text)
		same[wire.AddNode](t, &v, text)
	})
}

func same[T any](t *testing.T, v *jsonValue, text []byte) {
	var strict, std T
	err := decodeStrict(v, &strict, "payload")
	if err != nil && !errors.Is(err, errNotDecoded) {
		return // a case variant, refused
	}
	if errors.Is(err, errNotDecoded) {
		return // encoding/json decodes it
	}
	if stdErr := json.Unmarshal(text, &std); stdErr != nil {
		t.Fatalf("%s: decodeStrict took it, encoding/json: %v", text, stdErr)
	}
	if !reflect.DeepEqual(strict, std) {
		t.Fatalf("%s into %T: decodeStrict %#v, encoding/json %#v", text, strict, strict, std)
	}
}

// An integer field takes what the schemas call an integer (JSON Schema:
// a number with no fraction), 400.0 and 4e2 too, as a client other than
// JavaScript may write it (Python's json writes 400.0); encoding/json
// refuses those, and the schema-valid trace:start was answered with its
// error. A fraction, or a number beyond the field, is still not decoded.
func TestDecodeStrictReadsIntegersAsTheSchemas(t *testing.T) {
	for text, want := range map[string]int{
		`{"graph":"g","buffersize":400.0}`:  400,
		`{"graph":"g","buffersize":4e2}`:    400,
		`{"graph":"g","buffersize":-0.0}`:   0,
		`{"graph":"g","buffersize":400.00}`: 400,
	} {
		v, err := readStrict([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		var ts wire.TraceStart
		if err := decodeStrict(&v, &ts, "payload"); err != nil || ts.Buffersize != want {
			t.Errorf("%s: %+v, %v; want buffersize %d", text, ts, err, want)
		}
	}
	for _, text := range []string{`{"graph":"g","buffersize":400.5}`, `{"graph":"g","buffersize":1e300}`, `{"graph":"g","buffersize":9.3e18}`} {
		v, err := readStrict([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		var ts wire.TraceStart
		if err := decodeStrict(&v, &ts, "payload"); !errors.Is(err, errNotDecoded) {
			t.Errorf("%s: %+v, %v; want it not decoded", text, ts, err)
		}
	}
}
