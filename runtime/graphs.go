package runtime

import (
	"fmt"
	"strings"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
)

// The graph edits. Each one changes the desired graph, broadcasts its
// acknowledgement (built from the graph's state) to every client, and lets
// the reconciler bring the broker in line. A failed edit changes nothing and
// returns an error for the requesting client only.

// Clear creates (or empties) a graph.
func (r *Runtime) Clear(p ClearPayload) error {
	if p.ID == "" {
		return ErrNoGraph
	}
	r.mu.Lock()
	g := graph.New(p.ID)
	g.Name, g.Library, g.Icon, g.Description, g.Main = p.Name, p.Library, p.Icon, p.Description, p.Main
	r.graphs[p.ID] = r.newGraphState(g)
	if p.ID == r.liveGraph {
		clear(r.liveNodes) // emptied: discovery adds what it finds again
	}
	if p.Main {
		r.mainGraph = p.ID
	} else if r.mainGraph == p.ID {
		r.mainGraph = ""
	}
	return r.commitLocked(p.ID, func() error {
		r.emit("graph", "clear", ClearPayload{ID: g.ID, Name: g.Name, Library: g.Library, Main: g.Main, Icon: g.Icon, Description: g.Description})
		return nil
	})
}

// commitLocked makes a change (which emits its acknowledgements) and
// unlocks. With auto-save on and the main graph changed, the
// acknowledgements are held until the save including the change is on
// disk; a change that fails is not saved.
func (r *Runtime) commitLocked(graphID string, change func() error) error {
	r.poke()
	r.opts.Metrics.GraphEdit()
	if r.persist == nil || !r.opts.AutoSave || graphID != r.mainGraph {
		defer r.mu.Unlock()
		return change()
	}
	var buf []Event
	r.buffer = &buf
	err := change()
	r.buffer = nil
	if err != nil {
		for _, ev := range buf { // whatever changed before the failure
			r.sink.Broadcast(ev)
		}
		r.mu.Unlock()
		return err
	}
	v := r.persist.enqueue(true, buf)
	r.mu.Unlock()
	// A failed save has been reported to every client; the edit stands.
	_ = r.persist.wait(v)
	return nil
}

// LoadGraph installs a whole graph (from a file) and optionally starts it.
func (r *Runtime) LoadGraph(g *graph.Graph, main, start bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g.Main = main
	gs := r.newGraphState(g)
	r.graphs[g.ID] = gs
	if main {
		r.mainGraph = g.ID
		if r.opts.LiveGraph {
			r.liveGraph = g.ID
		}
	}
	if start {
		r.startLocked(gs)
	}
	r.poke()
}

func (r *Runtime) edit(id string, fn func(gs *graphState) error) error {
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
func (r *Runtime) AddNode(p NodePayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		n, err := gs.g.AddNode(p.ID, p.Component, p.Metadata)
		if err != nil {
			return err
		}
		r.emit("graph", "addnode", NodePayload{ID: n.ID, Component: n.Component, Metadata: n.Metadata, Graph: gs.g.ID})
		return nil
	})
}

// RemoveNode removes a node, announcing the removal of its edges, IIPs and
// exported ports first.
func (r *Runtime) RemoveNode(p NodeIDPayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		removed, err := gs.g.RemoveNode(p.ID)
		if err != nil {
			return err
		}
		id := gs.g.ID
		for _, e := range removed.Edges {
			r.emit("graph", "removeedge", EdgePayload{Src: portRef(e.Src), Tgt: portRef(e.Tgt), Graph: id})
		}
		for _, i := range removed.IIPs {
			gs.dropDelivery(i)
			r.emit("graph", "removeinitial", InitialPayload{Src: IIPData{Data: i.Data}, Tgt: portRef(i.Tgt), Graph: id})
		}
		for _, x := range removed.Inports {
			r.emit("graph", "removeinport", PublicPayload{Public: x.Public, Graph: id})
		}
		for _, x := range removed.Outports {
			r.emit("graph", "removeoutport", PublicPayload{Public: x.Public, Graph: id})
		}
		gs.setOutbox(dropTarget(gs.outbox, p.ID))
		r.emit("graph", "removenode", NodeIDPayload{ID: p.ID, Graph: id})
		if len(removed.Inports)+len(removed.Outports) > 0 {
			r.emit("runtime", "ports", r.portsLocked(gs))
		}
		return nil
	})
}

