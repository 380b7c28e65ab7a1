package jsontext

import (
	"encoding/json"
	"testing"
)

func TestMarshalKeepsHTMLCharacters(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{"<a&b>", `"<a&b>"`},
		{map[string]any{"x": json.RawMessage(`{"s":"<&>","n":1.10}`)}, `{"x":{"s":"<&>","n":1.10}}`},
		{[]int{1, 2}, `[1,2]`},
	} {
		got, err := Marshal(c.in)
		if err != nil || string(got) != c.want {
			t.Errorf("Marshal(%#v) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	if _, err := Marshal(func() {}); err == nil {
		t.Error("Marshal of a func gave no error")
	}
}
