package runtime

import (
	"encoding/json"

	"github.com/msgflo/msgflo-runtime/graph"
)

// Event is a message the runtime has for clients. The protocol layer turns
// it into a wire message; it never leaves the process in any other form.
type Event struct {
	Protocol string
	Command  string
	Payload  any
	// To, when non-nil, restricts delivery to these clients (network:data
	// for clients that watch the edge). Nil means every client allowed to
	// receive the message.
	To []ClientID
}

// ClientID identifies a connected client to the runtime (for edge watches).
type ClientID uint64

// Sink receives the runtime's events, in the order the runtime produced
// them. Broadcast must not block; it is called with the runtime's lock held.
type Sink interface {
	Broadcast(ev Event)
}

// The payload types below are exactly the keys the protocol's output
// schemas allow; optional keys are left out when they have no value.

// PortRef is an edge end on the wire: {node, port, index?}.
type PortRef struct {
	Node  string `json:"node"`
	Port  string `json:"port"`
	Index any    `json:"index,omitempty"`
}

func portRef(e graph.Endpoint) PortRef { return PortRef{Node: e.Node, Port: e.Port, Index: e.Index} }

// Endpoint converts a wire port reference to the graph model.
func (p PortRef) Endpoint() graph.Endpoint {
	return graph.Endpoint{Node: p.Node, Port: p.Port, Index: p.Index}
}

// ClearPayload is graph:clear.
type ClearPayload struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Library     string `json:"library,omitempty"`
	Main        bool   `json:"main,omitempty"`
	Icon        string `json:"icon,omitempty"`
	Description string `json:"description,omitempty"`
}

// NodePayload is graph:addnode.
type NodePayload struct {
	ID        string         `json:"id"`
	Component string         `json:"component"`
	Metadata  graph.Metadata `json:"metadata,omitzero"`
	Graph     string         `json:"graph"`
}

// NodeIDPayload is graph:removenode.
type NodeIDPayload struct {
	ID    string `json:"id"`
	Graph string `json:"graph"`
}

// RenamePayload is graph:renamenode, renameinport, renameoutport, renamegroup.
type RenamePayload struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Graph string `json:"graph"`
}

// ChangeNodePayload is graph:changenode.
type ChangeNodePayload struct {
	ID       string         `json:"id"`
	Metadata graph.Metadata `json:"metadata"`
	Graph    string         `json:"graph"`
}

// EdgePayload is graph:addedge, removeedge (no metadata), changeedge.
type EdgePayload struct {
	Src      PortRef        `json:"src"`
	Tgt      PortRef        `json:"tgt"`
	Metadata graph.Metadata `json:"metadata,omitzero"`
	Graph    string         `json:"graph"`
}

// IIPData is the src of an IIP on the wire: {data}. Data is the JSON text
// the client sent, kept as it is.
type IIPData struct {
	Data json.RawMessage `json:"data"`
}

// InitialPayload is graph:addinitial and removeinitial.
type InitialPayload struct {
	Src      IIPData        `json:"src"`
	Tgt      PortRef        `json:"tgt"`
	Metadata graph.Metadata `json:"metadata,omitzero"`
	Graph    string         `json:"graph"`
}

// ExportPayload is graph:addinport and addoutport.
type ExportPayload struct {
	Public   string         `json:"public"`
	Node     string         `json:"node"`
	Port     string         `json:"port"`
	Metadata graph.Metadata `json:"metadata,omitzero"`
	Graph    string         `json:"graph"`
}

// PublicPayload is graph:removeinport and removeoutport.
type PublicPayload struct {
	Public string `json:"public"`
	Graph  string `json:"graph"`
}

// GroupPayload is graph:addgroup.
type GroupPayload struct {
	Name     string         `json:"name"`
	Nodes    []string       `json:"nodes"`
	Metadata graph.Metadata `json:"metadata,omitzero"`
	Graph    string         `json:"graph"`
}

// GroupNamePayload is graph:removegroup.
type GroupNamePayload struct {
	Name  string `json:"name"`
	Graph string `json:"graph"`
}

// ChangeGroupPayload is graph:changegroup.
type ChangeGroupPayload struct {
	Name     string         `json:"name"`
	Metadata graph.Metadata `json:"metadata"`
	Graph    string         `json:"graph"`
}

