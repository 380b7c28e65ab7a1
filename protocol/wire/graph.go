package wire

import (
	"encoding/json"

	"github.com/msgflo/msgflo-runtime/graph"
)

// The graph sub-protocol: edits of a graph, sent by a client and
// acknowledged to every client.

func init() {
	register(decoder[Clear](), decoder[AddNode](), decoder[RemoveNode](), decoder[RenameNode](),
		decoder[ChangeNode](), decoder[AddEdge](), decoder[RemoveEdge](), decoder[ChangeEdge](),
		decoder[AddInitial](), decoder[RemoveInitial](), decoder[AddInport](), decoder[AddOutport](),
		decoder[RemoveInport](), decoder[RemoveOutport](), decoder[RenameInport](), decoder[RenameOutport](),
		decoder[AddGroup](), decoder[RemoveGroup](), decoder[RenameGroup](), decoder[ChangeGroup]())
}

// PortRef is an edge end: {node, port, index?}.
type PortRef struct {
	Node  string `json:"node"`
	Port  string `json:"port"`
	Index any    `json:"index,omitempty"`
}

// Endpoint converts a port reference to the graph model.
func (p PortRef) Endpoint() graph.Endpoint {
	return graph.Endpoint{Node: p.Node, Port: p.Port, Index: p.Index}
}

// RefOf is the port reference of a graph endpoint.
func RefOf(e graph.Endpoint) PortRef { return PortRef{Node: e.Node, Port: e.Port, Index: e.Index} }

// Clear is graph:clear.
type Clear struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Library     string `json:"library,omitempty"`
	Main        bool   `json:"main,omitempty"`
	Icon        string `json:"icon,omitempty"`
	Description string `json:"description,omitempty"`
}

// AddNode is graph:addnode.
type AddNode struct {
	ID        string         `json:"id"`
	Component string         `json:"component"`
	Metadata  graph.Metadata `json:"metadata,omitzero"`
	Graph     string         `json:"graph"`
}

// RemoveNode is graph:removenode.
type RemoveNode struct {
	ID    string `json:"id"`
	Graph string `json:"graph"`
}

// Rename is the shape of graph:renamenode, renameinport, renameoutport and
// renamegroup.
type Rename struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Graph string `json:"graph"`
}

// RenameNode is graph:renamenode.
type RenameNode Rename

// ChangeNode is graph:changenode.
type ChangeNode struct {
	ID       string         `json:"id"`
	Metadata graph.Metadata `json:"metadata"`
	Graph    string         `json:"graph"`
}

// Edge is the shape of graph:addedge and changeedge.
type Edge struct {
	Src      PortRef        `json:"src"`
	Tgt      PortRef        `json:"tgt"`
	Metadata graph.Metadata `json:"metadata,omitzero"`
	Graph    string         `json:"graph"`
}

// AddEdge is graph:addedge.
type AddEdge Edge

// RemoveEdge is graph:removeedge.
type RemoveEdge struct {
	Src   PortRef `json:"src"`
	Tgt   PortRef `json:"tgt"`
	Graph string  `json:"graph"`
}

// ChangeEdge is graph:changeedge.
type ChangeEdge Edge

// IIPData is the src of an initial packet: {data}. Data is the JSON text
// the client sent, kept as it is.
type IIPData struct {
	Data json.RawMessage `json:"data"`
}

// AddInitial is graph:addinitial.
type AddInitial struct {
	Src      IIPData        `json:"src"`
	Tgt      PortRef        `json:"tgt"`
	Metadata graph.Metadata `json:"metadata,omitzero"`
	Graph    string         `json:"graph"`
}

// RemoveInitial is graph:removeinitial; the acknowledgement carries the
// data removed.
type RemoveInitial struct {
	Src   IIPData `json:"src"`
	Tgt   PortRef `json:"tgt"`
	Graph string  `json:"graph"`
}

