package protocol

// Capabilities the runtime offers. network:persist joins them when a graph
// file is configured; component:setsource only when the runtime is
// started with --allow-setsource (cmd/msgflo-runtime adds it), so that
// without it component:source is refused as not permitted.
var offeredCapabilities = []string{
	"protocol:runtime",
	"protocol:graph",
	"graph:readonly",
	"protocol:component",
	"component:getsource",
	"protocol:network",
	"network:status",
	"network:data",
	"network:control",
	"protocol:trace",
}

// capabilitySet is what one client may do: the union of the inputs and
// outputs of its capabilities.
type capabilitySet struct {
	names   []string
	inputs  map[string]bool
	outputs map[string]bool
}

func newCapabilitySet(v *Validator, names []string) *capabilitySet {
	s := &capabilitySet{names: names, inputs: map[string]bool{}, outputs: map[string]bool{}}
	for _, n := range names {
		in, out := v.CapabilityMessages(n)
		for _, m := range in {
			s.inputs[m] = true
		}
		for _, m := range out {
			s.outputs[m] = true
		}
	}
	return s
}

// allowsInput reports whether the client may send protocol:command.
// getruntime is open to everyone: it is how a client learns what it may do.
func (s *capabilitySet) allowsInput(protocol, command string) bool {
	if protocol == "runtime" && command == "getruntime" {
		return true
	}
	return s.inputs[protocol+":"+command]
}

// allowsOutput reports whether the client may receive protocol:command
// as a broadcast. The runtime's description always goes through; nothing
// else does without a capability that lists it: a client without the
// secret (and no anonymous capabilities) hears nothing of the network,
// its errors included. Replies to the client's own requests, errors
// included, are not broadcasts and are not filtered.
func (s *capabilitySet) allowsOutput(protocol, command string) bool {
	if s == nil {
		return false
	}
	if protocol == "runtime" && command == "runtime" {
		return true
	}
	return s.outputs[protocol+":"+command]
}
