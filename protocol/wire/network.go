package wire

import "encoding/json"

// The network sub-protocol: starting and stopping a graph, its state, its
// problems, and the data on the edges a client watches.

func init() {
	register(decoder[Start](), decoder[Stop](), decoder[GetStatus](), decoder[Persist](),
		decoder[Started](), decoder[Stopped](), decoder[Status](), decoder[Debug](), decoder[Edges](),
		decoder[Output](), decoder[NetworkError](), decoder[ProcessError](), decoder[Connect](),
		decoder[Disconnect](), decoder[Data]())
}

// GraphRef is the shape of requests naming only a graph.
type GraphRef struct {
	Graph string `json:"graph"`
}

// Start is network:start.
type Start GraphRef

// Stop is network:stop.
type Stop GraphRef

// GetStatus is network:getstatus.
type GetStatus GraphRef

// Persist is network:persist: the request has no payload, the answer
// names the graph saved.
type Persist struct {
	Graph string `json:"graph,omitempty"`
}

// Started is network:started.
type Started struct {
	Time    string `json:"time"`
	Graph   string `json:"graph"`
	Started bool   `json:"started"`
	Running bool   `json:"running"`
	Debug   bool   `json:"debug,omitempty"`
}

// Stopped is network:stopped.
type Stopped struct {
	Time    string   `json:"time"`
	Graph   string   `json:"graph"`
	Started bool     `json:"started"`
	Running bool     `json:"running"`
	Uptime  *float64 `json:"uptime,omitempty"`
	Debug   bool     `json:"debug,omitempty"`
}

// Status is network:status.
type Status struct {
	Graph   string `json:"graph"`
	Running bool   `json:"running"`
	Started bool   `json:"started"`
	Debug   bool   `json:"debug,omitempty"`
}

// Debug is network:debug (both directions).
type Debug struct {
	Enable bool   `json:"enable"`
	Graph  string `json:"graph"`
}

// EdgeSpec is one edge in network:edges.
type EdgeSpec struct {
	Src PortRef `json:"src"`
	Tgt PortRef `json:"tgt"`
}

// Edges is network:edges (both directions): the edges a client watches.
type Edges struct {
	Graph string     `json:"graph"`
	Edges []EdgeSpec `json:"edges"`
}

// Output is network:output.
type Output struct {
	Message string `json:"message"`
	Type    string `json:"type,omitempty"`
}

// NetworkError is network:error: a request that failed, or a problem of
// the network (Graph names its graph).
type NetworkError struct {
	Message string `json:"message"`
	Graph   string `json:"graph,omitempty"`
}

// ProcessError is network:processerror.
type ProcessError struct {
	ID    string `json:"id"`
	Error string `json:"error"`
	Graph string `json:"graph"`
}

// Connection is the shape of network:connect and disconnect.
type Connection struct {
	ID    string   `json:"id"`
	Src   *PortRef `json:"src,omitempty"`
	Tgt   PortRef  `json:"tgt"`
	Graph string   `json:"graph"`
}

// Connect is network:connect.
type Connect Connection

// Disconnect is network:disconnect.
type Disconnect Connection

// Data is network:data. Data is the message as JSON text, byte for byte
// as the broker carried it (see network.AsJSON).
type Data struct {
	ID    string          `json:"id"`
	Src   *PortRef        `json:"src,omitempty"`
	Tgt   PortRef         `json:"tgt"`
	Graph string          `json:"graph"`
	Data  json.RawMessage `json:"data"`
}

func (Start) Protocol() string        { return "network" }
func (Start) Command() string         { return "start" }
func (Stop) Protocol() string         { return "network" }
func (Stop) Command() string          { return "stop" }
func (GetStatus) Protocol() string    { return "network" }
func (GetStatus) Command() string     { return "getstatus" }
func (Persist) Protocol() string      { return "network" }
func (Persist) Command() string       { return "persist" }
func (Started) Protocol() string      { return "network" }
func (Started) Command() string       { return "started" }
func (Stopped) Protocol() string      { return "network" }
func (Stopped) Command() string       { return "stopped" }
func (Status) Protocol() string       { return "network" }
func (Status) Command() string        { return "status" }
func (Debug) Protocol() string        { return "network" }
func (Debug) Command() string         { return "debug" }
func (Edges) Protocol() string        { return "network" }
func (Edges) Command() string         { return "edges" }
func (Output) Protocol() string       { return "network" }
func (Output) Command() string        { return "output" }
func (NetworkError) Protocol() string { return "network" }
func (NetworkError) Command() string  { return "error" }
func (ProcessError) Protocol() string { return "network" }
func (ProcessError) Command() string  { return "processerror" }
func (Connect) Protocol() string      { return "network" }
func (Connect) Command() string       { return "connect" }
func (Disconnect) Protocol() string   { return "network" }
func (Disconnect) Command() string    { return "disconnect" }
func (Data) Protocol() string         { return "network" }
func (Data) Command() string          { return "data" }
