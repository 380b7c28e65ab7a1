package participant_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/participant"
)

// What a participant announces follows from its component: queue names
// ROLE.PORT (or the port's own), type "any" by default, the description
// as label when there is no label; Definition hands out a copy.
func TestDefinitionFromComponent(t *testing.T) {
	b := broker(t)
	c := participant.Component{
		Name:        "test/Thing",
		Description: "does things",
		Icon:        "cog",
		Inports:     []participant.Port{{ID: "in", Type: "string", Description: "text", Hidden: true}, {ID: "cfg", Queue: "custom.config"}},
		Outports:    []participant.Port{{ID: "out"}},
		Process:     func(context.Context, participant.Input, participant.Output) error { return nil },
	}
	p, err := participant.New(b, c, "thing", participant.Options{ID: "thing-7"})
	must(t, err)
	d := p.Definition()
	if d.ID != "thing-7" || d.Role != "thing" || d.Component != "test/Thing" || d.Label != "does things" || d.Icon != "cog" {
		t.Fatalf("definition %+v", d)
	}
	in, cfg, out := d.Inports[0], d.Inports[1], d.Outports[0]
	if in.Queue != "thing.IN" || in.Type != "string" || in.Description != "text" || !in.Hidden {
		t.Fatalf("inport %+v", in)
	}
	if cfg.Queue != "custom.config" || cfg.Type != "any" || cfg.Hidden {
		t.Fatalf("inport with its own queue %+v", cfg)
	}
	if out.Queue != "thing.OUT" || out.Type != "any" {
		t.Fatalf("outport %+v", out)
	}
	d.Inports[0].Queue = "changed"
	d.Outports[0].Queue = "changed"
	if again := p.Definition(); again.Inports[0].Queue != "thing.IN" || again.Outports[0].Queue != "thing.OUT" {
		t.Fatalf("Definition shares its slices: %+v", again)
	}
	c.Label = "Thing"
	p, err = participant.New(b, c, "thing", participant.Options{})
	must(t, err)
	if d := p.Definition(); d.Label != "Thing" || !strings.HasPrefix(d.ID, "thing-") {
		t.Fatalf("label and default id: %+v", d)
	}
}

func TestNewRejectsBadPorts(t *testing.T) {
	b := broker(t)
	proc := func(context.Context, participant.Input, participant.Output) error { return nil }
	for name, tc := range map[string]struct {
		c    participant.Component
		role string
		want string
	}{
		"empty inport id":   {participant.Component{Name: "a/B", Inports: []participant.Port{{ID: ""}}, Process: proc}, "r", "inport with an empty id"},
		"empty outport id":  {participant.Component{Name: "a/B", Outports: []participant.Port{{ID: ""}}}, "r", "outport with an empty id"},
		"duplicate outport": {participant.Component{Name: "a/B", Outports: []participant.Port{{ID: "out"}, {ID: "Out"}}}, "r", "two outports named Out"},
		"role with a space": {participant.Component{Name: "a/B"}, "a b", "may not contain"},
		"role with a slash": {participant.Component{Name: "a/B"}, "a/b", "may not contain"},
		"role with a plus":  {participant.Component{Name: "a/B"}, "a+", "may not contain"},
		"no broker":         {participant.Component{Name: "a/B"}, "", "no broker"},
	} {
		bk := b
		if name == "no broker" {
			bk = nil
		}
		if _, err := participant.New(bk, tc.c, tc.role, participant.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
	// The same id on an inport and an outport is fine.
	if _, err := participant.New(b, participant.Component{Name: "a/B", Inports: []participant.Port{{ID: "x"}}, Outports: []participant.Port{{ID: "x"}}, Process: proc}, "r", participant.Options{}); err != nil {
		t.Fatalf("inport and outport x: %v", err)
	}
}

func TestSendToAPortThatDoesNotExist(t *testing.T) {
	b := broker(t)
	rep, _ := participant.LookupCore("core/Repeat")
	p, err := participant.New(b, rep, "rep", participant.Options{})
	must(t, err)
	if err := p.Send(context.Background(), "nope", json.RawMessage(`1`)); err == nil || !strings.Contains(err.Error(), "has no inport nope") {
		t.Fatalf("Send to an unknown inport: %v", err)
	}
}

func TestDiscoveryPeriodFromEnvRefusesNonPositive(t *testing.T) {
	for _, v := range []string{"0", "-5", ""} {
		t.Setenv("MSGFLO_DISCOVERY_PERIOD", v)
		if d := participant.DiscoveryPeriodFromEnv(); d != 0 {
			t.Errorf("MSGFLO_DISCOVERY_PERIOD=%q gave %s, want 0", v, d)
		}
	}
	t.Setenv("MSGFLO_DISCOVERY_PERIOD", "0.5")
	if d := participant.DiscoveryPeriodFromEnv(); d.Milliseconds() != 500 {
		t.Fatalf("0.5 s gave %s", d)
	}
}
