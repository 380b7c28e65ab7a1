package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/proxy"
)

// The trace sub-protocol. While a graph is traced the coordinator taps
// every bound edge of it and records what flows in a bounded buffer; it
// also tells each FBP-capable participant of the graph to trace its own
// network. A dump merges the coordinator's events and every participant's
// flowtrace into one flowtrace: events in time order, each saying which
// participant recorded it, participant graphs under header.graphs with
// names prefixed by their node id.

// DefaultTraceBuffer is the number of events kept when trace:start gives
// no buffersize.
const DefaultTraceBuffer = 400

// maxTraceBuffer bounds what a client may ask for.
const maxTraceBuffer = 100000

// tracer is the trace sub-protocol's part: the graphs' flowtrace recorders
// (its lock), and the participants told to trace. What it reads of the
// graphs it reads under the graph store's lock, taken first.
type tracer struct {
	g *Graphs

	mu     sync.Mutex // guards traces and their states
	traces map[string]*traceState
}

func newTracer(g *Graphs) *tracer { return &tracer{g: g, traces: map[string]*traceState{}} }

// traced says trace:start is on for a graph.
func (t *tracer) traced(graphID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts, ok := t.traces[graphID]
	return ok && ts.tracing
}

// forget forgets a participant that is gone.
func (t *tracer) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ts := range t.traces {
		delete(ts.started, id)
		delete(ts.acked, id)
	}
}

// TraceStart starts tracing a graph (again: a new buffersize applies, the
// events so far are kept) and tells its FBP-capable participants to trace.
func (r *Runtime) TraceStart(p wire.TraceStart) (wire.TraceStart, error) { return r.tracer.start(p) }

// TraceStop stops recording (the buffer is kept for dumps) and tells the
// graph's participants.
func (r *Runtime) TraceStop(p wire.TraceStop) (wire.TraceStop, error) { return r.tracer.stop(p) }

// TraceClear empties the buffer and tells the graph's participants.
func (r *Runtime) TraceClear(p wire.TraceClear) (wire.TraceClear, error) { return r.tracer.clear(p) }

// TraceDump answers trace:dump (tracer.dump).
func (r *Runtime) TraceDump(ctx context.Context, p wire.TraceDump) (wire.TraceDump, error) {
	return r.tracer.dump(ctx, p)
}

type traceState struct {
	tracing    bool
	buffersize int
	// events is a ring of encoded events; next is where the next one goes
	// once it is full.
	events [][]byte
	next   int
	// started are the participant ids told to start tracing (noflo's
	// tracer attaches again on every start, so once per id).
	started map[string]bool
	// acked are the participants that acknowledged their start.
	acked map[string]bool
}

func (ts *traceState) record(ev []byte) {
	if len(ts.events) < ts.buffersize {
		ts.events = append(ts.events, ev)
		return
	}
	ts.events[ts.next] = ev
	ts.next = (ts.next + 1) % ts.buffersize
}

func (ts *traceState) ordered() [][]byte {
	out := make([][]byte, 0, len(ts.events))
	out = append(out, ts.events[ts.next:]...)
	return append(out, ts.events[:ts.next]...)
}

// id is what the coordinator's own events say recorded them.
func (t *tracer) id() string {
	r := t.g
	if r.opts.ID != "" {
		return r.opts.ID
	}
	return "msgflo-runtime"
}

// start starts tracing a graph (again: a new buffersize applies, the
// events so far are kept) and tells its FBP-capable participants to trace.
func (t *tracer) start(p wire.TraceStart) (wire.TraceStart, error) {
	r := t.g
	r.mu.Lock()
	defer r.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return wire.TraceStart{}, err
	}
	size := p.Buffersize
	if size <= 0 {
		size = DefaultTraceBuffer
	}
	size = min(size, maxTraceBuffer)
	ts, ok := t.traces[gs.g.ID]
	if !ok {
		ts = &traceState{started: map[string]bool{}, acked: map[string]bool{}}
		t.traces[gs.g.ID] = ts
	}
	if size != ts.buffersize {
		old := ts.ordered()
		if len(old) > size {
			old = old[len(old)-size:]
		}
		ts.events, ts.next, ts.buffersize = old, 0, size
	}
	ts.tracing = true
	for _, n := range gs.g.Nodes {
		if def, ok := t.candidate(gs.roleOf(n.ID)); ok {
			go t.startParticipant(gs.g.ID, def)
		}
	}
	r.poke() // tap the graph's edges
	return wire.TraceStart{Graph: gs.g.ID, Buffersize: size}, nil
}

