package runtime

import (
	"encoding/json"
	"testing"

	"github.com/msgflo/msgflo-runtime/network"
)

// What clients see of a component: the description (else the label),
// visible ports only, type "all" when none was announced.
func TestComponentPayload(t *testing.T) {
	c := &component{
		name: "ext/Thing", label: "A thing", icon: "cog",
		inports:  []network.Port{{ID: "in", Type: "string", Description: "text"}, {ID: "secret", Hidden: true}},
		outports: []network.Port{{ID: "out"}},
	}
	got, _ := json.Marshal(c.payload())
	want := `{"name":"ext/Thing","description":"A thing","icon":"cog","subgraph":false,"inPorts":[{"id":"in","type":"string","description":"text","addressable":false,"required":false}],"outPorts":[{"id":"out","type":"all","addressable":false,"required":false}]}`
	if string(got) != want {
		t.Fatalf("payload\n%s\nwant\n%s", got, want)
	}
	c.description = "Does things"
	if p := c.payload(); p.Description != "Does things" {
		t.Fatalf("description %q", p.Description)
	}
}

// A component's ports are known only once it is built in or discovered;
// port names match case-insensitively, inports and outports apart.
func TestComponentHasPort(t *testing.T) {
	c := &component{name: "ext/X", inports: []network.Port{{ID: "In"}}, outports: []network.Port{{ID: "out"}}}
	if has, ok := c.hasPort(false, "in"); has || ok {
		t.Fatalf("unknown component: has %v ok %v", has, ok)
	}
	c.discovered = &network.Definition{ID: "x-1"}
	for _, tc := range []struct {
		out     bool
		port    string
		has, ok bool
	}{
		{false, "in", true, true},
		{false, "IN", true, true},
		{true, "out", true, true},
		{true, "in", false, true},
		{false, "out", false, true},
	} {
		if has, ok := c.hasPort(tc.out, tc.port); has != tc.has || ok != tc.ok {
			t.Errorf("hasPort(%v, %q) = %v, %v; want %v, %v", tc.out, tc.port, has, ok, tc.has, tc.ok)
		}
	}
}

func TestSplitName(t *testing.T) {
	for in, want := range map[string][2]string{
		"lib/Name": {"lib", "Name"},
		"a/b/Name": {"a/b", "Name"},
		"Name":     {"", "Name"},
		"/Name":    {"", "Name"},
	} {
		if l, n := splitName(in); l != want[0] || n != want[1] {
			t.Errorf("splitName(%q) = %q, %q", in, l, n)
		}
	}
}
