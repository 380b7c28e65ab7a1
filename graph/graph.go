// Package graph is the FBP graph model: nodes, edges, initial packets (IIPs),
// exported ports and groups, each with metadata, and the edits the graph
// protocol makes on them. It is pure: no I/O, no broker, no locking (the
// owner of a Graph serialises access).
package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Metadata is free-form key/value data attached to graph entities. A nil
// Metadata means "none given" and is left out of replies and files; an empty
// non-nil one is kept (clients compare replies with what they sent).
type Metadata map[string]any

// Merge returns m updated with changes: keys are added or replaced, and a
// key whose new value is nil (JSON null) is deleted. The result is never nil.
func (m Metadata) Merge(changes Metadata) Metadata {
	out := make(Metadata, len(m)+len(changes))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// Clone returns a shallow copy (nil stays nil).
func (m Metadata) Clone() Metadata {
	if m == nil {
		return nil
	}
	out := make(Metadata, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Node is a process in the graph. In msgflo its id is the participant role.
type Node struct {
	ID        string
	Component string
	Metadata  Metadata
}

// Endpoint is one end of an edge: a node's port, with an optional index for
// addressable ports (a JSON number or string, as the protocol allows).
type Endpoint struct {
	Node  string
	Port  string
	Index any
}

// Same reports whether e and o name the same port (and index, when o gives one).
func (e Endpoint) Same(o Endpoint) bool {
	if e.Node != o.Node || !strings.EqualFold(e.Port, o.Port) {
		return false
	}
	return o.Index == nil || e.Index == nil || fmt.Sprint(e.Index) == fmt.Sprint(o.Index)
}

// String renders the endpoint as in FBP DSL: node.PORT[index].
func (e Endpoint) String() string {
	s := e.Node + "." + e.Port
	if e.Index != nil {
		s += fmt.Sprintf("[%v]", e.Index)
	}
	return s
}

// Edge connects an outport to an inport.
type Edge struct {
	Src, Tgt Endpoint
	Metadata Metadata
}

// ID is the edge's textual id as FBP clients expect it: `A() OUT -> IN B()`.
func (e Edge) ID() string {
	return fmt.Sprintf("%s() %s -> %s %s()", e.Src.Node, strings.ToUpper(e.Src.Port), strings.ToUpper(e.Tgt.Port), e.Tgt.Node)
}

// IIP is an initial information packet sent to an inport when the network
// starts. Data is its JSON text (compacted), sent to the participant as it
// is.
type IIP struct {
	Data     json.RawMessage
	Tgt      Endpoint
	Metadata Metadata
}

// ID is the IIP's textual id as FBP clients expect it: `DATA -> IN B()`.
func (i IIP) ID() string {
	return fmt.Sprintf("DATA -> %s %s()", strings.ToUpper(i.Tgt.Port), i.Tgt.Node)
}

// ExportedPort makes a node's port a port of the graph under a public name.
type ExportedPort struct {
	Public   string
	Node     string
	Port     string
	Metadata Metadata
}

// Group is a named set of nodes, for editors.
type Group struct {
	Name     string
	Nodes    []string
	Metadata Metadata
}

// Graph is one FBP graph. Slices keep insertion order; files and replies
// built from it are deterministic.
type Graph struct {
	ID          string
	Name        string
	Library     string
	Icon        string
	Description string
	Main        bool
	// Properties are extra top-level properties of a loaded file (for
	// example environment), kept so a round trip loses nothing.
	Properties map[string]any

	Nodes    []*Node
	Edges    []*Edge
	IIPs     []*IIP
	Inports  []*ExportedPort
	Outports []*ExportedPort
	Groups   []*Group

	index *index     // lookups by id; see idx
	edges *edgeIndex // edges by the nodes they connect; see edgeIdx
}

// New returns an empty graph with the given id.
func New(id string) *Graph { return &Graph{ID: id} }

// Node returns the node with the given id, or nil.
func (g *Graph) Node(id string) *Node {
	return g.idx().nodes[id]
}

func (g *Graph) nodeOrErr(id string) (*Node, error) {
	if n := g.Node(id); n != nil {
		return n, nil
	}
	return nil, &Error{Kind: ErrNodeNotFound, Msg: fmt.Sprintf("Node %s not found in graph %s", id, g.ID)}
}

// AddNode adds a node. The id must be new.
func (g *Graph) AddNode(id, component string, md Metadata) (*Node, error) {
	if id == "" {
		return nil, &Error{Kind: ErrInvalid, Msg: "Node id must not be empty"}
	}
	if component == "" {
		return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("Node %s needs a component", id)}
	}
	if g.Node(id) != nil {
		return nil, &Error{Kind: ErrExists, Msg: fmt.Sprintf("Node %s already exists in graph %s", id, g.ID)}
	}
	n := &Node{ID: id, Component: component, Metadata: md}
	x := g.idx()
	g.Nodes = append(g.Nodes, n)
	x.add(n)
	return n, nil
}

// Removed lists what RemoveNode took away with the node.
type Removed struct {
	Node     *Node
	Edges    []*Edge
	IIPs     []*IIP
	Inports  []*ExportedPort
	Outports []*ExportedPort
}

// RemoveNode removes a node together with its edges, IIPs and exported ports,
// and drops it from groups.
func (g *Graph) RemoveNode(id string) (Removed, error) {
	n, err := g.nodeOrErr(id)
	if err != nil {
		return Removed{}, err
	}
	r := Removed{Node: n}
	g.edges = nil // rebuilt on the next lookup
	g.Edges = slices.DeleteFunc(g.Edges, func(e *Edge) bool {
		if e.Src.Node == id || e.Tgt.Node == id {
			r.Edges = append(r.Edges, e)
			return true
		}
		return false
	})
	g.IIPs = slices.DeleteFunc(g.IIPs, func(i *IIP) bool {
		if i.Tgt.Node == id {
			r.IIPs = append(r.IIPs, i)
			return true
		}
		return false
	})
	g.Inports = slices.DeleteFunc(g.Inports, func(p *ExportedPort) bool {
		if p.Node == id {
			r.Inports = append(r.Inports, p)
			return true
		}
		return false
	})
	g.Outports = slices.DeleteFunc(g.Outports, func(p *ExportedPort) bool {
		if p.Node == id {
			r.Outports = append(r.Outports, p)
			return true
		}
		return false
	})
	for _, grp := range g.Groups {
		grp.Nodes = slices.DeleteFunc(grp.Nodes, func(s string) bool { return s == id })
	}
	x := g.idx()
	g.Nodes = slices.DeleteFunc(g.Nodes, func(x *Node) bool { return x == n })
	x.remove(n)
	return r, nil
}

// RenameNode gives a node a new id; edges, IIPs, exported ports and groups follow.
func (g *Graph) RenameNode(from, to string) error {
	n, err := g.nodeOrErr(from)
	if err != nil {
		return err
	}
	if to == "" {
		return &Error{Kind: ErrInvalid, Msg: "Node id must not be empty"}
	}
	if from == to {
		return nil
	}
	if g.Node(to) != nil {
		return &Error{Kind: ErrExists, Msg: fmt.Sprintf("Node %s already exists in graph %s", to, g.ID)}
	}
	x := g.idx()
	x.remove(n)
	n.ID = to
	x.add(n)
	g.edges = nil // rebuilt on the next lookup
	for _, e := range g.Edges {
		if e.Src.Node == from {
			e.Src.Node = to
		}
		if e.Tgt.Node == from {
			e.Tgt.Node = to
		}
	}
	for _, i := range g.IIPs {
		if i.Tgt.Node == from {
			i.Tgt.Node = to
		}
	}
	for _, p := range append(slices.Clone(g.Inports), g.Outports...) {
		if p.Node == from {
			p.Node = to
		}
	}
	for _, grp := range g.Groups {
		for k, s := range grp.Nodes {
			if s == from {
				grp.Nodes[k] = to
			}
		}
	}
	return nil
}

// ChangeNode merges metadata into a node's (null deletes a key) and returns the result.
func (g *Graph) ChangeNode(id string, md Metadata) (Metadata, error) {
	n, err := g.nodeOrErr(id)
	if err != nil {
		return nil, err
	}
	n.Metadata = n.Metadata.Merge(md)
	return n.Metadata, nil
}

func (g *Graph) checkEndpoints(src, tgt Endpoint) error {
	for _, ep := range []Endpoint{src, tgt} {
		if _, err := g.nodeOrErr(ep.Node); err != nil {
			return err
		}
		if ep.Port == "" {
			return &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("Port of node %s must not be empty", ep.Node)}
		}
	}
	return nil
}

// Edge returns the edge between src and tgt, or nil.
func (g *Graph) Edge(src, tgt Endpoint) *Edge {
	for _, e := range g.edgeIdx().byNodes[nodePair{src.Node, tgt.Node}] {
		if e.Src.Same(src) && e.Tgt.Same(tgt) {
			return e
		}
	}
	return nil
}

// AddEdge connects src to tgt. Both nodes must exist. Adding an edge that
// exists already updates its metadata and returns it.
func (g *Graph) AddEdge(src, tgt Endpoint, md Metadata) (*Edge, error) {
	if err := g.checkEndpoints(src, tgt); err != nil {
		return nil, err
	}
	if e := g.Edge(src, tgt); e != nil {
		if md != nil {
			e.Metadata = md
		}
		return e, nil
	}
	e := &Edge{Src: src, Tgt: tgt, Metadata: md}
	x := g.edgeIdx()
	g.Edges = append(g.Edges, e)
	x.add(e)
	return e, nil
}

func edgeNotFound(g *Graph, src, tgt Endpoint) error {
	return &Error{Kind: ErrEdgeNotFound, Msg: fmt.Sprintf("Edge %s -> %s not found in graph %s", src, tgt, g.ID)}
}

// RemoveEdge removes the edge between src and tgt.
func (g *Graph) RemoveEdge(src, tgt Endpoint) (*Edge, error) {
	e := g.Edge(src, tgt)
	if e == nil {
		return nil, edgeNotFound(g, src, tgt)
	}
	x := g.edgeIdx()
	g.Edges = slices.DeleteFunc(g.Edges, func(x *Edge) bool { return x == e })
	x.remove(e)
	return e, nil
}

// ChangeEdge merges metadata into an edge's and returns the edge.
func (g *Graph) ChangeEdge(src, tgt Endpoint, md Metadata) (*Edge, error) {
	e := g.Edge(src, tgt)
	if e == nil {
		return nil, edgeNotFound(g, src, tgt)
	}
	e.Metadata = e.Metadata.Merge(md)
	return e, nil
}

// AddInitial adds an IIP with data (JSON text; nil means null) to tgt.
// The graph keeps a compacted copy of data: whitespace goes, every other
// byte stays. Several IIPs to one port are kept in order.
func (g *Graph) AddInitial(data json.RawMessage, tgt Endpoint, md Metadata) (*IIP, error) {
	if _, err := g.nodeOrErr(tgt.Node); err != nil {
		return nil, err
	}
	if tgt.Port == "" {
		return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("Port of node %s must not be empty", tgt.Node)}
	}
	if data == nil {
		data = json.RawMessage("null")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("Initial packet to %s is not JSON: %v", tgt, err)}
	}
	i := &IIP{Data: compact.Bytes(), Tgt: tgt, Metadata: md}
	g.IIPs = append(g.IIPs, i)
	return i, nil
}

