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

	"github.com/msgflo/msgflo-runtime/network"
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

// TracePayload is trace:start, stop and clear (buffersize on start only).
type TracePayload struct {
	Graph      string `json:"graph"`
	Buffersize int    `json:"buffersize,omitempty"`
}

// DumpPayload is trace:dump.
type DumpPayload struct {
	Graph     string `json:"graph"`
	Type      string `json:"type"`
	Flowtrace string `json:"flowtrace,omitempty"`
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

// tracerID is what the coordinator's own events say recorded them.
func (r *Runtime) tracerID() string {
	if r.opts.ID != "" {
		return r.opts.ID
	}
	return "msgflo-runtime"
}

// TraceStart starts tracing a graph (again: a new buffersize applies, the
// events so far are kept) and tells its FBP-capable participants to trace.
func (r *Runtime) TraceStart(p TracePayload) (TracePayload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return TracePayload{}, err
	}
	size := p.Buffersize
	if size <= 0 {
		size = DefaultTraceBuffer
	}
	size = min(size, maxTraceBuffer)
	ts, ok := r.traces[gs.g.ID]
	if !ok {
		ts = &traceState{started: map[string]bool{}, acked: map[string]bool{}}
		r.traces[gs.g.ID] = ts
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
		if def, ok := r.fbpCandidateLocked(gs.roleOf(n.ID)); ok {
			go r.traceStartParticipant(gs.g.ID, def)
		}
	}
	r.poke() // tap the graph's edges
	return TracePayload{Graph: gs.g.ID, Buffersize: size}, nil
}

// fbpCandidateLocked returns the participant of a role that may be
// FBP-capable: a discovered one not running in this process.
func (r *Runtime) fbpCandidateLocked(role string) (network.Definition, bool) {
	if _, local := r.local[role]; local {
		return network.Definition{}, false
	}
	return r.resolveLocked(role)
}

// traceStartParticipant tells one participant to start tracing, once per
// participant id. Participants that are not FBP-capable are left alone.
func (r *Runtime) traceStartParticipant(graphID string, def network.Definition) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*r.proxy.Timeout())
	defer cancel()
	c, err := r.proxy.Lookup(ctx, def)
	if err != nil {
		if !errors.Is(err, proxy.ErrNotCapable) {
			r.log.Warn().Err(err).Str("graph", graphID).Msg("cannot start tracing in a participant")
		}
		return
	}
	r.mu.Lock()
	ts, ok := r.traces[graphID]
	if !ok || !ts.tracing || ts.started[def.ID] {
		r.mu.Unlock()
		return
	}
	ts.started[def.ID] = true
	size := ts.buffersize
	r.mu.Unlock()
	if _, err := c.Request(ctx, "trace", "start", TracePayload{Graph: "default", Buffersize: size}); err != nil {
		r.log.Warn().Err(err).Str("graph", graphID).Msg("cannot start tracing in a participant")
		return
	}
	r.mu.Lock()
	ts.acked[def.ID] = true
	r.mu.Unlock()
	r.log.Info().Str("graph", graphID).Str("participant", def.ID).Msg("participant traces its network")
}

// traceParticipantLocked starts tracing in a participant that appeared
// (or came back with a new id) in a traced graph.
func (r *Runtime) traceParticipantLocked(def network.Definition) {
	for id, ts := range r.traces {
		gs, ok := r.graphs[id]
		if !ok || !ts.tracing || !gs.hasRole(def.Role) {
			continue
		}
		if _, local := r.local[def.Role]; local {
			continue
		}
		go r.traceStartParticipant(id, def)
	}
}

// TraceStop stops recording (the buffer is kept for dumps) and tells the
// graph's participants.
func (r *Runtime) TraceStop(p TracePayload) (TracePayload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return TracePayload{}, err
	}
	if ts, ok := r.traces[gs.g.ID]; ok {
		ts.tracing = false
		r.forwardTraceLocked(gs.g.ID, ts, "stop")
	}
	r.poke()
	return TracePayload{Graph: gs.g.ID}, nil
}

// TraceClear empties the buffer and tells the graph's participants.
func (r *Runtime) TraceClear(p TracePayload) (TracePayload, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		return TracePayload{}, err
	}
	if ts, ok := r.traces[gs.g.ID]; ok {
		ts.events, ts.next = nil, 0
		r.forwardTraceLocked(gs.g.ID, ts, "clear")
	}
	return TracePayload{Graph: gs.g.ID}, nil
}

