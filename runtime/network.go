package runtime

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/msgflo/msgflo-runtime/graph"
)

// Network semantics: a started graph has its edges bound in the broker and
// its IIPs sent; a stopped graph keeps its participants running but is not
// wired (messages wait in the participants' queues where the broker keeps
// them). "running" means the runtime still has packets to deliver for it.

// Info is what runtime:runtime reports besides capabilities.
type Info struct {
	ID, Label, Namespace, Repository string
	MainGraph                        string
}

// Info returns the runtime's identity and main graph.
func (r *Runtime) Info() Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Info{ID: r.opts.ID, Label: r.opts.Label, Namespace: r.opts.Namespace, Repository: r.opts.Repository, MainGraph: r.mainGraph}
}

func (gs *graphState) running() bool { return gs.started && len(gs.outbox) > 0 }

func (r *Runtime) timestamp() string { return r.now().UTC().Format(time.RFC3339Nano) }

func (gs *graphState) queueIIP(i *graph.IIP) error {
	data, err := json.Marshal(i.Data)
	if err != nil {
		return fmt.Errorf("initial packet to %s: %w", i.Tgt, err)
	}
	gs.outbox = append(gs.outbox, &delivery{tgt: i.Tgt, data: data, iip: i})
	return nil
}

func (gs *graphState) dropDelivery(i *graph.IIP) {
	gs.outbox = slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return d.iip == i })
}

func dropTarget(outbox []*delivery, node string) []*delivery {
	return slices.DeleteFunc(outbox, func(d *delivery) bool { return d.tgt.Node == node })
}

func (r *Runtime) startLocked(gs *graphState) {
	gs.started = true
	gs.startedAt = r.now()
	gs.outbox = slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return d.iip != nil })
	for _, i := range gs.g.IIPs {
		if err := gs.queueIIP(i); err != nil {
			r.networkErrorLocked("iip:"+gs.g.ID+":"+i.ID(), gs.g.ID, err.Error())
		}
	}
}

// Start starts a graph's network: binds its edges and sends its IIPs.
// Starting a started network sends its IIPs again.
func (r *Runtime) Start(graphID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return err
	}
	r.startLocked(gs)
	r.emit("network", "started", StartedPayload{Time: r.timestamp(), Graph: gs.g.ID, Started: true, Running: gs.running(), Debug: gs.debug})
	r.poke()
	return nil
}

// Stop stops a graph's network: its edges are unbound and pending IIPs dropped.
// Stopping a stopped network answers stopped again.
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
	gs.outbox = slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return d.iip != nil })
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
	return StatusPayload{Graph: gs.g.ID, Running: gs.running(), Started: gs.started, Debug: gs.debug}, nil
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
		data, err := json.Marshal(p.Payload)
		if err != nil {
			return PacketPayload{}, fmt.Errorf("packet to %s: %w", p.Port, err)
		}
		gs.outbox = append(gs.outbox, &delivery{tgt: graph.Endpoint{Node: x.Node, Port: x.Port}, data: data})
		r.poke()
	}
	return PacketPayload{Port: p.Port, Event: p.Event, Type: p.Type, Schema: p.Schema, Payload: p.Payload, Graph: gs.g.ID}, nil
}