// RemoveInitial removes the IIPs to tgt and returns them (first one first).
func (g *Graph) RemoveInitial(tgt Endpoint) ([]*IIP, error) {
	var removed []*IIP
	g.IIPs = slices.DeleteFunc(g.IIPs, func(i *IIP) bool {
		if i.Tgt.Same(tgt) {
			removed = append(removed, i)
			return true
		}
		return false
	})
	if len(removed) == 0 {
		return nil, &Error{Kind: ErrIIPNotFound, Msg: fmt.Sprintf("No initial packet to %s in graph %s", tgt, g.ID)}
	}
	return removed, nil
}

// PortKind says which side of the graph an exported port is on.
type PortKind int

const (
	// In is an exported inport.
	In PortKind = iota
	// Out is an exported outport.
	Out
)

func (k PortKind) String() string {
	if k == In {
		return "inport"
	}
	return "outport"
}

func (g *Graph) exported(k PortKind) *[]*ExportedPort {
	if k == In {
		return &g.Inports
	}
	return &g.Outports
}

// Exported returns the exported port with the given public name, or nil.
func (g *Graph) Exported(k PortKind, public string) *ExportedPort {
	for _, p := range *g.exported(k) {
		if p.Public == public {
			return p
		}
	}
	return nil
}

// AddExported exports node.port under a public name; an existing export of
// that name is replaced.
func (g *Graph) AddExported(k PortKind, public, node, port string, md Metadata) (*ExportedPort, error) {
	if public == "" {
		return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("Public name of an %s must not be empty", k)}
	}
	if _, err := g.nodeOrErr(node); err != nil {
		return nil, err
	}
	if port == "" {
		return nil, &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("Port of node %s must not be empty", node)}
	}
	p := &ExportedPort{Public: public, Node: node, Port: port, Metadata: md}
	list := g.exported(k)
	for idx, old := range *list {
		if old.Public == public {
			(*list)[idx] = p
			return p, nil
		}
	}
	*list = append(*list, p)
	return p, nil
}

