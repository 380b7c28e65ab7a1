package runtime

import (
	"slices"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
)

// The live main graph (msgflo's default/main): with Options.LiveGraph, the
// main graph shows the running system. Every participant discovered on the
// broker that no other graph's node accounts for appears as a node (id =
// its role, component = its component) and, as msgflo's coordinator does,
// an edge is inferred wherever one participant's outport and another's
// inport share a queue (topic); a role whose participants have all expired
// is removed again. The graph is otherwise a graph like any other: clients
// edit it, start and stop it, and auto-save writes it to the graph file.
//
// The changes discovery makes are sent (as graph:addnode, addedge,
// removeedge, removenode) to the clients following the live graph: those
// that asked for its status (as Flowhub does when it opens the runtime's
// graph) or selected its edges. Clients working on their own graphs, such
// as test suites, are not disturbed by participants coming and going.

// LiveGraphID is the id of the live main graph of a runtime started
// without a graph file (msgflo's).
const LiveGraphID = "default/main"

// NewLiveGraph is the empty live main graph for a runtime without a graph
// file.
func NewLiveGraph() *graph.Graph {
	g := graph.New(LiveGraphID)
	g.Name, g.Library = "main", "default"
	return g
}

// liveGraphLocked is the live graph's state, or nil.
func (r *Runtime) liveGraphLocked() *graphState {
	if r.liveGraph == "" {
		return nil
	}
	return r.graphs[r.liveGraph]
}

func (r *Runtime) emitLive(command string, payload any) {
	to := make([]ClientID, 0, len(r.liveWatchers))
	for id := range r.liveWatchers {
		to = append(to, id)
	}
	slices.Sort(to)
	if len(to) > 0 {
		r.emitTo(to, "graph", command, payload)
	}
}

// followLiveLocked makes a client follow the live graph's changes when it
// asked about graphID.
func (r *Runtime) followLiveLocked(id ClientID, graphID string) {
	if r.liveGraph != "" && graphID == r.liveGraph {
		r.liveWatchers[id] = true
	}
}

// liveAddLocked shows a newly discovered participant in the live graph.
func (r *Runtime) liveAddLocked(def network.Definition) {
	gs := r.liveGraphLocked()
	if gs == nil || gs.hasRole(def.Role) {
		return
	}
	if _, local := r.local[def.Role]; local {
		return
	}
	if _, proc := r.procs[def.Role]; proc {
		return
	}
	for _, other := range r.graphs {
		if other != gs && other.hasRole(def.Role) {
			return // a node of another graph: it belongs there
		}
	}
	if gs.g.Node(def.Role) != nil {
		return // a node whose role is another (its id is not safe)
	}
	// No label: editors show the node id, the role, which tells the
	// instances apart (a definition's label describes its component, e.g.
	// msgflo-nodejs's "Repeats in data without changes").
	n, err := gs.g.AddNode(def.Role, def.Component, graph.Metadata{})
	if err != nil {
		r.log.Warn().Err(err).Str("role", def.Role).Msg("cannot show a participant in the live graph")
		return
	}
	r.liveNodes[def.Role] = true
	r.log.Info().Str("graph", gs.g.ID).Str("role", def.Role).Msg("participant shown in the live graph")
	r.emitLive("addnode", NodePayload{ID: n.ID, Component: n.Component, Metadata: n.Metadata, Graph: gs.g.ID})
	// Edges where a queue is shared with a participant shown already.
	for _, m := range gs.g.Nodes {
		other, ok := r.resolveLocked(gs.roleOf(m.ID))
		if !ok {
			continue
		}
		if m.ID == n.ID {
			other = def
		}
		for _, out := range other.Outports {
			for _, in := range def.Inports {
				r.liveEdgeLocked(gs, m.ID, out, n.ID, in)
			}
		}
		if m.ID == n.ID {
			continue
		}
		for _, out := range def.Outports {
			for _, in := range other.Inports {
				r.liveEdgeLocked(gs, n.ID, out, m.ID, in)
			}
		}
	}
	r.liveSaveLocked()
}

func (r *Runtime) liveEdgeLocked(gs *graphState, src string, out network.Port, tgt string, in network.Port) {
	if out.Queue == "" || out.Queue != in.Queue {
		return
	}
	s, t := graph.Endpoint{Node: src, Port: out.ID}, graph.Endpoint{Node: tgt, Port: in.ID}
	if gs.g.Edge(s, t) != nil {
		return
	}
	e, err := gs.g.AddEdge(s, t, nil)
	if err != nil {
		return
	}
	r.emitLive("addedge", EdgePayload{Src: portRef(e.Src), Tgt: portRef(e.Tgt), Metadata: e.Metadata, Graph: gs.g.ID})
}

// liveRemoveLocked takes a role whose participants are all gone out of the
// live graph, if discovery put it there.
func (r *Runtime) liveRemoveLocked(role string) {
	gs := r.liveGraphLocked()
	if gs == nil || !r.liveNodes[role] || len(r.registry.ByRole(role)) > 0 || gs.g.Node(role) == nil {
		return
	}
	delete(r.liveNodes, role)
	removed, err := gs.g.RemoveNode(role)
	if err != nil {
		return
	}
	for _, e := range removed.Edges {
		r.emitLive("removeedge", EdgePayload{Src: portRef(e.Src), Tgt: portRef(e.Tgt), Graph: gs.g.ID})
	}
	for _, i := range removed.IIPs {
		gs.dropDelivery(i)
		r.emitLive("removeinitial", InitialPayload{Src: IIPData{Data: i.Data}, Tgt: portRef(i.Tgt), Graph: gs.g.ID})
	}
	for _, x := range removed.Inports {
		r.emitLive("removeinport", PublicPayload{Public: x.Public, Graph: gs.g.ID})
	}
	for _, x := range removed.Outports {
		r.emitLive("removeoutport", PublicPayload{Public: x.Public, Graph: gs.g.ID})
	}
	gs.setOutbox(dropTarget(gs.outbox, role))
	r.emitLive("removenode", NodeIDPayload{ID: role, Graph: gs.g.ID})
	r.liveSaveLocked()
}

// liveSaveLocked saves the live graph when it is the main graph and saved
// automatically.
func (r *Runtime) liveSaveLocked() {
	if r.persist != nil && r.opts.AutoSave && r.liveGraph == r.mainGraph {
		r.persist.enqueue(true, nil)
	}
}
