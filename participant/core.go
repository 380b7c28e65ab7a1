package participant

import (
	"context"
	"sort"

	"github.com/rs/zerolog"
)

// CoreComponents are the components every runtime has built in.
func CoreComponents() []Component {
	return []Component{
		{
			Name:        "core/Repeat",
			Label:       "Repeats the data it receives",
			Description: "Sends every message it receives on in, unchanged, to out",
			Icon:        "forward",
			Inports:     []Port{{ID: "in", Type: "any", Description: "Data to repeat"}},
			Outports:    []Port{{ID: "out", Type: "any", Description: "The same data"}},
			Process: func(_ context.Context, in Input, out Output) error {
				return out.Send("out", in.Data)
			},
		},
		{
			Name:        "core/Drop",
			Label:       "Drops the data it receives",
			Description: "Acknowledges and forgets every message",
			Icon:        "trash-o",
			Inports:     []Port{{ID: "in", Type: "any", Description: "Data to drop"}},
			Outports:    []Port{},
			Process:     func(context.Context, Input, Output) error { return nil },
		},
		{
			Name:        "core/Output",
			Label:       "Logs the data it receives and passes it on",
			Description: "Writes every message to the log, then sends it to out",
			Icon:        "terminal",
			Inports:     []Port{{ID: "in", Type: "any", Description: "Data to log"}},
			Outports:    []Port{{ID: "out", Type: "any", Description: "The same data"}},
			Process: func(ctx context.Context, in Input, out Output) error {
				zerolog.Ctx(ctx).Info().RawJSON("data", in.Data).Msg("output")
				return out.Send("out", in.Data)
			},
		},
	}
}

// LookupCore finds a core component by name.
func LookupCore(name string) (Component, bool) {
	for _, c := range CoreComponents() {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// CoreNames lists the core components' names, sorted.
func CoreNames() []string {
	var out []string
	for _, c := range CoreComponents() {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}