func exportedNotFound(g *Graph, k PortKind, public string) error {
	return &Error{Kind: ErrPortNotFound, Msg: fmt.Sprintf("Exported %s %s not found in graph %s", k, public, g.ID)}
}

// RemoveExported removes the exported port with the given public name.
func (g *Graph) RemoveExported(k PortKind, public string) (*ExportedPort, error) {
	p := g.Exported(k, public)
	if p == nil {
		return nil, exportedNotFound(g, k, public)
	}
	list := g.exported(k)
	*list = slices.DeleteFunc(*list, func(x *ExportedPort) bool { return x == p })
	return p, nil
}

// RenameExported changes the public name of an exported port.
func (g *Graph) RenameExported(k PortKind, from, to string) error {
	p := g.Exported(k, from)
	if p == nil {
		return exportedNotFound(g, k, from)
	}
	if to == "" {
		return &Error{Kind: ErrInvalid, Msg: fmt.Sprintf("Public name of an %s must not be empty", k)}
	}
	if from != to && g.Exported(k, to) != nil {
		return &Error{Kind: ErrExists, Msg: fmt.Sprintf("Exported %s %s already exists in graph %s", k, to, g.ID)}
	}
	p.Public = to
	return nil
}

// Group returns the group with the given name, or nil.
func (g *Graph) Group(name string) *Group {
	for _, grp := range g.Groups {
		if grp.Name == name {
			return grp
		}
	}
	return nil
}

