package graph

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustAddNode(t *testing.T, g *Graph, id, comp string) {
	t.Helper()
	if _, err := g.AddNode(id, comp, nil); err != nil {
		t.Fatalf("AddNode(%s): %v", id, err)
	}
}

func ep(node, port string) Endpoint { return Endpoint{Node: node, Port: port} }

func chain(t *testing.T) *Graph {
	t.Helper()
	g := New("g")
	mustAddNode(t, g, "a", "core/Repeat")
	mustAddNode(t, g, "b", "core/Repeat")
	mustAddNode(t, g, "c", "core/Drop")
	if _, err := g.AddEdge(ep("a", "out"), ep("b", "in"), Metadata{"route": 1.0}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddEdge(ep("b", "out"), ep("c", "in"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddInitial(json.RawMessage(`"hello"`), ep("a", "in"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddExported(In, "IN", "a", "in", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddExported(Out, "OUT", "b", "out", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddGroup("grp", []string{"a", "b"}, Metadata{"description": "x"}); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestMetadataMerge(t *testing.T) {
	cases := []struct {
		name          string
		base, changes Metadata
		want          Metadata
	}{
		{"into nil", nil, Metadata{"sort": 1.0}, Metadata{"sort": 1.0}},
		{"adds keys", Metadata{"sort": 1.0}, Metadata{"tag": "awesome"}, Metadata{"sort": 1.0, "tag": "awesome"}},
		{"empty changes nothing", Metadata{"sort": 1.0}, Metadata{}, Metadata{"sort": 1.0}},
		{"null deletes", Metadata{"sort": 1.0, "tag": "x"}, Metadata{"sort": nil, "tag": nil}, Metadata{}},
		{"replaces", Metadata{"x": 1.0}, Metadata{"x": 2.0}, Metadata{"x": 2.0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.base.Merge(c.changes)
			if got == nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestRemoveNodeTakesEverythingAttached(t *testing.T) {
	g := chain(t)
	r, err := g.RemoveNode("b")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Edges) != 2 || len(r.Outports) != 1 || len(r.IIPs) != 0 {
		t.Fatalf("removed %d edges, %d outports, %d iips; want 2, 1, 0", len(r.Edges), len(r.Outports), len(r.IIPs))
	}
	if len(g.Edges) != 0 || len(g.Outports) != 0 || g.Node("b") != nil {
		t.Fatalf("graph still has b's things: %+v", g)
	}
	if !reflect.DeepEqual(g.Group("grp").Nodes, []string{"a"}) {
		t.Fatalf("group nodes %v, want [a]", g.Group("grp").Nodes)
	}
	r, err = g.RemoveNode("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.IIPs) != 1 || len(r.Inports) != 1 {
		t.Fatalf("removing a took %d iips, %d inports; want 1, 1", len(r.IIPs), len(r.Inports))
	}
}

func TestRenameNodeMovesReferences(t *testing.T) {
	g := chain(t)
	if err := g.RenameNode("a", "first"); err != nil {
		t.Fatal(err)
	}
	if g.Edges[0].Src.Node != "first" || g.IIPs[0].Tgt.Node != "first" || g.Inports[0].Node != "first" || g.Group("grp").Nodes[0] != "first" {
		t.Fatalf("references not renamed: edge %v iip %v inport %v group %v", g.Edges[0].Src, g.IIPs[0].Tgt, g.Inports[0], g.Group("grp").Nodes)
	}
	if err := g.RenameNode("first", "b"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto existing node: got %v, want ErrExists", err)
	}
}

func TestErrors(t *testing.T) {
	g := chain(t)
	cases := []struct {
		name string
		err  error
		kind error
		text string
	}{
		{"duplicate node", second(g.AddNode("a", "x", nil)), ErrExists, "Node a already exists in graph g"},
		{"missing node", second(g.RemoveNode("zz")), ErrNodeNotFound, "Node zz not found in graph g"},
		{"edge to missing node", second(g.AddEdge(ep("a", "out"), ep("zz", "in"), nil)), ErrNodeNotFound, "Node zz not found in graph g"},
		{"missing edge", second(g.RemoveEdge(ep("a", "out"), ep("c", "in"))), ErrEdgeNotFound, "Edge a.out -> c.in not found in graph g"},
		{"missing iip", second(g.RemoveInitial(ep("b", "in"))), ErrIIPNotFound, "No initial packet to b.in in graph g"},
		{"missing export", second(g.RemoveExported(In, "nope")), ErrPortNotFound, "Exported inport nope not found in graph g"},
		{"missing group", g.RemoveGroup("nope"), ErrGroupNotFound, "Group nope not found in graph g"},
		{"empty node id", second(g.AddNode("", "x", nil)), ErrInvalid, "Node id must not be empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !errors.Is(c.err, c.kind) {
				t.Fatalf("got %v, want kind %v", c.err, c.kind)
			}
			if c.err.Error() != c.text {
				t.Fatalf("text %q, want %q", c.err.Error(), c.text)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestEdgeAndIIPIDs(t *testing.T) {
	e := Edge{Src: ep("Hello", "out"), Tgt: ep("World", "in")}
	if got := e.ID(); got != "Hello() OUT -> IN World()" {
		t.Fatalf("edge id %q", got)
	}
	i := IIP{Tgt: ep("Hello", "in")}
	if got := i.ID(); got != "DATA -> IN Hello()" {
		t.Fatalf("iip id %q", got)
	}
}

func TestJSONRoundTripAndDeterminism(t *testing.T) {
	g := chain(t)
	g.Name = "chain"
	g.Properties = map[string]any{"environment": map[string]any{"type": "msgflo"}}
	if _, err := g.AddInitial(json.RawMessage(`{"n":1}`), ep("b", "in"), Metadata{}); err != nil {
		t.Fatal(err)
	}
	first, err := g.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Graph
	if err := json.Unmarshal(first, &back); err != nil {
		t.Fatalf("read back: %v\n%s", err, first)
	}
	second, err := back.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Fatalf("round trip changed the file:\n%s\n---\n%s", first, second)
	}
	if len(back.Nodes) != 3 || len(back.Edges) != 2 || len(back.IIPs) != 2 || len(back.Inports) != 1 || len(back.Outports) != 1 || len(back.Groups) != 1 {
		t.Fatalf("lost something: %+v", back)
	}
	// The same graph built in another order gives the same file.
	h := New("g")
	mustAddNode(t, h, "c", "core/Drop")
	mustAddNode(t, h, "b", "core/Repeat")
	mustAddNode(t, h, "a", "core/Repeat")
	h.Properties = g.Properties
	h.Name = "chain"
	must := func(_ any, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.AddExported(Out, "OUT", "b", "out", nil))
	must(h.AddExported(In, "IN", "a", "in", nil))
	must(h.AddInitial(json.RawMessage(`{"n":1}`), ep("b", "in"), Metadata{}))
	must(h.AddInitial(json.RawMessage(`"hello"`), ep("a", "in"), nil))
	must(h.AddEdge(ep("b", "out"), ep("c", "in"), nil))
	must(h.AddEdge(ep("a", "out"), ep("b", "in"), Metadata{"route": 1.0}))
	must(h.AddGroup("grp", []string{"a", "b"}, Metadata{"description": "x"}))
	other, err := h.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(other) != string(first) {
		t.Fatalf("insertion order leaked into the file:\n%s\n---\n%s", first, other)
	}
}

func TestUnmarshalRejectsBrokenGraphs(t *testing.T) {
	cases := map[string]struct{ text, want string }{
		"not json":          {`{`, "unexpected end of JSON input"},
		"edge to nowhere":   {`{"processes":{"a":{"component":"x"}},"connections":[{"src":{"process":"a","port":"out"},"tgt":{"process":"b","port":"in"}}]}`, "read JSON graph: connection 0: "},
		"connection no tgt": {`{"processes":{"a":{"component":"x"}},"connections":[{"data":1}]}`, "read JSON graph: connection 0 has no tgt"},
		"bad connection":    {`{"processes":{"a":{"component":"x"}},"connections":[{"data":1,"tgt":{"process":"a","port":"in"}},{"src":5}]}`, "read JSON graph: connection 1: json: cannot unmarshal"},
		"process no comp":   {`{"processes":{"a":{}}}`, `read JSON graph: process "a": `},
		"bad process":       {`{"processes":{"a":[]}}`, `read JSON graph: process "a": json: cannot unmarshal`},
		"export of no node": {`{"inports":{"IN":{"process":"zz","port":"in"}}}`, `read JSON graph: inport "IN": `},
		"neither src/data":  {`{"processes":{"a":{"component":"x"}},"connections":[{"tgt":{"process":"a","port":"in"}}]}`, "read JSON graph: connection 0 has neither src nor data"},
		"group of no node":  {`{"groups":[{"name":"g","nodes":["zz"]}]}`, `read JSON graph: group "g": `},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var g Graph
			err := json.Unmarshal([]byte(tc.text), &g)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: %v, want an error saying %q", tc.text, err, tc.want)
			}
		})
	}
}