// RenameNode renames a node; its edges, IIPs and exported ports follow. In
// msgflo the node id is the participant's role, so the node is served by the
// participant of the new role from now on.
func (r *Runtime) RenameNode(p RenamePayload) error {
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
		r.emit("graph", "renamenode", RenamePayload{From: p.From, To: p.To, Graph: gs.g.ID})
		if exported {
			r.emit("runtime", "ports", r.portsLocked(gs))
		}
		return nil
	})
}

// ChangeNode merges metadata into a node's.
func (r *Runtime) ChangeNode(p ChangeNodePayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		md, err := gs.g.ChangeNode(p.ID, p.Metadata)
		if err != nil {
			return err
		}
		r.emit("graph", "changenode", ChangeNodePayload{ID: p.ID, Metadata: md, Graph: gs.g.ID})
		return nil
	})
}

// checkPortLocked refuses a port the node's component is known not to have.
func (r *Runtime) checkPortLocked(g *graph.Graph, ep graph.Endpoint, out bool) error {
	n := g.Node(ep.Node)
	if n == nil {
		return &graph.Error{Kind: graph.ErrNodeNotFound, Msg: fmt.Sprintf("Node %s not found in graph %s", ep.Node, g.ID)}
	}
	c, ok := r.components[n.Component]
	if !ok {
		return nil
	}
	if has, known := c.hasPort(out, ep.Port); known && !has {
		kind := "inport"
		if out {
			kind = "outport"
		}
		return &graph.Error{Kind: graph.ErrInvalid, Msg: fmt.Sprintf("Component %s of node %s has no %s %s", n.Component, n.ID, kind, ep.Port)}
	}
	return nil
}

// AddEdge connects two nodes.
func (r *Runtime) AddEdge(p EdgePayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		src, tgt := p.Src.Endpoint(), p.Tgt.Endpoint()
		if err := r.checkPortLocked(gs.g, src, true); err != nil {
			return err
		}
		if err := r.checkPortLocked(gs.g, tgt, false); err != nil {
			return err
		}
		e, err := gs.g.AddEdge(src, tgt, p.Metadata)
		if err != nil {
			return err
		}
		r.emit("graph", "addedge", EdgePayload{Src: portRef(e.Src), Tgt: portRef(e.Tgt), Metadata: e.Metadata, Graph: gs.g.ID})
		return nil
	})
}

// RemoveEdge disconnects two nodes.
func (r *Runtime) RemoveEdge(p EdgePayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		e, err := gs.g.RemoveEdge(p.Src.Endpoint(), p.Tgt.Endpoint())
		if err != nil {
			return err
		}
		r.emit("graph", "removeedge", EdgePayload{Src: portRef(e.Src), Tgt: portRef(e.Tgt), Graph: gs.g.ID})
		return nil
	})
}

// ChangeEdge merges metadata into an edge's.
func (r *Runtime) ChangeEdge(p EdgePayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		e, err := gs.g.ChangeEdge(p.Src.Endpoint(), p.Tgt.Endpoint(), p.Metadata)
		if err != nil {
			return err
		}
		r.emit("graph", "changeedge", EdgePayload{Src: portRef(e.Src), Tgt: portRef(e.Tgt), Metadata: e.Metadata, Graph: gs.g.ID})
		return nil
	})
}

// AddInitial adds an IIP; a running network sends it at once.
func (r *Runtime) AddInitial(p InitialPayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		tgt := p.Tgt.Endpoint()
		if err := r.checkPortLocked(gs.g, tgt, false); err != nil {
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
		r.emit("graph", "addinitial", InitialPayload{Src: IIPData{Data: i.Data}, Tgt: portRef(i.Tgt), Metadata: i.Metadata, Graph: gs.g.ID})
		reset := gs.resetIIPs[iipKey(i)]
		gs.resetIIPs = nil
		if gs.started && reset {
			r.log.Debug().Str("graph", gs.g.ID).Str("port", i.Tgt.String()).Msg("initial packet set again to the value already sent in this start; not sent again")
		} else if gs.started {
			if err := gs.queueIIP(i); err != nil {
				r.networkErrorLocked("iip:"+gs.g.ID+":"+i.ID(), gs.g.ID, err.Error())
			}
		}
		return nil
	})
}

// RemoveInitial removes the IIPs to a port; the reply carries the removed data.
func (r *Runtime) RemoveInitial(p InitialPayload) error {
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
		r.emit("graph", "removeinitial", InitialPayload{Src: IIPData{Data: first.Data}, Tgt: portRef(first.Tgt), Graph: gs.g.ID})
		return nil
	})
}