// forwardTraceLocked sends stop or clear to the participants that trace,
// in the background. A full FBP runtime handles stop, so it is started
// again by the next start; a conventional one (noflo-runtime-msgflo) is
// not, as its tracer would attach twice.
func (r *Runtime) forwardTraceLocked(graphID string, ts *traceState, command string) {
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
			if _, err := c.Request(context.Background(), "trace", command, TracePayload{Graph: "default"}); err != nil {
				r.log.Warn().Err(err).Str("graph", graphID).Str("command", command).Msg("trace command not taken by a participant")
			}
		}()
	}
}

// traceTapsLocked adds to want the outports of the edges of traced graphs.
func (r *Runtime) traceTapsLocked(want map[string]bool) {
	for id, ts := range r.traces {
		gs, ok := r.graphs[id]
		if !ok || !ts.tracing {
			continue
		}
		for _, e := range gs.g.Edges {
			if src, ok, _ := r.queueOfLocked(gs, e.Src, true); ok {
				want[src] = true
			}
		}
	}
}

// recordTraceLocked records data seen on an outport queue as a
// network:data event of every bound edge from it in a traced graph.
func (r *Runtime) recordTraceLocked(queue string, data []byte) {
	for id, ts := range r.traces {
		gs, ok := r.graphs[id]
		if !ok || !ts.tracing {
			continue
		}
		for _, e := range gs.g.Edges {
			src, ok, _ := r.queueOfLocked(gs, e.Src, true)
			if !ok || src != queue {
				continue
			}
			tgt, ok, _ := r.queueOfLocked(gs, e.Tgt, false)
			if !ok || !r.bound[binding{src: src, tgt: tgt}] {
				continue
			}
			// The data keeps its bytes: the event is assembled around it.
			payload := map[string]json.RawMessage{
				"time": jsonOf(r.timestamp()), "graph": jsonOf(gs.g.ID), "id": jsonOf(e.ID()),
				"src": jsonOf(portRef(e.Src)), "tgt": jsonOf(portRef(e.Tgt)), "data": network.AsJSON(data),
			}
			ts.record(network.RawObject(map[string]json.RawMessage{
				"protocol": jsonOf("network"), "command": jsonOf("data"), "participant": jsonOf(r.tracerID()),
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

// TraceDump answers trace:dump: the coordinator's events merged with the
// flowtraces of the graph's FBP-capable participants, asked concurrently.
// A participant that does not answer within the proxy's timeout is named
// in the header with the error; it never holds the dump longer.
func (r *Runtime) TraceDump(ctx context.Context, p DumpPayload) (DumpPayload, error) {
	r.mu.Lock()
	gs, err := r.graphLocked(p.Graph)
	if err != nil {
		r.mu.Unlock()
		return DumpPayload{}, err
	}
	graphID := gs.g.ID
	own, err := gs.g.MarshalJSON() // compact; json.Marshal would escape <, > and &
	if err != nil {
		r.mu.Unlock()
		return DumpPayload{}, fmt.Errorf("encode graph %s: %w", graphID, err)
	}
	var events [][]byte
	tracing := map[string]bool{}
	if ts, ok := r.traces[graphID]; ok {
		events = ts.ordered()
		for id := range ts.acked {
			tracing[id] = true
		}
	}
	type target struct {
		node string
		def  network.Definition
	}
	var targets []target
	for _, n := range gs.g.Nodes {
		if def, ok := r.fbpCandidateLocked(gs.roleOf(n.ID)); ok {
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
			a.graphs, a.events, err = r.dumpParticipant(ctx, tg.node, tg.def, p.Type)
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
		return DumpPayload{}, fmt.Errorf("encode flowtrace of %s: %w", graphID, err)
	}
	out := network.RawObject(map[string]json.RawMessage{"header": header, "events": network.RawArray(ft.Events)})
	return DumpPayload{Graph: graphID, Type: p.Type, Flowtrace: string(out)}, nil
}

// dumpParticipant asks one participant for its flowtrace and rewrites it
// for the merge: graph names prefixed with the node id, every event saying
// which participant recorded it.
func (r *Runtime) dumpParticipant(ctx context.Context, node string, def network.Definition, typ string) (map[string]json.RawMessage, []json.RawMessage, error) {
	c, err := r.proxy.LookupCached(ctx, def)
	if err != nil {
		return nil, nil, err
	}
	replies, err := c.Request(ctx, "trace", "dump", DumpPayload{Graph: "default", Type: typ})
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
