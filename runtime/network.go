package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
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
	return Info{ID: r.opts.ID, Label: r.opts.Label, Namespace: r.opts.Namespace, Repository: r.opts.Repository, MainGraph: r.mainGraph, MainIsLive: r.mainGraph != "" && r.mainGraph == r.liveGraph}
}

// runningLocked is network:status's "running": the graph is started and
// data can still arrive in it: packets wait to be delivered, or it has
// exported inports, or one of its nodes is served by a participant that may
// send on its own (another process, or a built-in component without
// inports). A started graph of built-in nodes fed only by initial packets
// has finished once they are delivered, as a NoFlo network has (the FBP
// compliance suite expects running:false then).
func (r *Runtime) runningLocked(gs *graphState) bool {
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
		c, ok := r.components[n.Component]
		if !ok || c.builtin == nil || len(c.builtin.Inports) == 0 {
			return true
		}
	}
	return false
}

func (r *Runtime) timestamp() string { return r.now().UTC().Format(time.RFC3339Nano) }

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

// pending reports whether an IIP waits in the outbox.
func (gs *graphState) pending(i *graph.IIP) bool {
	return slices.ContainsFunc(gs.outbox, func(d *delivery) bool { return d.iip == i })
}

func (gs *graphState) dropDelivery(i *graph.IIP) {
	gs.setOutbox(slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return d.iip == i }))
}

func dropTarget(outbox []*delivery, node string) []*delivery {
	return slices.DeleteFunc(outbox, func(d *delivery) bool { return d.tgt.Node == node })
}

// startLocked starts a stopped graph: its IIPs are sent once per start.
func (r *Runtime) startLocked(gs *graphState) {
	if gs.started {
		return
	}
	gs.started = true
	gs.startedAt = r.now()
	gs.resetIIPs = nil
	gs.setOutbox(slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return d.iip != nil }))
	for _, i := range gs.g.IIPs {
		if err := gs.queueIIP(i); err != nil {
			r.networkErrorLocked("iip:"+gs.g.ID+":"+i.ID(), gs.g.ID, err.Error())
		}
	}
}

// Start starts a graph's network: its in-process participants take
// messages and its IIPs are sent. Starting a started network changes
// nothing (its IIPs were sent when it started, or when they were added).
func (r *Runtime) Start(graphID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return err
	}
	r.startLocked(gs)
	r.emit("network", "started", StartedPayload{Time: r.timestamp(), Graph: gs.g.ID, Started: true, Running: r.runningLocked(gs), Debug: gs.debug})
	r.poke()
	return nil
}

// Stop pauses a graph's network: its in-process participants take no more
// messages (they wait in their queues) and IIPs not yet sent are dropped;
// its edges stay bound. Stopping a stopped network answers stopped again.
func (r *Runtime) Stop(graphID string) error {
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
	r.emit("network", "stopped", StartedPayload{Time: r.timestamp(), Graph: gs.g.ID, Started: false, Running: false, Uptime: uptime, Debug: gs.debug})
	r.poke()
	return nil
}

// Status answers network:getstatus.
func (r *Runtime) Status(graphID string) (StatusPayload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return StatusPayload{}, err
	}
	return StatusPayload{Graph: gs.g.ID, Running: r.runningLocked(gs), Started: gs.started, Debug: gs.debug}, nil
}

// SetDebug answers network:debug. Debug mode is recorded and reported in
// status messages.
func (r *Runtime) SetDebug(graphID string, enable bool) (DebugPayload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return DebugPayload{}, err
	}
	gs.debug = enable
	return DebugPayload{Enable: enable, Graph: gs.g.ID}, nil
}

// ClientConnected registers a client; until it selects edges it sees data
// on every edge and IIP.
func (r *Runtime) ClientConnected(id ClientID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchers[id] = map[string]map[edgeKey]bool{}
	r.poke()
}

// ClientGone forgets a client and its edge selection.
func (r *Runtime) ClientGone(id ClientID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.watchers, id)
	delete(r.liveWatchers, id)
	r.poke()
}

// WatchEdges sets the edges of a graph a client watches (network:edges).
func (r *Runtime) WatchEdges(id ClientID, p EdgesPayload) (EdgesPayload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return EdgesPayload{}, err
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
	r.followLiveLocked(id, gs.g.ID)
	r.poke()
	edges := p.Edges
	if edges == nil {
		edges = []EdgeSpec{}
	}
	return EdgesPayload{Graph: gs.g.ID, Edges: edges}, nil
}

// watchersOfLocked lists the clients that watch an edge (iip: an IIP to a
// node of the graph, seen by clients without a selection for the graph).
func (r *Runtime) watchersOfLocked(graphID string, k *edgeKey) []ClientID {
	var out []ClientID
	for id, sel := range r.watchers {
		s, selected := sel[graphID]
		if !selected || (k != nil && s[*k]) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// SendPacket delivers data sent by a client to an exported inport
// (runtime:packet). Only data events carry anything to a participant; the
// other events are acknowledged.
func (r *Runtime) SendPacket(p PacketPayload) (PacketPayload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return PacketPayload{}, err
	}
	x := gs.g.Exported(graph.In, p.Port)
	if x == nil {
		return PacketPayload{}, fmt.Errorf("Graph %s has no exported inport %s", gs.g.ID, p.Port)
	}
	if p.Event == "data" {
		// The payload's JSON text goes to the broker as the client wrote
		// it (compacted), never decoded and encoded again.
		data, err := packetData(p.Payload)
		if err != nil {
			return PacketPayload{}, fmt.Errorf("packet to %s: %w", p.Port, err)
		}
		p.Payload = data
		if err := gs.push(&delivery{tgt: graph.Endpoint{Node: x.Node, Port: x.Port}, data: data}); err != nil {
			return PacketPayload{}, err
		}
		r.poke()
	}
	return PacketPayload{Port: p.Port, Event: p.Event, Type: p.Type, Schema: p.Schema, Payload: p.Payload, Graph: gs.g.ID}, nil
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
