package wire

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// schemaKeys reads the protocol's schemas (protocol/schemas) and returns,
// per "protocol:command", the payload keys either direction allows.
func schemaKeys(t *testing.T) map[string]map[string]bool {
	t.Helper()
	files, err := filepath.Glob("../schemas/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas: %v", err)
	}
	keys := map[string]map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if name == "shared" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		type message struct { // the schema of a payload
			Properties map[string]any `json:"properties"`
		}
		var doc struct{ Input, Output map[string]message }
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, dir := range []map[string]message{doc.Input, doc.Output} {
			for cmd, s := range dir {
				k := name + ":" + cmd
				if keys[k] == nil {
					keys[k] = map[string]bool{}
				}
				for p := range s.Properties {
					keys[k][p] = true
				}
			}
		}
	}
	return keys
}

// Every message type is a message of the schemas, and each of its keys is
// one the schemas allow for that message (in the direction it has it).
func TestTypesHaveTheSchemasKeys(t *testing.T) {
	keys := schemaKeys(t)
	messages := []string{"runtime:error", "graph:error", "component:error", "trace:error"}
	for k := range decoders {
		messages = append(messages, k)
	}
	sort.Strings(messages)
	for _, k := range messages {
		protocol, command, _ := strings.Cut(k, ":")
		m, err := Decode(protocol, command, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Protocol() != protocol || m.Command() != command {
			t.Errorf("%s decodes as %T, which is %s:%s", k, m, m.Protocol(), m.Command())
		}
		allowed, ok := keys[k]
		if !ok {
			t.Errorf("%T is %s, which no schema has", m, k)
			continue
		}
		typ := reflect.TypeOf(m)
		if typ.Kind() != reflect.Struct {
			continue
		}
		for _, f := range reflect.VisibleFields(typ) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				t.Errorf("%T.%s has no json name", m, f.Name)
				continue
			}
			if !allowed[name] {
				t.Errorf("%T (%s) has key %q, which its schema does not allow", m, k, name)
			}
		}
	}
	// Messages the runtime neither sends nor takes have no type (yet).
	var missing []string
	for k := range keys {
		if _, ok := decoders[k]; !ok && !strings.HasSuffix(k, ":error") {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if want := "network:begingroup network:endgroup network:icon"; strings.Join(missing, " ") != want {
		t.Errorf("schema messages without a type: %v, want %s", missing, want)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	msgs := []Message{
		AddEdge{Src: PortRef{Node: "a", Port: "out"}, Tgt: PortRef{Node: "b", Port: "in", Index: float64(2)}, Graph: "g"},
		AddInitial{Src: IIPData{Data: json.RawMessage(`{"x":[1,2]}`)}, Tgt: PortRef{Node: "b", Port: "in"}, Graph: "g"},
		Data{ID: "a() OUT -> IN b()", Tgt: PortRef{Node: "b", Port: "in"}, Graph: "g", Data: json.RawMessage(`"<&>"`)},
		ComponentsReady(3),
		Error{Proto: "graph", Message: "Node x not found"},
		NetworkError{Message: "lost", Graph: "g"},
		TraceDump{Graph: "g", Type: "flowtrace.json", Flowtrace: "{}"},
	}
	for _, m := range msgs {
		text, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Protocol, Command string
			Payload           json.RawMessage
		}
		if err := json.Unmarshal(text, &env); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		got, err := Decode(env.Protocol, env.Command, env.Payload)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s decoded as %#v, want %#v", text, got, m)
		}
	}
}

// Edge ids and data keep '<', '>' and '&' as they are: logs and traces
// stay readable.
func TestEncodeKeepsHTMLCharacters(t *testing.T) {
	text, err := Encode(Data{ID: "a() OUT -> IN b()", Tgt: PortRef{Node: "b", Port: "in"}, Graph: "g", Data: json.RawMessage(`"<&>"`)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"protocol":"network","command":"data","payload":{"id":"a() OUT -> IN b()","tgt":{"node":"b","port":"in"},"graph":"g","data":"<&>"}}`
	if string(text) != want {
		t.Errorf("got %s\nwant %s", text, want)
	}
}

func TestEncodeWithSecret(t *testing.T) {
	text, err := EncodeWithSecret(GetRuntime{}, "s3")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"protocol":"runtime","command":"getruntime","payload":{},"secret":"s3"}`; string(text) != want {
		t.Errorf("got %s, want %s", text, want)
	}
}

func TestDecodeUnknownMessage(t *testing.T) {
	if _, err := Decode("graph", "nosuch", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "graph:nosuch") {
		t.Errorf("got %v", err)
	}
	if _, err := Decode("graph", "addnode", []byte(`[1]`)); err == nil || !strings.Contains(err.Error(), "graph:addnode") {
		t.Errorf("got %v", err)
	}
}
