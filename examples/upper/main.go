// Command upper is a Go participant: it upper-cases the strings it
// receives. Run it against a broker and it announces itself; a runtime
// wires it like any msgflo participant:
//
//	MSGFLO_BROKER=mqtt://127.0.0.1:1883 go run ./examples/upper --role upper
//
// or list it in a component library (package.json):
//
//	"msgflo": {"components": {"examples/Upper": "go run ./examples/upper --role #ROLE"}}
package main

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/msgflo/msgflo-runtime/participant"
)

var upper = participant.Component{
	Name:        "examples/Upper",
	Label:       "Upper-cases text",
	Icon:        "font",
	Inports:     []participant.Port{{ID: "in", Type: "string", Description: "Text"}},
	Outports:    []participant.Port{{ID: "out", Type: "string", Description: "The text in upper case"}},
	Description: "Sends every string it receives, upper-cased",
	Process: func(_ context.Context, in participant.Input, out participant.Output) error {
		var s string
		if err := json.Unmarshal(in.Data, &s); err != nil {
			return err // not a string: nacked (dead-lettered on RabbitMQ)
		}
		return participant.SendValue(out, "out", strings.ToUpper(s))
	},
}

func main() { participant.Main(upper) }
