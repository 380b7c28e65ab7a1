package protocol

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/xeipuuv/gojsonschema"
)

//go:embed schemas/*.json
var schemaFiles embed.FS

// subProtocols are the FBP sub-protocols with a schema file each.
var subProtocols = []string{"runtime", "graph", "component", "network", "trace"}

// Validator checks message payloads against the schemas in schemas/.
type Validator struct {
	inputs  map[string]*gojsonschema.Schema // "protocol:command"
	outputs map[string]*gojsonschema.Schema
	caps    map[string]capabilityMessages
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

// NewValidator compiles the embedded schemas.
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
	v := &Validator{inputs: map[string]*gojsonschema.Schema{}, outputs: map[string]*gojsonschema.Schema{}, caps: shared.Capabilities}
	for _, p := range subProtocols {
		var f protocolFile
		if err := readSchemaFile(p+".json", &f); err != nil {
			return nil, err
		}
		for dir, msgs := range map[string]map[string]map[string]any{"input": f.Input, "output": f.Output} {
			for cmd, doc := range msgs {
				doc["definitions"] = defs
				doc["$schema"] = "http://json-schema.org/draft-04/schema#"
				s, err := gojsonschema.NewSchema(gojsonschema.NewGoLoader(doc))
				if err != nil {
					return nil, fmt.Errorf("schemas/%s.json: %s %s: %w", p, dir, cmd, err)
				}
				if dir == "input" {
					v.inputs[p+":"+cmd] = s
				} else {
					v.outputs[p+":"+cmd] = s
				}
			}
		}
	}
	return v, nil
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
	_, ok := v.inputs[protocol+":"+command]
	return ok
}

// ValidateInput checks the payload of a client message (msg is the whole
// decoded message; a missing payload counts as {}). Extra keys are allowed,
// as clients of several protocol versions send them.
func (v *Validator) ValidateInput(protocol, command string, msg any) error {
	s, ok := v.inputs[protocol+":"+command]
	if !ok {
		return fmt.Errorf("Unknown command %q for protocol %q", command, protocol)
	}
	payload := any(map[string]any{})
	if m, ok := msg.(map[string]any); ok {
		if p, ok := m["payload"]; ok {
			payload = p
		}
	}
	return check(s, payload, "Invalid "+protocol+":"+command+" payload")
}

// ValidateOutput checks a whole message the runtime sends: the envelope has
// exactly protocol, command and payload, and the payload matches the output
// schema strictly.
func (v *Validator) ValidateOutput(protocol, command string, msg any) error {
	s, ok := v.outputs[protocol+":"+command]
	if !ok {
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
	res, err := s.Validate(gojsonschema.NewGoLoader(payload))
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
