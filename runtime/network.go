package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// Network semantics (as msgflo): a graph's edges are bound in the broker as
// soon as both ends are known, started or not. Starting a graph sends its
// IIPs and lets its in-process participants take messages; stopping it
// pauses them (messages wait in their queues) and unbinds nothing.
// Participants in other processes run whatever the graph's state.

// Info is what runtime:runtime reports besides capabilities.
type Info struct {
	ID, Label, Namespace, Repository string
	MainGraph                        string
	// MainIsLive says the main graph is the live view of the participants
	// on the broker (Options.LiveGraph).
	MainIsLive bool
}

// Info returns the runtime's identity and main graph.
func (r *Runtime) Info() Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Info{ID: r.opts.ID, Label: r.opts.Label, Namespace: r.opts.Namespace, Repository: r.opts.Repository, MainGraph: r.mainGraph, MainIsLive: r.mainGraph != "" && r.mainGraph == r.live.graphID}
}

// running is network:status's "running": the graph is started and
// data can still arrive in it: packets wait to be delivered, or it has
// exported inports, or one of its nodes is served by a participant that may
// send on its own (another process, or a built-in component without
// inports). A started graph of built-in nodes fed only by initial packets
// has finished once they are delivered, as a NoFlo network has (the FBP
// compliance suite expects running:false then).
func (gs *graphState) running(cat *catalog) bool {
	if !gs.started {
		return false
	}
	if gs.blocked > 0 && gs.blocked == len(gs.outbox) {
		return false // everything it has to deliver waits for a node that cannot run
	}
	if len(gs.outbox) > 0 || len(gs.g.Inports) > 0 {
		return true
	}
	for _, n := range gs.g.Nodes {
		if b := cat.builtin(n.Component); b == nil || len(b.Inports) == 0 {
			return true
		}
	}
	return false
}

// queueIIP sends the IIP's JSON text as the graph holds it.
func (gs *graphState) queueIIP(i *graph.IIP) error {
	return gs.push(&delivery{tgt: i.Tgt, data: i.Data, iip: i})
}

// ErrOutboxFull is wrapped by the errors of packets refused because their
// graph's outbox is full.
var ErrOutboxFull = errors.New("outbox full")

// push appends a packet to the outbox, unless that would take the bytes
// waiting there beyond the graph's limit: the packet is then refused (with
// an error naming the graph and the port), never held silently.
func (gs *graphState) push(d *delivery) error {
	if gs.maxBytes > 0 && gs.bytes+len(d.data) > gs.maxBytes {
		return fmt.Errorf("Graph %s: packet to %s refused: %d bytes already wait to be sent in this graph and the limit is %d (--max-pending-bytes): %w",
			gs.g.ID, d.tgt, gs.bytes, gs.maxBytes, ErrOutboxFull)
	}
	gs.seq++
	d.seq = gs.seq
	gs.outbox = append(gs.outbox, d)
	gs.bytes += len(d.data)
	return nil
}

// setOutbox replaces the outbox (after packets left it) and recounts its bytes.
func (gs *graphState) setOutbox(list []*delivery) {
	gs.outbox = list
	gs.bytes = 0
	for _, d := range list {
		gs.bytes += len(d.data)
	}
}

// pending reports whether an IIP waits in the outbox (one being sent does
// not wait: it is as good as sent).
func (gs *graphState) pending(i *graph.IIP) bool {
	return slices.ContainsFunc(gs.outbox, func(d *delivery) bool { return d.iip == i && !d.sending })
}

func (gs *graphState) dropDelivery(i *graph.IIP) {
	gs.setOutbox(slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return d.iip == i }))
}

func dropTarget(outbox []*delivery, node string) []*delivery {
	return slices.DeleteFunc(outbox, func(d *delivery) bool { return d.tgt.Node == node })
}

// startLocked starts a stopped graph: its IIPs are sent once per start.
func (r *Graphs) startLocked(gs *graphState) {
	if gs.started {
		return
	}
	gs.started = true
	gs.startedAt = r.now()
	gs.resetIIPs = nil
	gs.setOutbox(slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return d.iip != nil }))
	for _, i := range gs.g.IIPs {
		if err := gs.queueIIP(i); err != nil {
			r.problems.graphError("iip:"+gs.g.ID+":"+i.ID(), gs.g.ID, err.Error())
		}
	}
}

// Start starts a graph's network: its in-process participants take
// messages and its IIPs are sent. Starting a started network changes
// nothing (its IIPs were sent when it started, or when they were added).
func (r *Graphs) Start(graphID string) error {
	defer r.events.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return err
	}
	r.startLocked(gs)
	r.emit(wire.Started{Time: r.timestamp(), Graph: gs.g.ID, Started: true, Running: gs.running(r.catalog), Debug: gs.debug})
	r.poke()
	return nil
}

// Stop pauses a graph's network: its in-process participants take no more
// messages (they wait in their queues) and IIPs not yet sent are dropped;
// its edges stay bound. Stopping a stopped network answers stopped again.
func (r *Graphs) Stop(graphID string) error {
	defer r.events.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return err
	}
	var uptime *float64
	if gs.started {
		u := r.now().Sub(gs.startedAt).Seconds()
		uptime = &u
	}
	gs.started = false
	gs.resetIIPs = nil
	gs.setOutbox(slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return d.iip != nil }))
	r.pauseLocked()
	r.emit(wire.Stopped{Time: r.timestamp(), Graph: gs.g.ID, Started: false, Running: false, Uptime: uptime, Debug: gs.debug})
	r.poke()
	return nil
}

