package wire

import "encoding/json"

// The runtime sub-protocol: what the runtime is, the main graph's exported
// ports, and packets through them.

func init() {
	register(decoder[GetRuntime](), decoder[Runtime](), decoder[Ports](), decoder[Packet](), decoder[PacketSent]())
}

// GetRuntime is runtime:getruntime. Secret is where clients older than
// protocol 0.8 put it; newer ones send it at the top level
// (EncodeWithSecret).
type GetRuntime struct {
	Secret string `json:"secret,omitempty"`
}

// Runtime is runtime:runtime.
type Runtime struct {
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

// PortDef is a port in component:component and runtime:ports.
type PortDef struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Addressable bool   `json:"addressable"`
	Required    bool   `json:"required"`
}

// Ports is runtime:ports.
type Ports struct {
	Graph    string    `json:"graph"`
	InPorts  []PortDef `json:"inPorts"`
	OutPorts []PortDef `json:"outPorts"`
}

// Packet is runtime:packet (both directions). Payload is JSON text carried
// as it is (a data event always has one: JSON null is "null", which is
// not omitted).
type Packet struct {
	Port    string          `json:"port"`
	Event   string          `json:"event"`
	Type    string          `json:"type,omitempty"`
	Schema  string          `json:"schema,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Graph   string          `json:"graph"`
}

// PacketSent is runtime:packetsent, the acknowledgement of a packet.
type PacketSent Packet

func (GetRuntime) Protocol() string { return "runtime" }
func (GetRuntime) Command() string  { return "getruntime" }
func (Runtime) Protocol() string    { return "runtime" }
func (Runtime) Command() string     { return "runtime" }
func (Ports) Protocol() string      { return "runtime" }
func (Ports) Command() string       { return "ports" }
func (Packet) Protocol() string     { return "runtime" }
func (Packet) Command() string      { return "packet" }
func (PacketSent) Protocol() string { return "runtime" }
func (PacketSent) Command() string  { return "packetsent" }
