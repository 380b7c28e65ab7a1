package protocol

import (
	"encoding/json"
	"testing"
)

func BenchmarkValidateAddnode(b *testing.B) {
	v, err := NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	var msg any
	_ = json.Unmarshal([]byte(`{"protocol":"graph","command":"addnode","payload":{"id":"n001","component":"core/Repeat","graph":"chain","metadata":{"x":1,"y":2}}}`), &msg)
	for b.Loop() {
		if err := v.ValidateInput("graph", "addnode", msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateGetruntime(b *testing.B) {
	v, err := NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	var msg any
	_ = json.Unmarshal([]byte(`{"protocol":"runtime","command":"getruntime","payload":{}}`), &msg)
	for b.Loop() {
		if err := v.ValidateInput("runtime", "getruntime", msg); err != nil {
			b.Fatal(err)
		}
	}
}
