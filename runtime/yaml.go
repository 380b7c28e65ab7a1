package runtime

import (
	"encoding/json"
	"strings"

	"github.com/msgflo/msgflo-runtime/network"
)

// definitionYAML renders a component's definition in the YAML form msgflo
// uses for foreign participants (ports as a map from id to queue and type),
// so the text can be given back to `register`.
func (c *component) definitionYAML() string {
	var b strings.Builder
	field := func(indent, key, val string) {
		if val == "" {
			return
		}
		b.WriteString(indent + key + ": " + yamlString(val) + "\n")
	}
	field("", "component", c.name)
	field("", "label", c.label)
	field("", "icon", c.icon)
	if c.description != "" && c.description != c.label {
		field("", "description", c.description)
	}
	ports := func(key string, list []network.Port) {
		if len(list) == 0 {
			b.WriteString(key + ": {}\n")
			return
		}
		b.WriteString(key + ":\n")
		for _, p := range list {
			b.WriteString("  " + yamlString(p.ID) + ":\n")
			typ := p.Type
			if typ == "" {
				typ = "all"
			}
			field("    ", "type", typ)
			field("    ", "description", p.Description)
			field("    ", "queue", p.Queue)
			if p.Hidden {
				b.WriteString("    hidden: true\n")
			}
		}
	}
	ports("inports", c.inports)
	ports("outports", c.outports)
	return b.String()
}

// yamlString quotes s as a YAML double-quoted scalar (JSON string syntax is
// valid YAML).
func yamlString(s string) string {
	out, err := json.Marshal(s)
	if err != nil {
		return `""`
	}
	return string(out)
}
