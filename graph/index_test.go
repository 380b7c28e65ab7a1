package graph

import (
	"encoding/json"
	"strings"
	"testing"
)

// The lookups by index must answer as a walk over the slices does, after
// every kind of edit.

func linearNode(g *Graph, id string) *Node {
	for _, n := range g.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

func linearEdge(g *Graph, src, tgt Endpoint) *Edge {
	for _, e := range g.Edges {
		if e.Src.Same(src) && e.Tgt.Same(tgt) {
			return e
		}
	}
	return nil
}

// checkIndex compares every indexed lookup with a walk over the slices,
// for the graph's own nodes and edges and for probes (ids and endpoints
// that may be gone).
func checkIndex(t *testing.T, g *Graph, probeIDs []string, probeEdges [][2]Endpoint) {
	t.Helper()
	ids := append([]string(nil), probeIDs...)
	for _, n := range g.Nodes {
		ids = append(ids, n.ID)
	}
	roles := g.Roles() // computed from the slice alone
	for _, id := range ids {
		if got, want := g.Node(id), linearNode(g, id); got != want {
			t.Errorf("Node(%q) = %v, want %v", id, got, want)
		}
		role, ok := g.RoleOf(id)
		want, wantOK := roles[id]
		if role != want || ok != wantOK {
			t.Errorf("RoleOf(%q) = %q, %v; want %q, %v", id, role, ok, want, wantOK)
		}
	}
	probeRoles := []string{}
	for _, id := range ids {
		probeRoles = append(probeRoles, id, EscapeRole(id), EscapeRole(id)+"_"+roleHash(id))
	}
	for _, role := range probeRoles {
		want := false
		for _, r := range roles {
			if r == role {
				want = true
			}
		}
		if got := g.HasRole(role); got != want {
			t.Errorf("HasRole(%q) = %v, want %v", role, got, want)
		}
	}
	counts := map[string]int{}
	for _, n := range g.Nodes {
		counts[n.Component]++
	}
	comps := g.Components()
	if len(comps) != len(counts) {
		t.Errorf("Components() = %v, want the keys of %v", comps, counts)
	}
	for _, c := range comps {
		if counts[c] == 0 {
			t.Errorf("Components() has %q, which no node has", c)
		}
	}
	probes := append([][2]Endpoint(nil), probeEdges...)
	for _, e := range g.Edges {
		probes = append(probes, [2]Endpoint{e.Src, e.Tgt})
	}
	for _, p := range probes {
		if got, want := g.Edge(p[0], p[1]), linearEdge(g, p[0], p[1]); got != want {
			t.Errorf("Edge(%s, %s) = %v, want %v", p[0], p[1], got, want)
		}
	}
}

func TestIndexFollowsEdits(t *testing.T) {
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	add := func(t *testing.T, g *Graph, ids ...string) {
		t.Helper()
		for _, id := range ids {
			mustAddNode(t, g, id, "comp/"+strings.ToUpper(id[:1]))
		}
	}
	edge := func(t *testing.T, g *Graph, src, tgt Endpoint) {
		t.Helper()
		_, err := g.AddEdge(src, tgt, nil)
		must(t, err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(t *testing.T, g *Graph)
		ids    []string
		edges  [][2]Endpoint
		nodes  int // nodes after the edit
		nEdges int // edges after the edit
	}{
		{"rename moves lookups and edges to the new id", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			edge(t, g, ep("a", "out"), ep("b", "in"))
			must(t, g.RenameNode("a", "x"))
		}, []string{"a", "x"}, [][2]Endpoint{{ep("a", "out"), ep("b", "in")}, {ep("x", "out"), ep("b", "in")}}, 2, 1},
		{"rename back and forth", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			edge(t, g, ep("b", "out"), ep("a", "in"))
			must(t, g.RenameNode("a", "x"))
			must(t, g.RenameNode("x", "a"))
			edge(t, g, ep("a", "out"), ep("b", "in"))
		}, []string{"x"}, [][2]Endpoint{{ep("b", "out"), ep("x", "in")}}, 2, 2},
		{"remove takes node and edges", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b", "c")
			edge(t, g, ep("a", "out"), ep("b", "in"))
			edge(t, g, ep("b", "out"), ep("c", "in"))
			_, err := g.RemoveNode("b")
			must(t, err)
		}, []string{"b"}, [][2]Endpoint{{ep("a", "out"), ep("b", "in")}, {ep("b", "out"), ep("c", "in")}}, 2, 0},
		{"re-add after remove starts without edges", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			edge(t, g, ep("a", "out"), ep("b", "in"))
			_, err := g.RemoveNode("b")
			must(t, err)
			add(t, g, "b")
		}, nil, [][2]Endpoint{{ep("a", "out"), ep("b", "in")}}, 2, 0},
		{"re-added edge found again", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			edge(t, g, ep("a", "out"), ep("b", "in"))
			_, err := g.RemoveEdge(ep("a", "out"), ep("b", "in"))
			must(t, err)
			edge(t, g, ep("a", "out"), ep("b", "in"))
		}, nil, nil, 2, 1},
		{"ports match whatever their case", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			edge(t, g, ep("a", "OUT"), ep("b", "In"))
			edge(t, g, ep("a", "out"), ep("b", "in")) // the same edge
		}, nil, [][2]Endpoint{{ep("a", "out"), ep("b", "IN")}, {ep("a", "Out"), ep("b", "other")}}, 2, 1},
		{"remove an edge named in another case", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			edge(t, g, ep("a", "OUT"), ep("b", "IN"))
			edge(t, g, ep("a", "err"), ep("b", "in"))
			_, err := g.RemoveEdge(ep("a", "out"), ep("b", "in"))
			must(t, err)
		}, nil, [][2]Endpoint{{ep("a", "OUT"), ep("b", "IN")}}, 2, 1},
		{"addressable ports", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			edge(t, g, Endpoint{Node: "a", Port: "out", Index: 0.0}, ep("b", "in"))
			edge(t, g, Endpoint{Node: "a", Port: "out", Index: 1.0}, ep("b", "in"))
		}, nil, [][2]Endpoint{{Endpoint{Node: "a", Port: "out", Index: "1"}, ep("b", "in")}, {Endpoint{Node: "a", Port: "out", Index: 2.0}, ep("b", "in")}}, 2, 2},
		{"edges between the same nodes in both directions", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			edge(t, g, ep("a", "out"), ep("b", "in"))
			edge(t, g, ep("b", "out"), ep("a", "in"))
			_, err := g.RemoveEdge(ep("b", "out"), ep("a", "in"))
			must(t, err)
		}, nil, [][2]Endpoint{{ep("b", "out"), ep("a", "in")}}, 2, 1},
		{"escapes that meet get hashes, lose them when one goes", func(t *testing.T, g *Graph) {
			add(t, g, "a/b", "a+b", "c")
			if r, _ := g.RoleOf("a/b"); r == "a_b" {
				t.Errorf("role of a/b beside a+b is %q, want a hash", r)
			}
			_, err := g.RemoveNode("a+b")
			must(t, err)
		}, []string{"a+b"}, nil, 2, 0},
		{"rename into and out of a colliding escape", func(t *testing.T, g *Graph) {
			add(t, g, "a/b", "c")
			must(t, g.RenameNode("c", "a_b"))
			if r, _ := g.RoleOf("a/b"); r == "a_b" {
				t.Errorf("role of a/b beside a_b is %q, want a hash", r)
			}
			must(t, g.RenameNode("a_b", "d"))
		}, []string{"c", "a_b"}, nil, 2, 0},
		{"node ids differing in case are different nodes", func(t *testing.T, g *Graph) {
			add(t, g, "a", "A")
			edge(t, g, ep("a", "out"), ep("A", "in"))
			_, err := g.RemoveNode("A")
			must(t, err)
		}, []string{"A"}, [][2]Endpoint{{ep("a", "out"), ep("A", "in")}}, 1, 0},
		{"escapes meet", func(t *testing.T, g *Graph) {
			add(t, g, "a/b", "a+b", "a_b", "b")
			must(t, g.RenameNode("b", "a#b"))
		}, []string{"b"}, nil, 4, 0},
		{"long ids", func(t *testing.T, g *Graph) {
			long := strings.Repeat("x", 300)
			add(t, g, long+"/1", long+"+1", long)
		}, nil, nil, 3, 0},
		{"last node of a component", func(t *testing.T, g *Graph) {
			add(t, g, "a", "b")
			_, err := g.RemoveNode("b")
			must(t, err)
		}, []string{"b"}, nil, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New("g")
			tc.edit(t, g)
			if len(g.Nodes) != tc.nodes || len(g.Edges) != tc.nEdges {
				t.Fatalf("%d nodes, %d edges; want %d, %d", len(g.Nodes), len(g.Edges), tc.nodes, tc.nEdges)
			}
			checkInvariants(t, g)
			checkIndex(t, g, tc.ids, tc.edges)
		})
	}
}

