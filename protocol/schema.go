package protocol

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/xeipuuv/gojsonreference"
	"github.com/xeipuuv/gojsonschema"
)

//go:embed schemas/*.json
var schemaFiles embed.FS

// subProtocols are the FBP sub-protocols with a schema file each.
var subProtocols = []string{"runtime", "graph", "component", "network", "trace"}

// Validator checks message payloads against the schemas in schemas/.
//
// A message's schema is compiled the first time a message of its kind is
// checked: compiled, each schema holds a copy of every shared definition,
// and all of them took 2.4 MB of a runtime's 5.8 MB heap with 200
// participants, mostly for outputs only tests check and for commands a
// client never sends. NewValidator reads every file and lists the
// messages; TestEverySchemaCompiles compiles them all.
type Validator struct {
	defs map[string]any
	// known are the messages with a schema: "input:protocol:command",
	// "output:protocol:command".
	known map[string]bool
	// compiled are the schemas compiled so far, by the same keys; quick
	// their quick checks (quickschema.go).
	compiled sync.Map
	quick    quickSchemas
	caps     map[string]capabilityMessages
}

type capabilityMessages struct {
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

type sharedFile struct {
	Definitions  map[string]json.RawMessage    `json:"definitions"`
	Capabilities map[string]capabilityMessages `json:"capabilities"`
}

type protocolFile struct {
	Input  map[string]map[string]any `json:"input"`
	Output map[string]map[string]any `json:"output"`
}

// NewValidator reads the embedded schemas.
func NewValidator() (*Validator, error) {
	var shared sharedFile
	if err := readSchemaFile("shared.json", &shared); err != nil {
		return nil, err
	}
	defs := map[string]any{}
	for k, v := range shared.Definitions {
		var d any
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("schemas/shared.json: definition %s: %w", k, err)
		}
		defs[k] = d
	}
	v := &Validator{defs: defs, known: map[string]bool{}, caps: shared.Capabilities}
	for _, p := range subProtocols {
		var f protocolFile
		if err := readSchemaFile(p+".json", &f); err != nil {
			return nil, err
		}
		for cmd := range f.Input {
			v.known["input:"+p+":"+cmd] = true
		}
		for cmd := range f.Output {
			v.known["output:"+p+":"+cmd] = true
		}
	}
	return v, nil
}

// schema is the compiled schema of a message (dir "input" or "output"),
// nil when there is none.
func (v *Validator) schema(dir, protocol, command string) (*gojsonschema.Schema, error) {
	key := dir + ":" + protocol + ":" + command
	if s, ok := v.compiled.Load(key); ok {
		return s.(*gojsonschema.Schema), nil
	}
	if !v.known[key] {
		return nil, nil
	}
	doc, err := v.doc(dir, protocol, command)
	if err != nil {
		return nil, err
	}
	s, err := gojsonschema.NewSchema(gojsonschema.NewGoLoader(doc))
	if err != nil {
		return nil, fmt.Errorf("schemas/%s.json: %s %s: %w", protocol, dir, command, err)
	}
	v.compiled.Store(key, s)
	return s, nil
}

// doc is a message's schema as a document on its own (with the shared
// definitions), read from its file.
func (v *Validator) doc(dir, protocol, command string) (map[string]any, error) {
	var f protocolFile
	if err := readSchemaFile(protocol+".json", &f); err != nil {
		return nil, err
	}
	doc := f.Input[command]
	if dir == "output" {
		doc = f.Output[command]
	}
	if doc == nil {
		return nil, fmt.Errorf("schemas/%s.json: no %s %s", protocol, dir, command)
	}
	doc["definitions"] = v.defs
	doc["$schema"] = "http://json-schema.org/draft-04/schema#"
	return doc, nil
}

// quickCheck is the quick check of a client message (nil: none).
func (v *Validator) quickCheck(protocol, command string) *quickSchema {
	key := "input:" + protocol + ":" + command
	if !v.known[key] {
		return nil
	}
	return v.quick.get(key, func() *quickSchema {
		doc, err := v.doc("input", protocol, command)
		if err != nil {
			return nil
		}
		return compileQuick(doc, v.defs)
	})
}