// PortDef is a port in component and runtime:ports messages.
type PortDef struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Addressable bool   `json:"addressable"`
	Required    bool   `json:"required"`
}

// ComponentPayload is component:component.
type ComponentPayload struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Icon        string    `json:"icon,omitempty"`
	Subgraph    bool      `json:"subgraph"`
	InPorts     []PortDef `json:"inPorts"`
	OutPorts    []PortDef `json:"outPorts"`
}

// SourcePayload is component:source.
type SourcePayload struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Library  string `json:"library,omitempty"`
	Code     string `json:"code"`
	Tests    string `json:"tests,omitempty"`
}

// RuntimePayload is runtime:runtime.
type RuntimePayload struct {
	ID              string   `json:"id,omitempty"`
	Label           string   `json:"label,omitempty"`
	Version         string   `json:"version"`
	AllCapabilities []string `json:"allCapabilities"`
	Capabilities    []string `json:"capabilities"`
	Graph           string   `json:"graph,omitempty"`
	Type            string   `json:"type"`
	Namespace       string   `json:"namespace,omitempty"`
	Repository      string   `json:"repository,omitempty"`
}

// PortsPayload is runtime:ports.
type PortsPayload struct {
	Graph    string    `json:"graph"`
	InPorts  []PortDef `json:"inPorts"`
	OutPorts []PortDef `json:"outPorts"`
}

// PacketPayload is runtime:packet (both directions) and packetsent.
// Payload is JSON text carried as it is (a data event always has one:
// JSON null is "null", which is not omitted).
type PacketPayload struct {
	Port    string          `json:"port"`
	Event   string          `json:"event"`
	Type    string          `json:"type,omitempty"`
	Schema  string          `json:"schema,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Graph   string          `json:"graph"`
}

// StatusPayload is network:status.
type StatusPayload struct {
	Graph   string `json:"graph"`
	Running bool   `json:"running"`
	Started bool   `json:"started"`
	Debug   bool   `json:"debug,omitempty"`
}

// StartedPayload is network:started and network:stopped.
type StartedPayload struct {
	Time    string   `json:"time"`
	Graph   string   `json:"graph"`
	Started bool     `json:"started"`
	Running bool     `json:"running"`
	Uptime  *float64 `json:"uptime,omitempty"`
	Debug   bool     `json:"debug,omitempty"`
}

// EdgesPayload is network:edges.
type EdgesPayload struct {
	Graph string     `json:"graph"`
	Edges []EdgeSpec `json:"edges"`
}

// EdgeSpec is one edge in network:edges.
type EdgeSpec struct {
	Src PortRef `json:"src"`
	Tgt PortRef `json:"tgt"`
}

// DataPayload is network:data. Data is the message as JSON text, byte
// for byte as the broker carried it (see network.AsJSON).
type DataPayload struct {
	ID    string          `json:"id"`
	Src   *PortRef        `json:"src,omitempty"`
	Tgt   PortRef         `json:"tgt"`
	Graph string          `json:"graph"`
	Data  json.RawMessage `json:"data"`
}

// ConnectPayload is network:connect and network:disconnect.
type ConnectPayload struct {
	ID    string   `json:"id"`
	Src   *PortRef `json:"src,omitempty"`
	Tgt   PortRef  `json:"tgt"`
	Graph string   `json:"graph"`
}

// NetworkErrorPayload is network:error.
type NetworkErrorPayload struct {
	Message string `json:"message"`
	Graph   string `json:"graph,omitempty"`
}

// OutputPayload is network:output.
type OutputPayload struct {
	Message string `json:"message"`
	Type    string `json:"type,omitempty"`
}

// ProcessErrorPayload is network:processerror.
type ProcessErrorPayload struct {
	ID    string `json:"id"`
	Error string `json:"error"`
	Graph string `json:"graph"`
}

// DebugPayload is network:debug.
type DebugPayload struct {
	Enable bool   `json:"enable"`
	Graph  string `json:"graph"`
}

// ErrorPayload is <protocol>:error.
type ErrorPayload struct {
	Message string `json:"message"`
}
