package protocol

import "testing"

func BenchmarkValidateAddnode(b *testing.B) {
	v, err := NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	msg, _ := readStrict([]byte(`{"id":"n001","component":"core/Repeat","graph":"chain","metadata":{"x":1,"y":2}}`))
	payload := msg.generic(true)
	for b.Loop() {
		if err := v.ValidateInput("graph", "addnode", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateGetruntime(b *testing.B) {
	v, err := NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	payload := map[string]any{}
	for b.Loop() {
		if err := v.ValidateInput("runtime", "getruntime", payload); err != nil {
			b.Fatal(err)
		}
	}
}
