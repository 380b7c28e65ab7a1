package runtime

import (
	"fmt"
	"strings"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// The graph edits. Each one changes the desired graph, broadcasts its
// acknowledgement (built from the graph's state) to every client, and lets
// the reconciler bring the broker in line. A failed edit changes nothing and
// returns an error for the requesting client only.

// Clear creates (or empties) a graph.
func (r *Graphs) Clear(p wire.Clear) error {
	if p.ID == "" {
		return ErrNoGraph
	}
	r.mu.Lock()
	g := graph.New(p.ID)
	g.Name, g.Library, g.Icon, g.Description, g.Main = p.Name, p.Library, p.Icon, p.Description, p.Main
	r.setGraphLocked(r.newGraphState(g))
	if p.ID == r.live.graphID {
		r.live.index = newLiveIndex() // emptied: discovery adds what it finds again
	}
	if p.Main {
		r.mainGraph = p.ID
	} else if r.mainGraph == p.ID {
		r.mainGraph = ""
	}
	return r.commitLocked(p.ID, func() error {
		r.emit(wire.Clear{ID: g.ID, Name: g.Name, Library: g.Library, Main: g.Main, Icon: g.Icon, Description: g.Description})
		return nil
	})
}

// commitLocked makes a change (which emits its acknowledgements) and
// unlocks. With auto-save on and the main graph changed, the
// acknowledgements are held until the save including the change is on
// disk; a change that fails is not saved.
func (r *Graphs) commitLocked(graphID string, edit func() error) error {
	change := func() error {
		defer r.graphs[graphID].changed()
		return edit()
	}
	r.edits.Add(1)
	r.poke()
	r.opts.Metrics.GraphEdit()
	if r.persist == nil || !r.opts.AutoSave || graphID != r.mainGraph {
		err := change()
		r.mu.Unlock()
		r.events.flush()
		return err
	}
	var buf []Event
	r.buffer = &buf
	err := change()
	r.buffer = nil
	if err != nil {
		r.events.pushAll(buf) // whatever changed before the failure
		r.mu.Unlock()
		r.events.flush()
		return err
	}
	v := r.persist.enqueue(true, buf)
	r.mu.Unlock()
	// A failed save has been reported to every client; the edit stands.
	_ = r.persist.wait(v)
	return nil
}

// LoadGraph installs a whole graph (from a file) and optionally starts it.
func (r *Graphs) LoadGraph(g *graph.Graph, main, start bool) {
	defer r.events.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	g.Main = main
	gs := r.newGraphState(g)
	r.setGraphLocked(gs)
	if main {
		r.mainGraph = g.ID
		if r.opts.LiveGraph {
			r.live.graphID = g.ID
		}
	}
	if start {
		r.startLocked(gs)
	}
	r.poke()
}

func (r *Graphs) edit(id string, fn func(gs *graphState) error) error {
	r.mu.Lock()
	gs, err := r.graphLocked(id)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	return r.commitLocked(id, func() error { return fn(gs) })
}

// AddNode adds a node; a node whose component the runtime runs in-process
// gets a participant under the node's id as role.
func (r *Graphs) AddNode(p wire.AddNode) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		n, err := gs.g.AddNode(p.ID, p.Component, p.Metadata)
		if err != nil {
			return err
		}
		r.emit(wire.AddNode{ID: n.ID, Component: n.Component, Metadata: n.Metadata, Graph: gs.g.ID})
		return nil
	})
}

// RemoveNode removes a node, announcing the removal of its edges, IIPs and
// exported ports first.
func (r *Graphs) RemoveNode(p wire.RemoveNode) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		removed, err := gs.g.RemoveNode(p.ID)
		if err != nil {
			return err
		}
		id := gs.g.ID
		for _, e := range removed.Edges {
			r.emit(wire.RemoveEdge{Src: wire.RefOf(e.Src), Tgt: wire.RefOf(e.Tgt), Graph: id})
		}
		for _, i := range removed.IIPs {
			gs.dropDelivery(i)
			r.emit(wire.RemoveInitial{Src: wire.IIPData{Data: i.Data}, Tgt: wire.RefOf(i.Tgt), Graph: id})
		}
		for _, x := range removed.Inports {
			r.emit(wire.RemoveInport{Public: x.Public, Graph: id})
		}
		for _, x := range removed.Outports {
			r.emit(wire.RemoveOutport{Public: x.Public, Graph: id})
		}
		gs.setOutbox(dropTarget(gs.outbox, p.ID))
		r.emit(wire.RemoveNode{ID: p.ID, Graph: id})
		if len(removed.Inports)+len(removed.Outports) > 0 {
			r.emit(gs.ports(r.catalog))
		}
		return nil
	})
}