func readSchemaFile(name string, into any) error {
	data, err := schemaFiles.ReadFile("schemas/" + name)
	if err != nil {
		return fmt.Errorf("schemas/%s: %w", name, err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("schemas/%s: %w", name, err)
	}
	return nil
}

// KnownInput reports whether protocol:command is a message clients may send.
func (v *Validator) KnownInput(protocol, command string) bool {
	return v.known["input:"+protocol+":"+command]
}

// ValidateInput checks the payload of a client message, decoded as
// gojsonschema reads JSON (numbers as json.Number: jsonValue.generic).
// Extra keys are allowed, as clients of several protocol versions send
// them.
func (v *Validator) ValidateInput(protocol, command string, payload any) error {
	s, err := v.schema("input", protocol, command)
	if err != nil {
		return err
	}
	if s == nil {
		return fmt.Errorf("Unknown command %q for protocol %q", command, protocol)
	}
	return checkLoaded(s, decodedLoader{payload}, "Invalid "+protocol+":"+command+" payload")
}

// ValidateInputValue is ValidateInput of the payload as readStrict read
// it: a payload the quick check finds valid for sure is not decoded for
// gojsonschema nor checked by it (quickschema.go).
func (v *Validator) ValidateInputValue(protocol, command string, payload *jsonValue) error {
	if v.quickCheck(protocol, command).valid(payload) {
		return nil
	}
	return v.ValidateInput(protocol, command, payload.generic(true))
}

// decodedLoader gives gojsonschema a value decoded already, as it would
// decode it itself (its GoLoader encodes a value to JSON and decodes that
// again).
type decodedLoader struct{ v any }

func (l decodedLoader) JsonSource() any        { return l.v }
func (l decodedLoader) LoadJSON() (any, error) { return l.v, nil }
func (l decodedLoader) LoaderFactory() gojsonschema.JSONLoaderFactory {
	return &gojsonschema.DefaultJSONLoaderFactory{}
}
func (l decodedLoader) JsonReference() (gojsonreference.JsonReference, error) {
	return gojsonreference.NewJsonReference("#")
}

// ValidateOutput checks a whole message the runtime sends: the envelope has
// exactly protocol, command and payload, and the payload matches the output
// schema strictly.
func (v *Validator) ValidateOutput(protocol, command string, msg any) error {
	s, err := v.schema("output", protocol, command)
	if err != nil {
		return err
	}
	if s == nil {
		return fmt.Errorf("%s:%s is not a message a runtime sends", protocol, command)
	}
	m, ok := msg.(map[string]any)
	if !ok {
		return fmt.Errorf("%s:%s: message is not an object", protocol, command)
	}
	for k := range m {
		if k != "protocol" && k != "command" && k != "payload" {
			return fmt.Errorf("%s:%s: unexpected key %q in the message", protocol, command, k)
		}
	}
	if m["protocol"] != protocol || m["command"] != command {
		return fmt.Errorf("%s:%s: envelope says %v:%v", protocol, command, m["protocol"], m["command"])
	}
	payload, ok := m["payload"]
	if !ok {
		return fmt.Errorf("%s:%s: no payload", protocol, command)
	}
	return check(s, payload, protocol+":"+command+" payload")
}

func check(s *gojsonschema.Schema, payload any, what string) error {
	return checkLoaded(s, gojsonschema.NewGoLoader(payload), what)
}

func checkLoaded(s *gojsonschema.Schema, doc gojsonschema.JSONLoader, what string) error {
	res, err := s.Validate(doc)
	if err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	if res.Valid() {
		return nil
	}
	var msgs []string
	for _, e := range res.Errors() {
		field := e.Field()
		if field == "(root)" {
			msgs = append(msgs, e.Description())
			continue
		}
		msgs = append(msgs, field+": "+e.Description())
	}
	sort.Strings(msgs)
	return fmt.Errorf("%s: %s", what, strings.Join(msgs, "; "))
}

// CapabilityMessages lists the messages a capability lets a client send
// (inputs) and receive (outputs), as "protocol:command".
func (v *Validator) CapabilityMessages(capability string) (inputs, outputs []string) {
	c := v.caps[capability]
	return c.Inputs, c.Outputs
}
