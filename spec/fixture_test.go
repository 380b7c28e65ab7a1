package spec

import (
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// An FBP fixture is uploaded as fbp-client uploads what fbp-graph loads:
// ports lower-cased, IIPs after the edges, exported ports last, an edge to
// a missing node and a repeated edge left out.
func TestUploadCommands(t *testing.T) {
	s := &Suite{Fixture: &Fixture{Type: "fbp", Data: `# @runtime msgflo
INPORT=a.IN:INPUT
OUTPORT=b.OUT:OUT
'5' -> DELAY a(core/Delay) OUT -> IN b(core/Repeat)
a OUT -> IN b
`}}
	g, err := fixtureGraph(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := graphID(g)
	if !strings.HasPrefix(id, "fixture.") || len(id) != len("fixture.")+10 {
		t.Fatalf("graph id %q", id)
	}
	cmds, err := uploadCommands(g, id, "ns")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		p := c.payload
		if _, has := p.Get("graph"); has {
			p.Set("graph", "G")
		}
		if c.command == "clear" {
			p.Set("id", "G")
			p.Set("name", "G")
		}
		got = append(got, c.command+" "+show(p))
	}
	want := []string{
		`clear {"id":"G","name":"G","main":false,"library":"ns","icon":"","description":""}`,
		`addnode {"id":"a","component":"core/Delay","metadata":{},"graph":"G"}`,
		`addnode {"id":"b","component":"core/Repeat","metadata":{},"graph":"G"}`,
		`addedge {"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"metadata":{},"graph":"G"}`,
		`addinitial {"src":{"data":"5"},"tgt":{"node":"a","port":"delay"},"metadata":{},"graph":"G"}`,
		`addinport {"public":"input","node":"a","port":"in","graph":"G"}`,
		`addoutport {"public":"out","node":"b","port":"out","graph":"G"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFixtureGraphs(t *testing.T) {
	comps := map[string]component{
		"x/Both": {Name: "x/Both", InPorts: []wire.PortDef{{ID: "in"}}, OutPorts: []wire.PortDef{{ID: "out"}}},
		"x/Sink": {Name: "x/Sink", InPorts: []wire.PortDef{{ID: "in"}}},
	}
	g, err := fixtureGraph(&Suite{Topic: "x/Both"}, comps)
	if err != nil || show(g) != `{"properties":{},"inports":{"in":{"process":"testee","port":"in"}},"outports":{"out":{"process":"testee","port":"out"}},"processes":{"testee":{"component":"x/Both"}},"connections":[]}` {
		t.Fatalf("synthesized: %s %v", show(g), err)
	}
	for _, s := range []*Suite{
		{Topic: "x/Sink"},
		{Topic: "x/Missing"},
		{Fixture: &Fixture{Type: "json", Data: "{"}},
		{Fixture: &Fixture{Type: "fbp", Data: "a(x) -> -> b"}},
		{Fixture: &Fixture{Type: "yaml", Data: "a: 1"}},
	} {
		if _, err := fixtureGraph(s, comps); err == nil {
			t.Errorf("fixture %+v %+v: no error", s, s.Fixture)
		}
	}
	g, err = fixtureGraph(&Suite{Fixture: &Fixture{Type: "json", Data: `{"properties":{"name":"named"},"caseSensitive":true,"processes":{"p":{"component":"c"}},"inports":{"IN":{"process":"p","port":"IN"}}}`}}, nil)
	if err != nil || graphID(g) != "named" {
		t.Fatalf("named JSON fixture: %v %v", g, err)
	}
	cmds, _ := uploadCommands(g, "named", nil)
	if last := show(cmds[len(cmds)-1].payload); last != `{"public":"IN","node":"p","port":"IN","graph":"named"}` {
		t.Errorf("a case-sensitive graph keeps its port names: %s", last)
	}
	if _, hasLib := cmds[0].payload.Get("library"); hasLib {
		t.Errorf("no namespace: clear has a library: %s", show(cmds[0].payload))
	}
}