func groupNotFound(g *Graph, name string) error {
	return &Error{Kind: ErrGroupNotFound, Msg: fmt.Sprintf("Group %s not found in graph %s", name, g.ID)}
}

// AddGroup adds a group of existing nodes.
func (g *Graph) AddGroup(name string, nodes []string, md Metadata) (*Group, error) {
	if name == "" {
		return nil, &Error{Kind: ErrInvalid, Msg: "Group name must not be empty"}
	}
	if g.Group(name) != nil {
		return nil, &Error{Kind: ErrExists, Msg: fmt.Sprintf("Group %s already exists in graph %s", name, g.ID)}
	}
	for _, id := range nodes {
		if _, err := g.nodeOrErr(id); err != nil {
			return nil, err
		}
	}
	grp := &Group{Name: name, Nodes: slices.Clone(nodes), Metadata: md}
	if grp.Nodes == nil {
		grp.Nodes = []string{}
	}
	g.Groups = append(g.Groups, grp)
	return grp, nil
}

// RemoveGroup removes a group (its nodes stay).
func (g *Graph) RemoveGroup(name string) error {
	grp := g.Group(name)
	if grp == nil {
		return groupNotFound(g, name)
	}
	g.Groups = slices.DeleteFunc(g.Groups, func(x *Group) bool { return x == grp })
	return nil
}

// RenameGroup renames a group.
func (g *Graph) RenameGroup(from, to string) error {
	grp := g.Group(from)
	if grp == nil {
		return groupNotFound(g, from)
	}
	if to == "" {
		return &Error{Kind: ErrInvalid, Msg: "Group name must not be empty"}
	}
	if from != to && g.Group(to) != nil {
		return &Error{Kind: ErrExists, Msg: fmt.Sprintf("Group %s already exists in graph %s", to, g.ID)}
	}
	grp.Name = to
	return nil
}

// ChangeGroup merges metadata into a group's and returns the result.
func (g *Graph) ChangeGroup(name string, md Metadata) (Metadata, error) {
	grp := g.Group(name)
	if grp == nil {
		return nil, groupNotFound(g, name)
	}
	grp.Metadata = grp.Metadata.Merge(md)
	return grp.Metadata, nil
}

// EdgesOf returns the edges attached to a node, in graph order.
func (g *Graph) EdgesOf(node string) []*Edge {
	var out []*Edge
	for _, e := range g.Edges {
		if e.Src.Node == node || e.Tgt.Node == node {
			out = append(out, e)
		}
	}
	return out
}

// InitialData maps the ports of node to the data of their initial packets
// (the last one, when a port has several), as msgflo passes them to a
// participant's command (#IIPS).
// The values are the IIPs' JSON text (json.RawMessage).
func (g *Graph) InitialData(node string) map[string]any {
	out := map[string]any{}
	for _, iip := range g.IIPs {
		if iip.Tgt.Node == node {
			out[iip.Tgt.Port] = iip.Data
		}
	}
	return out
}
