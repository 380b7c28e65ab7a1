package protocol

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// inputs are the messages clients may send, sorted.
func inputs(v *Validator) []string {
	var out []string
	for key := range v.known {
		if name, ok := strings.CutPrefix(key, "input:"); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// agree checks that a payload the quick check finds valid is valid for
// gojsonschema; it reports whether the quick check found it valid.
func agree(t *testing.T, v *Validator, message string, payload []byte) bool {
	t.Helper()
	if !json.Valid(payload) {
		return false
	}
	val, err := readStrict(payload)
	if err != nil {
		return false
	}
	protocol, command, _ := strings.Cut(message, ":")
	if !v.quickCheck(protocol, command).valid(&val) {
		return false
	}
	if err := v.ValidateInput(protocol, command, val.generic(true)); err != nil {
		t.Fatalf("%s %s: the quick check accepts what the schema refuses: %v", message, payload, err)
	}
	return true
}

// The quick check accepts only what gojsonschema accepts, and accepts the
// payloads clients send most (so that they skip gojsonschema).
func TestQuickSchemaAgrees(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		message, payload string
		quick            bool // the quick check is sure
	}{
		{"runtime:getruntime", `{}`, true},
		{"runtime:getruntime", `{"secret":"s"}`, true},
		{"graph:addnode", `{"id":"n001","component":"core/Repeat","graph":"chain"}`, true},
		{"graph:addnode", `{"id":"n001","component":"core/Repeat","graph":"chain","metadata":{"x":1,"y":2.5,"label":"x"}}`, true},
		{"graph:addnode", `{"id":"n001","component":"core/Repeat"}`, false},
		{"graph:addnode", `{"id":7,"component":"core/Repeat","graph":"g"}`, false},
		{"graph:addnode", `{"id":"n","component":"core/Repeat","graph":"g","metadata":null}`, false},
		{"graph:addedge", `{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"graph":"chain"}`, true},
		{"graph:addedge", `{"src":{"node":"a","port":"out","index":1},"tgt":{"node":"b","port":"in","index":1.0},"graph":"g"}`, true},
		{"graph:addedge", `{"src":{"node":"a","port":"out","extra":1},"tgt":{"node":"b","port":"in"},"graph":"g"}`, false},
		{"trace:start", `{"graph":"g","buffersize":400}`, true},
		{"trace:start", `{"graph":"g","buffersize":4e2}`, false},
		{"trace:start", `{"graph":"g","buffersize":"400"}`, false},
		{"graph:addedge", `{"src":{"node":"a"},"tgt":{"node":"b","port":"in"},"graph":"g"}`, false},
		{"graph:addedge", `{"src":"a","tgt":{"node":"b","port":"in"},"graph":"g"}`, false},
		{"graph:clear", `{"id":"g","name":"x","main":true}`, true},
		{"graph:clear", `{"name":"x"}`, false},
		{"network:start", `{"graph":"g"}`, true},
		{"network:edges", `{"graph":"g","edges":[{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"}}]}`, true},
		{"network:edges", `{"graph":"g","edges":5}`, false},
		{"runtime:packet", `{"graph":"g","port":"in","event":"data","payload":{"any":[1,"x",null]}}`, true},
		{"runtime:packet", `{"graph":"g","port":"in","event":"explode"}`, false},
		{"component:getsource", `{"name":7}`, false},
	}
	for _, c := range cases {
		if got := agree(t, v, c.message, []byte(c.payload)); got != c.quick {
			t.Errorf("%s %s: quick check sure %v, want %v", c.message, c.payload, got, c.quick)
		}
	}
	// Every message's schema compiles for the quick check or leaves it to
	// gojsonschema; the common ones compile.
	for _, m := range []string{"runtime:getruntime", "runtime:packet", "graph:clear", "graph:addnode", "graph:addedge", "graph:addinitial", "network:start", "network:edges"} {
		protocol, command, _ := strings.Cut(m, ":")
		if v.quickCheck(protocol, command) == nil {
			t.Errorf("%s: no quick check", m)
		}
	}
}

// FuzzQuickSchemaAgrees feeds any payload to any input message's quick
// check: what it accepts, gojsonschema accepts.
func FuzzQuickSchemaAgrees(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	names := inputs(v)
	for _, seed := range []string{
		`{}`, `{"id":"n","component":"c","graph":"g","metadata":{"x":1}}`,
		`{"src":{"node":"a","port":"out","index":-0},"tgt":{"node":"b","port":"in"},"graph":"g","metadata":{"route":1e2}}`,
		`{"graph":"g","edges":[{"src":{"node":"a","port":"o"},"tgt":{"node":"b","port":"i"}}]}`,
		`{"graph":"g","port":"in","event":"data","payload":[]}`, `{"id":"g","main":"yes"}`, `{"name":"x","secret":"s"}`,
	} {
		for i := range names {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		agree(t, v, names[int(which)%len(names)], payload)
	})
}

// BenchmarkValidateAddnodeValue is what validating an addnode costs the
// server (BenchmarkValidateAddnode is gojsonschema's part alone, without
// making the generic value it reads).
func BenchmarkValidateAddnodeValue(b *testing.B) {
	v, err := NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := readStrict([]byte(`{"id":"n001","component":"core/Repeat","graph":"chain","metadata":{"x":1,"y":2}}`))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.ValidateInputValue("graph", "addnode", &payload); err != nil {
			b.Fatal(err)
		}
	}
}