// candidate returns the participant of a role that may be
// FBP-capable: a discovered one not running in this process.
func (t *tracer) candidate(role string) (network.Definition, bool) {
	r := t.g
	if r.local.has(role) {
		return network.Definition{}, false
	}
	def, _, ok := r.resolve(role)
	return def, ok
}

// startParticipant tells one participant to start tracing, once per
// participant id. Participants that are not FBP-capable are left alone.
func (t *tracer) startParticipant(graphID string, def network.Definition) {
	r := t.g
	ctx, cancel := context.WithTimeout(context.Background(), 2*r.proxy.Timeout())
	defer cancel()
	c, err := r.proxy.Lookup(ctx, def)
	if err != nil {
		if !errors.Is(err, proxy.ErrNotCapable) {
			r.log.Warn().Err(err).Str("graph", graphID).Msg("cannot start tracing in a participant")
		}
		return
	}
	t.mu.Lock()
	ts, ok := t.traces[graphID]
	if !ok || !ts.tracing || ts.started[def.ID] {
		t.mu.Unlock()
		return
	}
	ts.started[def.ID] = true
	size := ts.buffersize
	t.mu.Unlock()
	if _, err := c.Request(ctx, "trace", "start", wire.TraceStart{Graph: "default", Buffersize: size}); err != nil {
		r.log.Warn().Err(err).Str("graph", graphID).Msg("cannot start tracing in a participant")
		return
	}
	t.mu.Lock()
	ts.acked[def.ID] = true
	t.mu.Unlock()
	r.log.Info().Str("graph", graphID).Str("participant", def.ID).Msg("participant traces its network")
}

// participantAppeared starts tracing in a participant that appeared
// (or came back with a new id) in a traced graph.
func (t *tracer) participantAppeared(def network.Definition) {
	r := t.g
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, ts := range t.traces {
		gs, ok := r.graphs[id]
		if !ok || !ts.tracing || !gs.hasRole(def.Role) {
			continue
		}
		if r.local.has(def.Role) {
			continue
		}
		go t.startParticipant(id, def)
	}
}

// stop stops recording (the buffer is kept for dumps) and tells the
// graph's participants.
func (t *tracer) stop(p wire.TraceStop) (wire.TraceStop, error) {
	r := t.g
	r.mu.Lock()
	defer r.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return wire.TraceStop{}, err
	}
	if ts, ok := t.traces[gs.g.ID]; ok {
		ts.tracing = false
		t.forwardLocked(gs.g.ID, ts, "stop")
	}
	r.poke()
	return wire.TraceStop{Graph: gs.g.ID}, nil
}

// clear empties the buffer and tells the graph's participants.
func (t *tracer) clear(p wire.TraceClear) (wire.TraceClear, error) {
	r := t.g
	r.mu.Lock()
	defer r.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return wire.TraceClear{}, err
	}
	if ts, ok := t.traces[gs.g.ID]; ok {
		ts.events, ts.next = nil, 0
		t.forwardLocked(gs.g.ID, ts, "clear")
	}
	return wire.TraceClear{Graph: gs.g.ID}, nil
}

// forwardLocked sends stop or clear to the participants that trace,
// in the background. A full FBP runtime handles stop, so it is started
// again by the next start; a conventional one (noflo-runtime-msgflo) is
// not, as its tracer would attach twice.
func (t *tracer) forwardLocked(graphID string, ts *traceState, command string) {
	r := t.g
	for id := range ts.started {
		c, ok := r.proxy.Known(id)
		if !ok {
			continue
		}
		if command == "stop" && c.Endpoint().Announced {
			delete(ts.started, id)
			delete(ts.acked, id)
		}
		go func() {
			if _, err := c.Request(context.Background(), "trace", command, wire.GraphRef{Graph: "default"}); err != nil {
				r.log.Warn().Err(err).Str("graph", graphID).Str("command", command).Msg("trace command not taken by a participant")
			}
		}()
	}
}