// A graph whose slices were filled directly (a literal) or decoded from a
// file answers lookups too, and keeps answering through later edits.
func TestIndexOfBuiltGraphs(t *testing.T) {
	lit := &Graph{ID: "g", Nodes: []*Node{{ID: "a", Component: "c"}, {ID: "b", Component: "c"}}}
	lit.Edges = []*Edge{{Src: ep("a", "out"), Tgt: ep("b", "in")}}
	checkIndex(t, lit, []string{"x"}, nil)
	if lit.Node("a") == nil || lit.Edge(ep("a", "OUT"), ep("b", "IN")) == nil {
		t.Fatal("literal graph: lookups miss")
	}
	// Slices changed behind the index's back.
	lit.Nodes = append(lit.Nodes, &Node{ID: "c", Component: "d"})
	lit.Edges = append(lit.Edges, &Edge{Src: ep("b", "out"), Tgt: ep("c", "in")})
	checkIndex(t, lit, nil, nil)

	var g Graph
	data := `{"processes":{"a":{"component":"x"},"b/c":{"component":"y"}},"connections":[{"src":{"process":"a","port":"out"},"tgt":{"process":"b/c","port":"in"}}]}`
	if err := json.Unmarshal([]byte(data), &g); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, &g, nil, nil)
	if err := g.RenameNode("b/c", "d"); err != nil {
		t.Fatal(err)
	}
	mustAddNode(t, &g, "b/c", "z")
	checkIndex(t, &g, nil, [][2]Endpoint{{ep("a", "out"), ep("b/c", "in")}})
	if g.Edge(ep("a", "out"), ep("d", "in")) == nil {
		t.Error("edge did not follow the rename")
	}
}

