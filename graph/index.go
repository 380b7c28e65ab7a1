package graph

// index keeps lookups by node id and by role O(1) as graphs grow. It is
// kept in step by every method that changes nodes; a graph whose Nodes
// slice was built or changed directly (a literal, a decoder) gets it
// rebuilt on first use.
type index struct {
	nodes map[string]*Node
	// byEsc lists the ids of the nodes whose id escapes (EscapeRole) to
	// the key; more than one means their roles carry a hash.
	byEsc map[string][]string
	// components counts the nodes of each component.
	components map[string]int
}

func (g *Graph) idx() *index {
	if g.index != nil && len(g.index.nodes) == len(g.Nodes) {
		return g.index
	}
	x := &index{
		nodes:      make(map[string]*Node, len(g.Nodes)),
		byEsc:      make(map[string][]string, len(g.Nodes)),
		components: map[string]int{},
	}
	for _, n := range g.Nodes {
		x.add(n)
	}
	g.index = x
	return x
}

func (x *index) add(n *Node) {
	x.nodes[n.ID] = n
	e := EscapeRole(n.ID)
	x.byEsc[e] = append(x.byEsc[e], n.ID)
	x.components[n.Component]++
}

func (x *index) remove(n *Node) {
	delete(x.nodes, n.ID)
	e := EscapeRole(n.ID)
	ids := x.byEsc[e]
	for k, id := range ids {
		if id == n.ID {
			ids = append(ids[:k:k], ids[k+1:]...)
			break
		}
	}
	if len(ids) == 0 {
		delete(x.byEsc, e)
	} else {
		x.byEsc[e] = ids
	}
	if x.components[n.Component]--; x.components[n.Component] <= 0 {
		delete(x.components, n.Component)
	}
}

// RoleOf is the role of node id (as Role), in constant time; ok is false
// when the graph has no such node.
func (g *Graph) RoleOf(id string) (role string, ok bool) {
	x := g.idx()
	if _, ok := x.nodes[id]; !ok {
		return "", false
	}
	e := EscapeRole(id)
	switch {
	case e == id:
		return id, true
	case len(x.byEsc[e]) > 1:
		return e + "_" + roleHash(id), true
	default:
		return e, true
	}
}

// HasRole reports whether some node of the graph has role role.
func (g *Graph) HasRole(role string) bool {
	x := g.idx()
	// The role is a node's escape itself, or an escape followed by "_"
	// and an 8-digit hash.
	for _, id := range x.byEsc[role] {
		if r, _ := g.RoleOf(id); r == role {
			return true
		}
	}
	if cut := len(role) - 9; cut > 0 && role[cut] == '_' {
		for _, id := range x.byEsc[role[:cut]] {
			if r, _ := g.RoleOf(id); r == role {
				return true
			}
		}
	}
	return false
}

// Components lists the distinct components of the graph's nodes (in no
// particular order).
func (g *Graph) Components() []string {
	x := g.idx()
	out := make([]string, 0, len(x.components))
	for c := range x.components {
		out = append(out, c)
	}
	return out
}

// nodePair is the pair of node ids an edge connects.
type nodePair struct{ src, tgt string }

// edgeIndex lists the edges by the nodes they connect, in graph order. It
// is dropped by the edits that walk every edge anyway (removing or
// renaming a node) and rebuilt on the next lookup.
type edgeIndex struct {
	byNodes map[nodePair][]*Edge
	count   int
}

func (g *Graph) edgeIdx() *edgeIndex {
	if g.edges != nil && g.edges.count == len(g.Edges) {
		return g.edges
	}
	x := &edgeIndex{byNodes: make(map[nodePair][]*Edge, len(g.Edges))}
	for _, e := range g.Edges {
		x.add(e)
	}
	g.edges = x
	return x
}

func (x *edgeIndex) add(e *Edge) {
	k := nodePair{e.Src.Node, e.Tgt.Node}
	x.byNodes[k] = append(x.byNodes[k], e)
	x.count++
}

func (x *edgeIndex) remove(e *Edge) {
	k := nodePair{e.Src.Node, e.Tgt.Node}
	list := x.byNodes[k]
	for i, y := range list {
		if y == e {
			list = append(list[:i:i], list[i+1:]...)
			x.count--
			break
		}
	}
	if len(list) == 0 {
		delete(x.byNodes, k)
	} else {
		x.byNodes[k] = list
	}
}