// record records data seen on an outport queue as a
// network:data event of every bound edge from it in a traced graph.
func (t *tracer) record(queue string, data []byte, inEffect func(gs *graphState, e *graph.Edge, src string) bool) {
	r := t.g
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, ts := range t.traces {
		gs, ok := r.graphs[id]
		if !ok || !ts.tracing {
			continue
		}
		for _, e := range gs.g.Edges {
			src, ok, _ := r.queueOfLocked(gs, e.Src, true)
			if !ok || src != queue {
				continue
			}
			if !inEffect(gs, e, src) {
				continue
			}
			// The data keeps its bytes: the event is assembled around it.
			payload := map[string]json.RawMessage{
				"time": jsonOf(r.timestamp()), "graph": jsonOf(gs.g.ID), "id": jsonOf(e.ID()),
				"src": jsonOf(wire.RefOf(e.Src)), "tgt": jsonOf(wire.RefOf(e.Tgt)), "data": network.AsJSON(data),
			}
			ts.record(network.RawObject(map[string]json.RawMessage{
				"protocol": jsonOf("network"), "command": jsonOf("data"), "participant": jsonOf(t.id()),
				"payload": network.RawObject(payload),
			}))
		}
	}
}

// jsonOf encodes a value that always encodes (strings, port references).
func jsonOf(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// flowtrace is the dump format. It is assembled, not encoded, so that
// every event keeps its data's bytes.
type flowtrace struct {
	Header flowtraceHeader
	Events []json.RawMessage
}

type flowtraceHeader struct {
	Runtime      string                     `json:"runtime,omitempty"`
	Graphs       map[string]json.RawMessage `json:"graphs"`
	Participants []TracedParticipant        `json:"participants"`
}

// TracedParticipant says, in a dump's header, which FBP-capable
// participant contributed its flowtrace, or why it did not.
type TracedParticipant struct {
	Node        string `json:"node"`
	Participant string `json:"participant"`
	Component   string `json:"component,omitempty"`
	Events      int    `json:"events"`
	// Tracing says the participant acknowledged trace:start.
	Tracing bool   `json:"tracing"`
	Error   string `json:"error,omitempty"`
}

// dump answers trace:dump: the coordinator's events merged with the
// flowtraces of the graph's FBP-capable participants, asked concurrently.
// A participant that does not answer within the proxy's timeout is named
// in the header with the error; it never holds the dump longer.
func (t *tracer) dump(ctx context.Context, p wire.TraceDump) (wire.TraceDump, error) {
	r := t.g
	r.mu.Lock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		r.mu.Unlock()
		return wire.TraceDump{}, err
	}
	graphID := gs.g.ID
	own, err := gs.g.MarshalJSON() // compact; json.Marshal would escape <, > and &
	if err != nil {
		r.mu.Unlock()
		return wire.TraceDump{}, fmt.Errorf("encode graph %s: %w", graphID, err)
	}
	var events [][]byte
	tracing := map[string]bool{}
	t.mu.Lock()
	if ts, ok := t.traces[graphID]; ok {
		events = ts.ordered()
		for id := range ts.acked {
			tracing[id] = true
		}
	}
	t.mu.Unlock()
	type target struct {
		node string
		def  network.Definition
	}
	var targets []target
	for _, n := range gs.g.Nodes {
		if def, ok := t.candidate(gs.roleOf(n.ID)); ok {
			targets = append(targets, target{node: n.ID, def: def})
		}
	}
	r.mu.Unlock()

	ft := flowtrace{Header: flowtraceHeader{Runtime: r.opts.ID, Graphs: map[string]json.RawMessage{graphID: own}, Participants: []TracedParticipant{}}}
	for _, ev := range events {
		ft.Events = append(ft.Events, json.RawMessage(ev))
	}
	type answer struct {
		tp     TracedParticipant
		graphs map[string]json.RawMessage
		events []json.RawMessage
	}
	answers := make([]answer, len(targets))
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(ctx, r.proxy.Timeout())
	defer cancel()
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := answer{tp: TracedParticipant{Node: tg.node, Participant: tg.def.ID, Component: tg.def.Component, Tracing: tracing[tg.def.ID]}}
			var err error
			a.graphs, a.events, err = t.dumpParticipant(ctx, tg.node, tg.def, p.Type)
			a.tp.Events = len(a.events)
			if errors.Is(err, proxy.ErrNotCapable) {
				return // a plain participant: nothing to say
			}
			if err != nil {
				a.tp.Error = err.Error()
			}
			answers[i] = a
		}()
	}
	wg.Wait()
	for _, a := range answers {
		if a.tp.Node == "" {
			continue
		}
		ft.Header.Participants = append(ft.Header.Participants, a.tp)
		for name, g := range a.graphs {
			ft.Header.Graphs[name] = g
		}
		ft.Events = append(ft.Events, a.events...)
	}
	sortEvents(ft.Events)
	if ft.Events == nil {
		ft.Events = []json.RawMessage{}
	}
	header, err := json.Marshal(ft.Header)
	if err != nil {
		return wire.TraceDump{}, fmt.Errorf("encode flowtrace of %s: %w", graphID, err)
	}
	out := network.RawObject(map[string]json.RawMessage{"header": header, "events": network.RawArray(ft.Events)})
	return wire.TraceDump{Graph: graphID, Type: p.Type, Flowtrace: string(out)}, nil
}

