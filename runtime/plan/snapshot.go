package plan

import (
	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
)

// Snapshot is what a plan is made from: the desired state (graphs), what
// the broker told (participants), and what the runtime has done so far.
// The plan reads it and never changes it.
type Snapshot struct {
	// Graphs are the graphs, sorted by id.
	Graphs []Graph
	// Participants serve the roles of the graphs' nodes, by role: the
	// participant of the role heard from last, or, once every participant
	// of the role expired, the last one heard (its queues are durable and
	// still collect what the graph sends it).
	Participants map[string]Participant
	// Local are the in-process participants the runtime runs, by role.
	Local map[string]Local
	// Processes are the components of the participant processes the
	// runtime started, by role (exited ones included: they are not
	// started again while their node stays).
	Processes map[string]string
	// Bound are the bindings made at the broker.
	Bound map[Binding]bool
	// Taps are the outport queues tapped.
	Taps map[string]bool
	// Watching says a client is connected: edges are tapped for clients
	// only then.
	Watching bool
	// Hosts are the participants that are full FBP runtimes hosting a
	// graph of their own (they take connectinport/connectoutport), by
	// role.
	Hosts map[string]Host
	// Connected are the keys of the connect messages sent to hosts
	// (ConnectKey).
	Connected map[string]bool
	// Problems are the lasting problems of nodes other than waits (a
	// participant that could not start, a process that exited), by graph
	// and node: a packet for such a node waits for it, naming the
	// problem.
	Problems map[NodeKey]string

	// held are the queues of the participants the plan stops (without).
	held map[string]bool
}

// without is the snapshot as the rest of a plan that stops the in-process
// participants of roles sees it: their participants are unknown, so that
// nothing is delivered, bound or tapped for a role whose participant goes
// (a participant of another component may replace it: the next plan acts
// for that one), and the bindings of their queues are held until the next
// plan (the replacement declares the same queues).
func (s *Snapshot) without(roles []string) *Snapshot {
	if len(roles) == 0 {
		return s
	}
	out := *s
	out.Participants = make(map[string]Participant, len(s.Participants))
	for role, pt := range s.Participants {
		out.Participants[role] = pt
	}
	out.held = map[string]bool{}
	for _, role := range roles {
		pt, ok := s.Participants[role]
		if !ok {
			continue
		}
		delete(out.Participants, role)
		for _, port := range append(pt.Def.Inports[:len(pt.Def.Inports):len(pt.Def.Inports)], pt.Def.Outports...) {
			out.held[port.Queue] = true
		}
	}
	return &out
}

// NodeKey names a node of a graph.
type NodeKey struct{ Graph, Node string }

// Participant is the participant serving a role.
type Participant struct {
	// Def is its definition, which the plan only reads.
	Def *network.Definition
	// Live says it announced itself within its expiry (false: the last
	// definition of one that expired).
	Live bool
}

// Local is an in-process participant.
type Local struct {
	Component string
	// Running says it consumes (it waits until its outputs are bound).
	Running bool
	// Open says its gate lets messages through (its graph is started).
	Open bool
}

// Host is a full FBP runtime participant hosting a graph.
type Host struct {
	// Participant is its id; Graph the graph it hosts.
	Participant, Graph string
}

// Graph is a graph as the plan needs it.
type Graph struct {
	ID      string
	Started bool
	// Created orders the graphs by when they were made (created, cleared
	// or loaded): a graph made later has a larger one.
	Created uint64
	// Traced says trace:start is on: every edge's source is tapped.
	Traced bool
	Nodes  []Node
	Edges  []Edge
	// Outports are the inner ends of the graph's exported outports.
	Outports []graph.Endpoint
	// Outbox are the packets waiting to be sent, in order.
	Outbox []Packet
}

// Node is a node of a graph.
type Node struct {
	ID, Role, Component string
	// Run is what the runtime does for it (Rules.Run).
	Run Run
	// IIPs are its initial data by port (for LibraryProcess nodes only:
	// the command line of its process carries them).
	IIPs map[string]any
}

// Edge is an edge of a graph.
type Edge struct {
	Src, Tgt         graph.Endpoint
	SrcRole, TgtRole string
	// Observed says the live graph inferred it from a queue its two
	// participants share: it is never bound (the queue is the binding).
	Observed bool
	// Watched says a client watches it (network:edges, or no selection).
	Watched bool
}

// ID names the edge in messages (graph.Edge.ID).
func (e Edge) ID() string { return graph.Edge{Src: e.Src, Tgt: e.Tgt}.ID() }

// Packet is an initial packet or runtime:packet waiting to be sent.
type Packet struct {
	// Seq identifies it in its graph's outbox.
	Seq uint64
	Tgt graph.Endpoint
	// Role is the role of its target node.
	Role string
}

// Binding routes what is published on outport queue Src to inport queue
// Tgt.
type Binding struct{ Src, Tgt string }