// checkInvariants checks that the edits kept the indexes in step with the
// slices themselves (a lookup would rebuild an index that lost count, and
// hide the miss).
func checkInvariants(t *testing.T, g *Graph) {
	t.Helper()
	x := g.index
	if x == nil {
		t.Fatal("no node index after edits")
	}
	fresh := (&Graph{Nodes: g.Nodes}).idx()
	if len(x.nodes) != len(fresh.nodes) {
		t.Errorf("node index has %d ids, the graph %d", len(x.nodes), len(fresh.nodes))
	}
	for id, n := range fresh.nodes {
		if x.nodes[id] != n {
			t.Errorf("node index: %q -> %v, want %v", id, x.nodes[id], n)
		}
	}
	asSet := func(ids []string) map[string]bool {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	if len(x.byEsc) != len(fresh.byEsc) {
		t.Errorf("escape index has %d keys, want %d", len(x.byEsc), len(fresh.byEsc))
	}
	for e, ids := range fresh.byEsc {
		if got, want := asSet(x.byEsc[e]), asSet(ids); len(got) != len(want) || len(x.byEsc[e]) != len(ids) {
			t.Errorf("escape index: %q -> %v, want %v", e, x.byEsc[e], ids)
		} else {
			for id := range want {
				if !got[id] {
					t.Errorf("escape index: %q -> %v, want %v", e, x.byEsc[e], ids)
				}
			}
		}
	}
	if len(x.components) != len(fresh.components) {
		t.Errorf("component counts %v, want %v", x.components, fresh.components)
	}
	for c, n := range fresh.components {
		if x.components[c] != n {
			t.Errorf("component counts %v, want %v", x.components, fresh.components)
		}
	}
	if g.edges == nil {
		return // dropped by design; rebuilt on the next lookup
	}
	fe := (&Graph{Edges: g.Edges}).edgeIdx()
	if g.edges.count != fe.count || len(g.edges.byNodes) != len(fe.byNodes) {
		t.Errorf("edge index: %d edges under %d pairs, want %d under %d", g.edges.count, len(g.edges.byNodes), fe.count, len(fe.byNodes))
	}
	for k, list := range fe.byNodes {
		got := g.edges.byNodes[k]
		if len(got) != len(list) {
			t.Errorf("edge index: %v -> %d edges, want %d", k, len(got), len(list))
			continue
		}
		for i := range list {
			if got[i] != list[i] {
				t.Errorf("edge index: %v in another order than the graph's", k)
			}
		}
	}
}
