package runtime

import (
	"slices"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// The live main graph (msgflo's default/main): with Options.LiveGraph, the
// main graph shows the running system. Every participant discovered on the
// broker that no other graph's node accounts for appears as a node (id =
// its role, component = its component) and, as msgflo's coordinator does,
// an edge is inferred wherever one participant's outport and another's
// inport share a queue (topic); a role whose participants have all expired
// is removed again. Clients edit the graph, start and stop it, and
// auto-save writes it to the graph file.
//
// Announcements describe; they never command. The nodes and edges
// discovery adds are observations, marked so in their metadata
// (ObservedKey): the runtime never starts a participant or a process for
// an observed node and never binds an observed edge (the shared queue is
// the binding). The mark is saved with the graph, so that a graph file
// written by auto-save holds the observations as observations: loaded
// again (a later start with that file), they still start nothing. A client
// may remove the mark (graph:changenode with the key set to null): the
// node is then the client's, like any other.
//
// Edges are inferred through an index of the observed ports by queue, so
// that showing a participant costs what it announced, never what the graph
// holds; at most maxLiveEdges edges are inferred for one participant.
//
// The changes discovery makes are sent (as graph:addnode, addedge,
// removeedge, removenode) to the clients following the live graph: those
// that asked for its status (as Flowhub does when it opens the runtime's
// graph) or selected its edges. Clients working on their own graphs, such
// as test suites, are not disturbed by participants coming and going.

// ObservedKey is the metadata key that marks the nodes and edges of the
// live graph that show what the broker announced (value true).
const ObservedKey = "msgflo-observed"

// maxLiveEdges bounds the edges inferred for one participant shown in the
// live graph: a participant whose every inport and outport share one queue
// would otherwise add the product of their numbers.
const maxLiveEdges = 1000

// observed says metadata carries the observation mark.
func observed(md graph.Metadata) bool {
	v, _ := md[ObservedKey].(bool)
	return v
}

// livePort is a port of a node shown in the live graph.
type livePort struct{ node, port string }

// liveIndex holds the ports of the observed nodes by queue.
type liveIndex struct {
	in, out map[string][]livePort
	// shown are the definitions the observed nodes were shown with, by role.
	shown map[string]network.Definition
}

func newLiveIndex() liveIndex {
	return liveIndex{in: map[string][]livePort{}, out: map[string][]livePort{}, shown: map[string]network.Definition{}}
}

func (x *liveIndex) add(node string, def network.Definition) {
	x.shown[def.Role] = def
	for _, p := range def.Inports {
		if p.Queue != "" {
			x.in[p.Queue] = append(x.in[p.Queue], livePort{node, p.ID})
		}
	}
	for _, p := range def.Outports {
		if p.Queue != "" {
			x.out[p.Queue] = append(x.out[p.Queue], livePort{node, p.ID})
		}
	}
}

func (x *liveIndex) remove(role string) {
	def, ok := x.shown[role]
	if !ok {
		return
	}
	delete(x.shown, role)
	drop := func(m map[string][]livePort, ports []network.Port) {
		for _, p := range ports {
			list := slices.DeleteFunc(m[p.Queue], func(lp livePort) bool { return lp.node == role })
			if len(list) == 0 {
				delete(m, p.Queue)
			} else {
				m[p.Queue] = list
			}
		}
	}
	drop(x.in, def.Inports)
	drop(x.out, def.Outports)
}

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

// liveView is the live graph and its index. Its methods are called with
// the graph store's lock held.
type liveView struct {
	g *Graphs
	// graphID is the live main graph's id ("" without one).
	graphID string
	// index are its observed nodes' ports by queue.
	index liveIndex
	// followers are the clients that follow its changes.
	followers map[ClientID]bool
}

func newLiveView(g *Graphs) *liveView {
	return &liveView{g: g, index: newLiveIndex(), followers: map[ClientID]bool{}}
}

// graph is the live graph's state, or nil.
func (v *liveView) graph() *graphState {
	r := v.g
	if v.graphID == "" {
		return nil
	}
	return r.graphs[v.graphID]
}

func (v *liveView) emit(m wire.Message) {
	r := v.g
	to := make([]ClientID, 0, len(v.followers))
	for id := range v.followers {
		to = append(to, id)
	}
	slices.Sort(to)
	if len(to) > 0 {
		r.events.pushTo(to, m)
	}
}

// follow makes a client follow the live graph's changes when it
// asked about graphID.
func (v *liveView) follow(id ClientID, graphID string) {
	if v.graphID != "" && graphID == v.graphID {
		v.followers[id] = true
	}
}

// add shows a newly discovered participant in the live graph.
func (v *liveView) add(def network.Definition) {
	r := v.g
	gs := v.graph()
	if gs == nil || gs.hasRole(def.Role) {
		return
	}
	if r.local.has(def.Role) {
		return
	}
	if r.procs.has(def.Role) {
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
	n, err := gs.g.AddNode(def.Role, def.Component, graph.Metadata{ObservedKey: true})
	gs.changed()
	if err != nil {
		r.brokerLog.Event(r.log.Warn()).Err(err).Str("role", def.Role).Msg("cannot show a participant in the live graph")
		return
	}
	v.index.add(n.ID, def)
	r.brokerLog.Event(r.log.Info()).Str("graph", gs.g.ID).Str("role", def.Role).Msg("participant shown in the live graph")
	v.emit(wire.AddNode{ID: n.ID, Component: n.Component, Metadata: n.Metadata, Graph: gs.g.ID})
	v.edges(gs, n.ID, def)
	v.save()
}

// edges infers the edges of a node just shown: wherever one of
// its ports shares a queue with a port of an observed node (itself
// included) or of a node a client put in the live graph.
func (v *liveView) edges(gs *graphState, node string, def network.Definition) {
	r := v.g
	added := 0
	// edge adds an edge; false once the bound is reached.
	edge := func(src, out, tgt, in string) bool {
		if added >= maxLiveEdges {
			return false
		}
		if v.edge(gs, src, out, tgt, in) {
			added++
		}
		return true
	}
	if !v.indexEdges(node, def, edge) || !v.clientEdges(gs, node, def, edge) {
		r.brokerLog.Event(r.log.Warn()).Str("role", def.Role).Str("id", def.ID).Int("edges", maxLiveEdges).
			Msg("participant shares its queues with too many ports: only some of its edges are shown in the live graph")
	}
}

// indexEdges infers the edges between a node just shown (and
// indexed) and the observed nodes, through the index.
func (v *liveView) indexEdges(node string, def network.Definition, edge func(src, out, tgt, in string) bool) bool {
	for _, p := range def.Inports {
		for _, o := range v.index.out[p.Queue] {
			if !edge(o.node, o.port, node, p.ID) {
				return false
			}
		}
	}
	for _, p := range def.Outports {
		for _, i := range v.index.in[p.Queue] {
			if i.node != node && !edge(node, p.ID, i.node, i.port) { // its own loops are made above
				return false
			}
		}
	}
	return true
}

// clientEdges infers the edges between a node just shown and the
// nodes clients put in the live graph (whose participants are known).
func (v *liveView) clientEdges(gs *graphState, node string, def network.Definition, edge func(src, out, tgt, in string) bool) bool {
	r := v.g
	for _, m := range gs.g.Nodes {
		if observed(m.Metadata) {
			continue
		}
		other, _, ok := r.resolve(gs.roleOf(m.ID))
		if !ok {
			continue
		}
		for _, out := range other.Outports {
			for _, in := range def.Inports {
				if out.Queue != "" && out.Queue == in.Queue && !edge(m.ID, out.ID, node, in.ID) {
					return false
				}
			}
		}
		for _, out := range def.Outports {
			for _, in := range other.Inports {
				if out.Queue != "" && out.Queue == in.Queue && !edge(node, out.ID, m.ID, in.ID) {
					return false
				}
			}
		}
	}
	return true
}

// edge adds an observed edge, unless there is one already (or a
// node is gone); it reports whether it added one.
func (v *liveView) edge(gs *graphState, src, out, tgt, in string) bool {
	s, t := graph.Endpoint{Node: src, Port: out}, graph.Endpoint{Node: tgt, Port: in}
	if gs.g.Edge(s, t) != nil {
		return false
	}
	e, err := gs.g.AddEdge(s, t, graph.Metadata{ObservedKey: true})
	gs.changed()
	if err != nil {
		return false
	}
	v.emit(wire.AddEdge{Src: wire.RefOf(e.Src), Tgt: wire.RefOf(e.Tgt), Metadata: e.Metadata, Graph: gs.g.ID})
	return true
}

// remove takes a role whose participants are all gone out of the
// live graph, if discovery put it there.
func (v *liveView) remove(role string) {
	r := v.g
	gs := v.graph()
	if gs == nil || r.dir.Live(role) {
		return
	}
	v.index.remove(role)
	if n := gs.g.Node(role); n == nil || !observed(n.Metadata) {
		return
	}
	removed, err := gs.g.RemoveNode(role)
	gs.changed()
	if err != nil {
		return
	}
	for _, e := range removed.Edges {
		v.emit(wire.RemoveEdge{Src: wire.RefOf(e.Src), Tgt: wire.RefOf(e.Tgt), Graph: gs.g.ID})
	}
	for _, i := range removed.IIPs {
		gs.dropDelivery(i)
		v.emit(wire.RemoveInitial{Src: wire.IIPData{Data: i.Data}, Tgt: wire.RefOf(i.Tgt), Graph: gs.g.ID})
	}
	for _, x := range removed.Inports {
		v.emit(wire.RemoveInport{Public: x.Public, Graph: gs.g.ID})
	}
	for _, x := range removed.Outports {
		v.emit(wire.RemoveOutport{Public: x.Public, Graph: gs.g.ID})
	}
	gs.setOutbox(dropTarget(gs.outbox, role))
	v.emit(wire.RemoveNode{ID: role, Graph: gs.g.ID})
	v.save()
}

// save saves the live graph when it is the main graph and saved
// automatically.
func (v *liveView) save() {
	r := v.g
	if r.persist != nil && r.opts.AutoSave && v.graphID == r.mainGraph {
		r.persist.enqueue(true, nil)
	}
}
