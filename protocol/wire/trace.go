package wire

// The trace sub-protocol: recording what flows through a graph, and the
// recording as a flowtrace.

func init() {
	register(decoder[TraceStart](), decoder[TraceStop](), decoder[TraceClear](), decoder[TraceDump]())
}

// TraceStart is trace:start (both directions; the answer gives the buffer
// size in use).
type TraceStart struct {
	Graph      string `json:"graph"`
	Buffersize int    `json:"buffersize,omitempty"`
}

// TraceStop is trace:stop.
type TraceStop GraphRef

// TraceClear is trace:clear.
type TraceClear GraphRef

// TraceDump is trace:dump: the request names the type wanted
// ("flowtrace.json"), the answer carries the flowtrace as text.
type TraceDump struct {
	Graph     string `json:"graph"`
	Type      string `json:"type"`
	Flowtrace string `json:"flowtrace,omitempty"`
}

func (TraceStart) Protocol() string { return "trace" }
func (TraceStart) Command() string  { return "start" }
func (TraceStop) Protocol() string  { return "trace" }
func (TraceStop) Command() string   { return "stop" }
func (TraceClear) Protocol() string { return "trace" }
func (TraceClear) Command() string  { return "clear" }
func (TraceDump) Protocol() string  { return "trace" }
func (TraceDump) Command() string   { return "dump" }
