package runtime

import (
	"testing"

	"github.com/msgflo/msgflo-runtime/network"
)

// A discovered component's source is its definition in msgflo's YAML form
// for foreign participants: quoted scalars, ports as a map, type "all" when
// none is given, hidden only when set, description only when it says more
// than the label, empty port lists as {}.
func TestDefinitionYAML(t *testing.T) {
	c := &component{
		name: "ext/Mailer", label: "Sends mail", description: "Sends mail: \"quoted\"", icon: "envelope",
		inports: []network.Port{
			{ID: "in", Type: "object", Description: "mails", Queue: "mail.IN"},
			{ID: "#ctl", Queue: "mail.CTL", Hidden: true},
		},
	}
	want := `component: "ext/Mailer"
label: "Sends mail"
icon: "envelope"
description: "Sends mail: \"quoted\""
inports:
  "in":
    type: "object"
    description: "mails"
    queue: "mail.IN"
  "#ctl":
    type: "all"
    queue: "mail.CTL"
    hidden: true
outports: {}
`
	if got := c.definitionYAML(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	plain := &component{name: "a/B", label: "same", description: "same", outports: []network.Port{{ID: "out", Type: "string"}}}
	want = `component: "a/B"
label: "same"
inports: {}
outports:
  "out":
    type: "string"
`
	if got := plain.definitionYAML(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