// pauseLocked closes, before network:stop answers, the gates of the
// in-process participants that no started graph needs (plan.Closing): a
// client that sends a message once the network is stopped finds it
// waiting in the queue, not taken by a pass still to come. A pass calls it
// too once it opened gates, as its plan may predate the stop.
func (r *Graphs) pauseLocked() {
	graphs := make([]plan.Graph, 0, len(r.graphs))
	for _, gs := range r.graphs {
		g := plan.Graph{ID: gs.g.ID, Started: gs.started}
		if gs.started {
			for _, n := range gs.g.Nodes {
				g.Nodes = append(g.Nodes, plan.Node{ID: n.ID, Role: gs.roleOf(n.ID)})
			}
		}
		graphs = append(graphs, g)
	}
	for _, role := range plan.Closing(graphs, r.local.plan()) {
		if lp := r.local.get(role); lp != nil && lp.gate.set(false) {
			r.log.Debug().Str("role", role).Msg("in-process participant paused")
		}
	}
}

// Status answers network:getstatus.
func (r *Graphs) Status(graphID string) (wire.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return wire.Status{}, err
	}
	return wire.Status{Graph: gs.g.ID, Running: gs.running(r.catalog), Started: gs.started, Debug: gs.debug}, nil
}

// SetDebug answers network:debug. Debug mode is recorded and reported in
// status messages.
func (r *Graphs) SetDebug(graphID string, enable bool) (wire.Debug, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return wire.Debug{}, err
	}
	gs.debug = enable
	return wire.Debug{Enable: enable, Graph: gs.g.ID}, nil
}

// ClientConnected registers a client; until it selects edges it sees data
// on every edge and IIP.
func (r *Graphs) ClientConnected(id ClientID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchers[id] = map[string]map[edgeKey]bool{}
	r.watchGen++
	r.poke()
}

// ClientGone forgets a client and its edge selection.
func (r *Graphs) ClientGone(id ClientID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.watchers, id)
	delete(r.live.followers, id)
	r.watchGen++
	r.poke()
}

// WatchEdges sets the edges of a graph a client watches (network:edges).
func (r *Graphs) WatchEdges(id ClientID, p wire.Edges) (wire.Edges, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return wire.Edges{}, err
	}
	sel := map[edgeKey]bool{}
	for _, e := range p.Edges {
		sel[keyOf(e.Src.Endpoint(), e.Tgt.Endpoint())] = true
	}
	w, ok := r.watchers[id]
	if !ok {
		w = map[string]map[edgeKey]bool{}
		r.watchers[id] = w
	}
	w[gs.g.ID] = sel
	r.live.follow(id, gs.g.ID)
	r.watchGen++
	r.poke()
	edges := p.Edges
	if edges == nil {
		edges = []wire.EdgeSpec{}
	}
	return wire.Edges{Graph: gs.g.ID, Edges: edges}, nil
}

// watchers are the connected clients and the edges each selected, by
// graph (a client without a selection for a graph watches all its edges).
type watchers map[ClientID]map[string]map[edgeKey]bool

// watched says a client watches an edge of the graph: it selected the
// edge, or (unless explicit) it selected no edge of the graph.
func (w watchers) watched(graphID string, k edgeKey, explicit bool) bool {
	for _, sel := range w {
		if s, selected := sel[graphID]; (!selected && !explicit) || s[k] {
			return true
		}
	}
	return false
}

// of lists the clients that watch an edge: those that selected it, and
// (unless explicit) those without a selection for the graph. k nil: an
// IIP to a node of the graph, seen by clients without a selection for the
// graph.
func (w watchers) of(graphID string, k *edgeKey, explicit bool) []ClientID {
	var out []ClientID
	for id, sel := range w {
		s, selected := sel[graphID]
		if (!selected && !explicit) || (k != nil && s[*k]) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// SendPacket delivers data sent by a client to an exported inport
// (runtime:packet). Only data events carry anything to a participant; the
// other events are acknowledged.
func (r *Graphs) SendPacket(p wire.Packet) (wire.PacketSent, error) {
	defer r.events.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return wire.PacketSent{}, err
	}
	x := gs.g.Exported(graph.In, p.Port)
	if x == nil {
		return wire.PacketSent{}, fmt.Errorf("Graph %s has no exported inport %s", gs.g.ID, p.Port)
	}
	if p.Event == "data" {
		// The payload's JSON text goes to the broker as the client wrote
		// it (compacted), never decoded and encoded again.
		data, err := packetData(p.Payload)
		if err != nil {
			return wire.PacketSent{}, fmt.Errorf("packet to %s: %w", p.Port, err)
		}
		p.Payload = data
		if err := gs.push(&delivery{tgt: graph.Endpoint{Node: x.Node, Port: x.Port}, data: data}); err != nil {
			return wire.PacketSent{}, err
		}
		r.poke()
	}
	return wire.PacketSent{Port: p.Port, Event: p.Event, Type: p.Type, Schema: p.Schema, Payload: p.Payload, Graph: gs.g.ID}, nil
}

// packetData is the message a runtime:packet payload becomes: its JSON
// text compacted (whitespace out, every other byte kept); a missing
// payload is null. Text that is not valid UTF-8 is read as network.AsJSON
// reads a body.
func packetData(payload json.RawMessage) (json.RawMessage, error) {
	if payload == nil {
		return json.RawMessage("null"), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, network.AsJSON(payload)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
