// Package plan decides what the coordinator does. Make takes a Snapshot
// (the graphs clients and files made, the participants the broker
// announced, and what the runtime has done so far: the participants it
// runs, the processes it started, its bindings and taps) and returns the
// Plan that brings the broker in line with the graphs. It is a pure
// function: no broker, no clock, no lock. The runtime takes the snapshot,
// acts on the plan without holding a lock, and records what happened.
//
// The rules the rest of the program shares are here too, each once: which
// nodes the runtime runs and how (Rules.Run), what --ignore matches
// (IgnoreList), and which queue a node's port uses (PortQueue). A node's
// role is graph.Graph.Role's.
package plan

import (
	"fmt"

	"github.com/msgflo/msgflo-runtime/network"
)

// Run says what the runtime does for a node of a graph.
type Run int

const (
	// External: nothing is started; a participant of the node's role is
	// expected to be running elsewhere (a component the runtime cannot
	// start).
	External Run = iota
	// InProcess: a built-in component, run by the runtime as an
	// in-process participant under the node's role.
	InProcess
	// LibraryProcess: a component of the library, started by the runtime
	// as a participant process (the library's command) under the node's
	// role.
	LibraryProcess
	// Ignored: --ignore names the node; a participant of its role is
	// expected to be running elsewhere, whatever its component.
	Ignored
	// Observed: the node shows a participant discovered on the broker
	// (the live graph); it is an observation, for which nothing is ever
	// started or bound.
	Observed
)

func (r Run) String() string {
	switch r {
	case InProcess:
		return "in-process"
	case LibraryProcess:
		return "library process"
	case Ignored:
		return "ignored"
	case Observed:
		return "observed"
	default:
		return "external"
	}
}

// Describe says in words what the runtime does for a node (what the
// runtime logs at start for each node of its main graph).
func (r Run) Describe() string {
	switch r {
	case InProcess:
		return "starting an in-process participant"
	case LibraryProcess:
		return "starting a participant process (library)"
	case Ignored:
		return "ignored (--ignore): expecting a participant with this role to be running"
	case Observed:
		return "a participant discovered on the broker: nothing is started for it"
	default:
		return "not a built-in component: expecting a participant with this role to be running"
	}
}

// Starts reports whether the runtime starts a participant for the node.
func (r Run) Starts() bool { return r == InProcess || r == LibraryProcess }

// IgnoreList is --ignore: the nodes the runtime (and setup, procfile)
// starts no participant for. An entry matches a node whose id or whose
// role is the entry. msgflo matches the node's name, which is its role
// there; here a node's role is its id whenever the id is a safe name, and
// an escape of it otherwise (graph.Graph.Role), so either spelling names
// the node.
type IgnoreList []string

// Matches reports whether the list names the node id of role role.
func (l IgnoreList) Matches(id, role string) bool {
	for _, x := range l {
		if x == id || x == role {
			return true
		}
	}
	return false
}

// Rules decide what the runtime does for each node (Run).
type Rules struct {
	Ignore IgnoreList
	// Builtin says whether the runtime runs a component in-process.
	Builtin func(component string) bool
	// Library says whether the library can start a component (it has a
	// command for it).
	Library func(component string) bool
}

// Run is what the runtime does for node id of role role and component
// component; observed says the node shows a discovered participant. An
// observation is never acted on; --ignore comes before the component; a
// built-in component runs in-process before the library is asked.
func (r Rules) Run(id, role, component string, observed bool) Run {
	switch {
	case observed:
		return Observed
	case r.Ignore.Matches(id, role):
		return Ignored
	case r.Builtin != nil && r.Builtin(component):
		return InProcess
	case r.Library != nil && r.Library(component):
		return LibraryProcess
	default:
		return External
	}
}

// NodeRun is what the runtime does for one node.
type NodeRun struct {
	Node, Role, Component string
	Run                   Run
}

// PortError says a participant has no port of that name (or announced it
// without a queue).
type PortError struct {
	Participant, Role string
	Out               bool
	Port              string
}

func (e *PortError) Error() string {
	kind := "inport"
	if e.Out {
		kind = "outport"
	}
	return fmt.Sprintf("Participant %s (role %s) has no %s %s", e.Participant, e.Role, kind, e.Port)
}

// PortQueue is the queue of a node's port: the queue the participant
// serving the node's role announced for the port (out: an outport), whose
// id matches exactly or else case-insensitively (FBP tools lower-case port
// names). Before any announcement, a port's queue is by msgflo's
// convention network.QueueName(role, port), which is what participants
// started with a role declare.
func PortQueue(def network.Definition, port string, out bool) (string, error) {
	find := def.Inport
	if out {
		find = def.Outport
	}
	p, ok := find(port)
	if !ok || p.Queue == "" {
		return "", &PortError{Participant: def.ID, Role: def.Role, Out: out, Port: port}
	}
	return p.Queue, nil
}