// dumpParticipant asks one participant for its flowtrace and rewrites it
// for the merge: graph names prefixed with the node id, every event saying
// which participant recorded it.
func (t *tracer) dumpParticipant(ctx context.Context, node string, def network.Definition, typ string) (map[string]json.RawMessage, []json.RawMessage, error) {
	r := t.g
	c, err := r.proxy.LookupCached(ctx, def)
	if err != nil {
		return nil, nil, err
	}
	replies, err := c.Request(ctx, "trace", "dump", wire.TraceDump{Graph: "default", Type: typ})
	if err != nil {
		return nil, nil, err
	}
	var pl struct {
		Flowtrace json.RawMessage `json:"flowtrace"`
	}
	if err := json.Unmarshal(replies[len(replies)-1].Payload, &pl); err != nil {
		return nil, nil, fmt.Errorf("%s: bad trace:dump answer: %v", c.Endpoint(), err)
	}
	// flowtrace is a JSON string by the schema; accept an object too.
	text := []byte(pl.Flowtrace)
	var s string
	if json.Unmarshal(pl.Flowtrace, &s) == nil {
		text = []byte(s)
	}
	var theirs struct {
		Header struct {
			Graphs map[string]json.RawMessage `json:"graphs"`
		} `json:"header"`
		Events []map[string]json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(text, &theirs); err != nil {
		return nil, nil, fmt.Errorf("%s: its flowtrace is not valid: %v", c.Endpoint(), err)
	}
	prefix := func(name string) string { return node + "/" + name }
	graphs := map[string]json.RawMessage{}
	for name, g := range theirs.Header.Graphs {
		graphs[prefix(name)] = g
	}
	participant, _ := json.Marshal(def.ID)
	events := make([]json.RawMessage, 0, len(theirs.Events))
	for _, ev := range theirs.Events {
		var payload map[string]json.RawMessage
		if json.Unmarshal(ev["payload"], &payload) == nil && payload != nil {
			var g string
			if json.Unmarshal(payload["graph"], &g) == nil && g != "" {
				payload["graph"] = jsonOf(prefix(g))
			}
			ev["payload"] = network.RawObject(payload)
		}
		ev["participant"] = participant
		events = append(events, network.RawObject(ev))
	}
	return graphs, events, nil
}

// sortEvents orders events by payload.time, stably (events of one
// recorder keep their order when times tie or are missing).
func sortEvents(events []json.RawMessage) {
	times := make([]time.Time, len(events))
	for i, ev := range events {
		var e struct {
			Payload struct {
				Time string `json:"time"`
			} `json:"payload"`
		}
		if json.Unmarshal(ev, &e) == nil {
			times[i], _ = time.Parse(time.RFC3339Nano, strings.TrimSpace(e.Payload.Time))
		}
	}
	idx := make([]int, len(events))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return times[idx[a]].Before(times[idx[b]]) })
	sorted := make([]json.RawMessage, len(events))
	for i, j := range idx {
		sorted[i] = events[j]
	}
	copy(events, sorted)
}