func commandFor(verb string, k graph.PortKind) string {
	if k == graph.In {
		return verb + "inport"
	}
	return verb + "outport"
}

// AddExported exports a node's port as a port of the graph.
func (r *Runtime) AddExported(k graph.PortKind, p ExportPayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		if err := r.checkPortLocked(gs.g, graph.Endpoint{Node: p.Node, Port: p.Port}, k == graph.Out); err != nil {
			return err
		}
		x, err := gs.g.AddExported(k, p.Public, p.Node, p.Port, p.Metadata)
		if err != nil {
			return err
		}
		r.emit("graph", commandFor("add", k), ExportPayload{Public: x.Public, Node: x.Node, Port: x.Port, Metadata: x.Metadata, Graph: gs.g.ID})
		r.emit("runtime", "ports", r.portsLocked(gs))
		return nil
	})
}

// RemoveExported removes an exported port.
func (r *Runtime) RemoveExported(k graph.PortKind, p PublicPayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		x, err := gs.g.RemoveExported(k, p.Public)
		if err != nil {
			return err
		}
		r.emit("graph", commandFor("remove", k), PublicPayload{Public: x.Public, Graph: gs.g.ID})
		r.emit("runtime", "ports", r.portsLocked(gs))
		return nil
	})
}

// RenameExported renames an exported port.
func (r *Runtime) RenameExported(k graph.PortKind, p RenamePayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		if err := gs.g.RenameExported(k, p.From, p.To); err != nil {
			return err
		}
		r.emit("graph", commandFor("rename", k), RenamePayload{From: p.From, To: p.To, Graph: gs.g.ID})
		r.emit("runtime", "ports", r.portsLocked(gs))
		return nil
	})
}

// AddGroup adds a group of nodes.
func (r *Runtime) AddGroup(p GroupPayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		grp, err := gs.g.AddGroup(p.Name, p.Nodes, p.Metadata)
		if err != nil {
			return err
		}
		r.emit("graph", "addgroup", GroupPayload{Name: grp.Name, Nodes: grp.Nodes, Metadata: grp.Metadata, Graph: gs.g.ID})
		return nil
	})
}

// RemoveGroup removes a group.
func (r *Runtime) RemoveGroup(p GroupNamePayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		if err := gs.g.RemoveGroup(p.Name); err != nil {
			return err
		}
		r.emit("graph", "removegroup", GroupNamePayload{Name: p.Name, Graph: gs.g.ID})
		return nil
	})
}

// RenameGroup renames a group.
func (r *Runtime) RenameGroup(p RenamePayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		if err := gs.g.RenameGroup(p.From, p.To); err != nil {
			return err
		}
		r.emit("graph", "renamegroup", RenamePayload{From: p.From, To: p.To, Graph: gs.g.ID})
		return nil
	})
}

// ChangeGroup merges metadata into a group's.
func (r *Runtime) ChangeGroup(p ChangeGroupPayload) error {
	return r.edit(p.Graph, func(gs *graphState) error {
		md, err := gs.g.ChangeGroup(p.Name, p.Metadata)
		if err != nil {
			return err
		}
		r.emit("graph", "changegroup", ChangeGroupPayload{Name: p.Name, Metadata: md, Graph: gs.g.ID})
		return nil
	})
}

// portsLocked builds runtime:ports for a graph from its exported ports,
// typed from the components when known.
func (r *Runtime) portsLocked(gs *graphState) PortsPayload {
	build := func(k graph.PortKind, list []*graph.ExportedPort) []PortDef {
		out := make([]PortDef, 0, len(list))
		for _, x := range list {
			def := PortDef{ID: x.Public, Type: "all"}
			if n := gs.g.Node(x.Node); n != nil {
				if c, ok := r.components[n.Component]; ok {
					ports := c.inports
					if k == graph.Out {
						ports = c.outports
					}
					for _, cp := range ports {
						if strings.EqualFold(cp.ID, x.Port) {
							if cp.Type != "" {
								def.Type = cp.Type
							}
							def.Description = cp.Description
						}
					}
				}
			}
			out = append(out, def)
		}
		return out
	}
	return PortsPayload{Graph: gs.g.ID, InPorts: build(graph.In, gs.g.Inports), OutPorts: build(graph.Out, gs.g.Outports)}
}

// Ports returns runtime:ports for a graph.
func (r *Runtime) Ports(graphID string) (PortsPayload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return PortsPayload{}, err
	}
	return r.portsLocked(gs), nil
}

func lower(s string) string { return strings.ToLower(s) }