// RenameNode renames a node; its edges, IIPs and exported ports follow. In
// msgflo the node id is the participant's role, so the node is served by the
// participant of the new role from now on.
func (r *Graphs) RenameNode(p wire.RenameNode) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		exported := false
		for _, x := range append(gs.g.Inports[:len(gs.g.Inports):len(gs.g.Inports)], gs.g.Outports...) {
			exported = exported || x.Node == p.From
		}
		if err := gs.g.RenameNode(p.From, p.To); err != nil {
			return err
		}
		for _, d := range gs.outbox {
			if d.tgt.Node == p.From {
				d.tgt.Node = p.To
			}
		}
		r.emit(wire.RenameNode{From: p.From, To: p.To, Graph: gs.g.ID})
		if exported {
			r.emit(gs.ports(r.catalog))
		}
		return nil
	})
}

// ChangeNode merges metadata into a node's.
func (r *Graphs) ChangeNode(p wire.ChangeNode) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		md, err := gs.g.ChangeNode(p.ID, p.Metadata)
		if err != nil {
			return err
		}
		r.emit(wire.ChangeNode{ID: p.ID, Metadata: md, Graph: gs.g.ID})
		return nil
	})
}

// checkPort refuses a port the node's component is known not to have.
func (gs *graphState) checkPort(cat *catalog, ep graph.Endpoint, out bool) error {
	g := gs.g
	n := g.Node(ep.Node)
	if n == nil {
		return &graph.Error{Kind: graph.ErrNodeNotFound, Msg: fmt.Sprintf("Node %s not found in graph %s", ep.Node, g.ID)}
	}
	return cat.checkPort(n, ep.Port, out)
}

// AddEdge connects two nodes.
func (r *Graphs) AddEdge(p wire.AddEdge) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		src, tgt := p.Src.Endpoint(), p.Tgt.Endpoint()
		if err := gs.checkPort(r.catalog, src, true); err != nil {
			return err
		}
		if err := gs.checkPort(r.catalog, tgt, false); err != nil {
			return err
		}
		e, err := gs.g.AddEdge(src, tgt, p.Metadata)
		if err != nil {
			return err
		}
		r.emit(wire.AddEdge{Src: wire.RefOf(e.Src), Tgt: wire.RefOf(e.Tgt), Metadata: e.Metadata, Graph: gs.g.ID})
		return nil
	})
}

// RemoveEdge disconnects two nodes.
func (r *Graphs) RemoveEdge(p wire.RemoveEdge) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		e, err := gs.g.RemoveEdge(p.Src.Endpoint(), p.Tgt.Endpoint())
		if err != nil {
			return err
		}
		r.emit(wire.RemoveEdge{Src: wire.RefOf(e.Src), Tgt: wire.RefOf(e.Tgt), Graph: gs.g.ID})
		return nil
	})
}

// ChangeEdge merges metadata into an edge's.
func (r *Graphs) ChangeEdge(p wire.ChangeEdge) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		e, err := gs.g.ChangeEdge(p.Src.Endpoint(), p.Tgt.Endpoint(), p.Metadata)
		if err != nil {
			return err
		}
		r.emit(wire.ChangeEdge{Src: wire.RefOf(e.Src), Tgt: wire.RefOf(e.Tgt), Metadata: e.Metadata, Graph: gs.g.ID})
		return nil
	})
}

// AddInitial adds an IIP; a running network sends it at once.
func (r *Graphs) AddInitial(p wire.AddInitial) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		tgt := p.Tgt.Endpoint()
		if err := gs.checkPort(r.catalog, tgt, false); err != nil {
			return err
		}
		data := p.Src.Data
		if data != nil {
			data = network.AsJSON(data) // JSON text as sent, in UTF-8
		}
		i, err := gs.g.AddInitial(data, tgt, p.Metadata)
		if err != nil {
			return err
		}
		r.emit(wire.AddInitial{Src: wire.IIPData{Data: i.Data}, Tgt: wire.RefOf(i.Tgt), Metadata: i.Metadata, Graph: gs.g.ID})
		reset := gs.resetIIPs[iipKey(i)]
		gs.resetIIPs = nil
		if gs.started && reset {
			r.log.Debug().Str("graph", gs.g.ID).Str("port", i.Tgt.String()).Msg("initial packet set again to the value already sent in this start; not sent again")
		} else if gs.started {
			if err := gs.queueIIP(i); err != nil {
				r.problems.graphError("iip:"+gs.g.ID+":"+i.ID(), gs.g.ID, err.Error())
			}
		}
		return nil
	})
}

// RemoveInitial removes the IIPs to a port; the reply carries the removed data.
func (r *Graphs) RemoveInitial(p wire.RemoveInitial) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		removed, err := gs.g.RemoveInitial(p.Tgt.Endpoint())
		if err != nil {
			return err
		}
		for _, i := range removed {
			if gs.started && !gs.pending(i) {
				if gs.resetIIPs == nil {
					gs.resetIIPs = map[string]bool{}
				}
				gs.resetIIPs[iipKey(i)] = true
			}
			gs.dropDelivery(i)
		}
		first := removed[0]
		r.emit(wire.RemoveInitial{Src: wire.IIPData{Data: first.Data}, Tgt: wire.RefOf(first.Tgt), Graph: gs.g.ID})
		return nil
	})
}

