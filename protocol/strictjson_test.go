package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

func TestDuplicateKey(t *testing.T) {
	for _, tc := range []struct {
		text, dup string
		found     bool
	}{
		{`{"a":1,"b":2}`, "", false},
		{`{"a":1,"a":2}`, "a", true},
		{`{"a":{"b":1},"c":{"b":2}}`, "", false},
		{`{"a":{"b":1,"b":2}}`, "b", true},
		{`[{"a":1},{"a":1}]`, "", false},
		{`{"a":[{"x":1,"y":{"x":2}}],"x":3}`, "", false},
		{`{"a":"\"a\":1, \"a\"","b":"a"}`, "", false},
		{`{"a":1,"\u0061":2}`, "a", true},
		{`{"a\\":1,"a\\":2}`, `a\`, true},
		{`{"\u00e9":1,"é":2}`, "é", true},
		{"{\"k\":[1,2,{\"k\":[]}] , \"k\" : 3}", "k", true},
		{`{"":1,"":2}`, "", true}, // the empty key, repeated
		{`"a"`, "", false},
		{`{"A":1,"a":2}`, "", false}, // case matters only where a struct field takes both
	} {
		_, err := readStrict([]byte(tc.text))
		var dup errDuplicateKey
		found := errors.As(err, &dup)
		if found != tc.found || dup.key != tc.dup {
			t.Errorf("%s: got %q %v (%v), want %q %v", tc.text, dup.key, found, err, tc.dup, tc.found)
		}
	}
}

// What the schema validated is what the handler gets: repeated keys and
// keys that only encoding/json's case-insensitive matching would take are
// refused, and nothing changes.
func TestStrictKeys(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	c.request("graph", "clear", obj(`{"id":"g"}`), "clear")
	c.wantRefused(t, []refusal{
		{"repeated top-level key", `{"protocol":"graph","command":"clear","payload":{"id":"a"},"payload":{"id":"b"}}`, "runtime", `Invalid message: duplicate key "payload"`},
		{"payload beside Payload", `{"protocol":"graph","command":"clear","payload":{"id":"a"},"Payload":{"id":"b"}}`, "runtime", `key "Payload": keys are case-sensitive`},
		{"Command", `{"protocol":"graph","Command":"clear","payload":{"id":"a"}}`, "runtime", `key "Command": keys are case-sensitive`},
		{"repeated id", `{"protocol":"graph","command":"addnode","payload":{"graph":"g","id":"a","component":"core/Repeat","id":"b"}}`, "graph", `duplicate key "id"`},
		{"repeated id, escaped", `{"protocol":"graph","command":"addnode","payload":{"graph":"g","id":"a","component":"core/Repeat","\u0069d":"b"}}`, "graph", `duplicate key "id"`},
		{"id beside ID", `{"protocol":"graph","command":"addnode","payload":{"graph":"g","id":"a","component":"core/Repeat","ID":"b"}}`, "graph", `key "ID" in payload: keys are case-sensitive`},
		{"lone Component", `{"protocol":"graph","command":"addnode","payload":{"graph":"g","id":"a","component":"core/Repeat","Component":"core/Drop"}}`, "graph", `key "Component" in payload`},
		{"nested Node", `{"protocol":"graph","command":"addedge","payload":{"graph":"g","src":{"node":"a","port":"out","Node":"b"},"tgt":{"node":"a","port":"in"}}}`, "graph", `src: Additional property Node is not allowed`},
		{"nested Data", `{"protocol":"graph","command":"addinitial","payload":{"graph":"g","src":{"data":1,"Data":2},"tgt":{"node":"a","port":"in"}}}`, "graph", `src: Additional property Data is not allowed`},
		{"unicode folding", `{"protocol":"graph","command":"clear","payload":{"id":"x","deſcription":"y"}}`, "graph", `key "deſcription" in payload`},
		{"repeated secret", `{"protocol":"graph","command":"clear","payload":{"id":"x"},"secret":"a","secret":"b"}`, "runtime", `duplicate key "secret"`},
	})
	// Keys of free-form values (metadata, data) are the client's own.
	c.request("graph", "addnode", obj(`{"graph":"g","id":"a","component":"core/Repeat","metadata":{"x":1,"X":2}}`), "addnode")
	m := c.request("graph", "addinitial", obj(`{"graph":"g","src":{"data":{"Id":1,"id":2}},"tgt":{"node":"a","port":"in"}}`), "addinitial")
	wantPayload(t, m, `{"graph":"g","src":{"data":{"Id":1,"id":2}},"tgt":{"node":"a","port":"in"}}`)
}

func TestCaseExactKeys(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type embedded struct {
		Extra string `json:"extra"`
	}
	type outer struct {
		embedded
		In      inner            `json:"in"`
		List    []inner          `json:"list"`
		ByName  map[string]inner `json:"byName"`
		Raw     json.RawMessage  `json:"raw"`
		Free    any              `json:"free"`
		Untaged string
	}
	for _, tc := range []struct{ text, want string }{
		{`{"in":{"name":"a"},"list":[{"name":"b"}],"byName":{"x":{"name":"c"}},"extra":"d","Untaged":"e"}`, ""},
		{`{"raw":{"NAME":1},"free":{"IN":1},"unknown":1}`, ""},
		{`{"IN":{}}`, `key "IN" in payload`},
		{`{"in":{"Name":"a"}}`, `key "Name" in payload.in`},
		{`{"list":[{"name":"a"},{"nAme":"b"}]}`, `key "nAme" in payload.list[1]`},
		{`{"byName":{"x":{"NAME":"c"}}}`, `key "NAME" in payload.byName.x`},
		{`{"EXTRA":"d"}`, `key "EXTRA" in payload`},
		{`{"untaged":"e"}`, `key "untaged" in payload`},
	} {
		v, err := readStrict([]byte(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		err = decodeStrict(&v, new(outer), "payload")
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.text, err, tc.want)
		}
	}
	// Every payload type a handler decodes has a JSON name on each field,
	// so that the exact spelling clients send is the one it takes.
	for _, p := range []any{wire.AddNode{}, wire.AddEdge{}, wire.AddInitial{}, wire.Packet{}, wire.Source{}, wire.Edges{}} {
		for _, f := range reflect.VisibleFields(reflect.TypeOf(p)) {
			if f.IsExported() && f.Tag.Get("json") == "" {
				t.Errorf("%T.%s has no json name", p, f.Name)
			}
		}
	}
}