// ExportedPort is the shape of graph:addinport and addoutport.
type ExportedPort struct {
	Public   string         `json:"public"`
	Node     string         `json:"node"`
	Port     string         `json:"port"`
	Metadata graph.Metadata `json:"metadata,omitzero"`
	Graph    string         `json:"graph"`
}

// AddInport is graph:addinport.
type AddInport ExportedPort

// AddOutport is graph:addoutport.
type AddOutport ExportedPort

// PublicPort is the shape of graph:removeinport and removeoutport.
type PublicPort struct {
	Public string `json:"public"`
	Graph  string `json:"graph"`
}

// RemoveInport is graph:removeinport.
type RemoveInport PublicPort

// RemoveOutport is graph:removeoutport.
type RemoveOutport PublicPort

// RenameInport is graph:renameinport.
type RenameInport Rename

// RenameOutport is graph:renameoutport.
type RenameOutport Rename

// AddGroup is graph:addgroup.
type AddGroup struct {
	Name     string         `json:"name"`
	Nodes    []string       `json:"nodes"`
	Metadata graph.Metadata `json:"metadata,omitzero"`
	Graph    string         `json:"graph"`
}

// RemoveGroup is graph:removegroup.
type RemoveGroup struct {
	Name  string `json:"name"`
	Graph string `json:"graph"`
}

// RenameGroup is graph:renamegroup.
type RenameGroup Rename

// ChangeGroup is graph:changegroup.
type ChangeGroup struct {
	Name     string         `json:"name"`
	Metadata graph.Metadata `json:"metadata"`
	Graph    string         `json:"graph"`
}

func (Clear) Protocol() string         { return "graph" }
func (Clear) Command() string          { return "clear" }
func (AddNode) Protocol() string       { return "graph" }
func (AddNode) Command() string        { return "addnode" }
func (RemoveNode) Protocol() string    { return "graph" }
func (RemoveNode) Command() string     { return "removenode" }
func (RenameNode) Protocol() string    { return "graph" }
func (RenameNode) Command() string     { return "renamenode" }
func (ChangeNode) Protocol() string    { return "graph" }
func (ChangeNode) Command() string     { return "changenode" }
func (AddEdge) Protocol() string       { return "graph" }
func (AddEdge) Command() string        { return "addedge" }
func (RemoveEdge) Protocol() string    { return "graph" }
func (RemoveEdge) Command() string     { return "removeedge" }
func (ChangeEdge) Protocol() string    { return "graph" }
func (ChangeEdge) Command() string     { return "changeedge" }
func (AddInitial) Protocol() string    { return "graph" }
func (AddInitial) Command() string     { return "addinitial" }
func (RemoveInitial) Protocol() string { return "graph" }
func (RemoveInitial) Command() string  { return "removeinitial" }
func (AddInport) Protocol() string     { return "graph" }
func (AddInport) Command() string      { return "addinport" }
func (AddOutport) Protocol() string    { return "graph" }
func (AddOutport) Command() string     { return "addoutport" }
func (RemoveInport) Protocol() string  { return "graph" }
func (RemoveInport) Command() string   { return "removeinport" }
func (RemoveOutport) Protocol() string { return "graph" }
func (RemoveOutport) Command() string  { return "removeoutport" }
func (RenameInport) Protocol() string  { return "graph" }
func (RenameInport) Command() string   { return "renameinport" }
func (RenameOutport) Protocol() string { return "graph" }
func (RenameOutport) Command() string  { return "renameoutport" }
func (AddGroup) Protocol() string      { return "graph" }
func (AddGroup) Command() string       { return "addgroup" }
func (RemoveGroup) Protocol() string   { return "graph" }
func (RemoveGroup) Command() string    { return "removegroup" }
func (RenameGroup) Protocol() string   { return "graph" }
func (RenameGroup) Command() string    { return "renamegroup" }
func (ChangeGroup) Protocol() string   { return "graph" }
func (ChangeGroup) Command() string    { return "changegroup" }