// The messages of exported ports: which one depends on the port's kind.

func addedExport(k graph.PortKind, p wire.ExportedPort) wire.Message {
	if k == graph.In {
		return wire.AddInport(p)
	}
	return wire.AddOutport(p)
}

func removedExport(k graph.PortKind, p wire.PublicPort) wire.Message {
	if k == graph.In {
		return wire.RemoveInport(p)
	}
	return wire.RemoveOutport(p)
}

func renamedExport(k graph.PortKind, p wire.Rename) wire.Message {
	if k == graph.In {
		return wire.RenameInport(p)
	}
	return wire.RenameOutport(p)
}

// AddExported exports a node's port as a port of the graph.
func (r *Graphs) AddExported(k graph.PortKind, p wire.ExportedPort) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		if err := gs.checkPort(r.catalog, graph.Endpoint{Node: p.Node, Port: p.Port}, k == graph.Out); err != nil {
			return err
		}
		x, err := gs.g.AddExported(k, p.Public, p.Node, p.Port, p.Metadata)
		if err != nil {
			return err
		}
		r.emit(addedExport(k, wire.ExportedPort{Public: x.Public, Node: x.Node, Port: x.Port, Metadata: x.Metadata, Graph: gs.g.ID}))
		r.emit(gs.ports(r.catalog))
		return nil
	})
}

// RemoveExported removes an exported port.
func (r *Graphs) RemoveExported(k graph.PortKind, p wire.PublicPort) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		x, err := gs.g.RemoveExported(k, p.Public)
		if err != nil {
			return err
		}
		r.emit(removedExport(k, wire.PublicPort{Public: x.Public, Graph: gs.g.ID}))
		r.emit(gs.ports(r.catalog))
		return nil
	})
}

// RenameExported renames an exported port.
func (r *Graphs) RenameExported(k graph.PortKind, p wire.Rename) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		if err := gs.g.RenameExported(k, p.From, p.To); err != nil {
			return err
		}
		r.emit(renamedExport(k, wire.Rename{From: p.From, To: p.To, Graph: gs.g.ID}))
		r.emit(gs.ports(r.catalog))
		return nil
	})
}

// AddGroup adds a group of nodes.
func (r *Graphs) AddGroup(p wire.AddGroup) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		grp, err := gs.g.AddGroup(p.Name, p.Nodes, p.Metadata)
		if err != nil {
			return err
		}
		r.emit(wire.AddGroup{Name: grp.Name, Nodes: grp.Nodes, Metadata: grp.Metadata, Graph: gs.g.ID})
		return nil
	})
}

// RemoveGroup removes a group.
func (r *Graphs) RemoveGroup(p wire.RemoveGroup) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		if err := gs.g.RemoveGroup(p.Name); err != nil {
			return err
		}
		r.emit(wire.RemoveGroup{Name: p.Name, Graph: gs.g.ID})
		return nil
	})
}

// RenameGroup renames a group.
func (r *Graphs) RenameGroup(p wire.RenameGroup) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		if err := gs.g.RenameGroup(p.From, p.To); err != nil {
			return err
		}
		r.emit(wire.RenameGroup{From: p.From, To: p.To, Graph: gs.g.ID})
		return nil
	})
}

// ChangeGroup merges metadata into a group's.
func (r *Graphs) ChangeGroup(p wire.ChangeGroup) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		md, err := gs.g.ChangeGroup(p.Name, p.Metadata)
		if err != nil {
			return err
		}
		r.emit(wire.ChangeGroup{Name: p.Name, Metadata: md, Graph: gs.g.ID})
		return nil
	})
}

// ports builds runtime:ports for a graph from its exported ports,
// typed from the components when known.
func (gs *graphState) ports(cat *catalog) wire.Ports {
	build := func(k graph.PortKind, list []*graph.ExportedPort) []wire.PortDef {
		out := make([]wire.PortDef, 0, len(list))
		for _, x := range list {
			def := wire.PortDef{ID: x.Public, Type: "all"}
			if n := gs.g.Node(x.Node); n != nil {
				def = cat.portDef(def, n.Component, x.Port, k == graph.Out)
			}
			out = append(out, def)
		}
		return out
	}
	return wire.Ports{Graph: gs.g.ID, InPorts: build(graph.In, gs.g.Inports), OutPorts: build(graph.Out, gs.g.Outports)}
}

// Ports returns runtime:ports for a graph.
func (r *Graphs) Ports(graphID string) (wire.Ports, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return wire.Ports{}, err
	}
	return gs.ports(r.catalog), nil
}

func lower(s string) string { return strings.ToLower(s) }
