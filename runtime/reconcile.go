package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
)

// The reconciler brings the broker in line with the graphs, in four steps:
// in-process participants, bindings, taps, deliveries. Each step plans under
// the lock and acts without it; the result is recorded under the lock again.
// It runs on the Run goroutine only, which owns taps.

// stopTimeout bounds how long stopping an in-process participant may take.
const stopTimeout = 10 * time.Second

func (r *Runtime) reconcile(ctx context.Context) (failed bool) {
	r.mu.Lock()
	r.pruneProblemsLocked()
	r.mu.Unlock()
	if r.reconcileParticipants(ctx) {
		failed = true
	}
	r.reconcileProcesses()
	if r.reconcileBindings(ctx) {
		failed = true
	}
	if r.startLocals(ctx) {
		failed = true
	}
	if r.reconcileTaps(ctx) {
		failed = true
	}
	r.connectHostedPorts()
	if r.deliver(ctx) {
		failed = true
	}
	return failed
}

type localStart struct {
	role string
	comp *participant.Component
}

func (r *Runtime) reconcileParticipants(ctx context.Context) (failed bool) {
	r.mu.Lock()
	want := map[string]*participant.Component{}
	for _, gs := range r.sortedGraphsLocked() {
		// Most graphs of a large network hold no node the runtime runs
		// in-process: skip them without walking their nodes.
		if !slices.ContainsFunc(gs.g.Components(), func(name string) bool {
			c, ok := r.components[name]
			return ok && c.builtin != nil
		}) {
			continue
		}
		for _, n := range gs.g.Nodes {
			role := gs.roleOf(n.ID)
			c, ok := r.components[n.Component]
			if !ok || c.builtin == nil || slices.Contains(r.opts.Ignore, role) {
				continue
			}
			if other, taken := want[role]; taken && other.Name != c.builtin.Name {
				r.networkErrorLocked("role:"+gs.g.ID+":"+n.ID, gs.g.ID,
					fmt.Sprintf("Node %s (%s) shares its role %s with a node of component %s; it is served by that participant", n.ID, n.Component, role, other.Name))
				continue
			}
			want[role] = c.builtin
		}
	}
	var stop []string
	for role, lp := range r.local {
		if c, ok := want[role]; !ok || c.Name != lp.component {
			stop = append(stop, role)
		}
	}
	var start []localStart
	for role, c := range want {
		if _, running := r.local[role]; !running {
			start = append(start, localStart{role: role, comp: c})
		}
	}
	r.mu.Unlock()
	sort.Strings(stop)
	sort.Slice(start, func(i, j int) bool { return start[i].role < start[j].role })

	for _, role := range stop {
		r.mu.Lock()
		lp := r.local[role]
		delete(r.local, role)
		// A paused participant finishes what it holds instead of waiting
		// for a start that will not come.
		lp.gate.set(true)
		id := lp.p.Definition().ID
		r.registry.Remove(id)
		delete(r.lastKnown, role)
		r.retired[id] = r.now()
		r.mu.Unlock()
		sctx, cancel := context.WithTimeout(ctx, stopTimeout)
		if err := lp.p.Stop(sctx); err != nil {
			r.log.Warn().Err(err).Str("role", role).Msg("stop in-process participant")
		}
		cancel()
		r.opts.Metrics.ForgetParticipant(lp.graph, role)
		r.log.Info().Str("role", role).Str("component", lp.component).Msg("stopped in-process participant")
	}
	r.mu.Lock()
	for role, lp := range r.local {
		open := r.roleStartedLocked(role)
		if lp.gate.set(open) {
			if open {
				r.log.Debug().Str("role", role).Msg("in-process participant resumed")
			} else {
				r.log.Debug().Str("role", role).Msg("in-process participant paused")
			}
		}
	}
	r.mu.Unlock()
	for _, s := range start {
		r.mu.Lock()
		g := newGate(r.roleStartedLocked(s.role))
		graphID := r.graphOfRoleLocked(s.role)
		r.mu.Unlock()
		counts := &portCounts{}
		p, err := participant.New(r.broker, gated(instrumented(*s.comp, r.opts.Metrics, counts, graphID, s.role), g), s.role, participant.Options{
			DiscoveryPeriod:   r.opts.DiscoveryPeriod,
			TransientMessages: r.opts.TransientMessages,
			Logger:            r.log.With().Str("role", s.role).Logger(),
		})
		if err == nil {
			err = p.Declare(ctx)
		}
		r.mu.Lock()
		key := "start:" + s.role
		if err != nil {
			failed = true
			r.nodeErrorLocked(key, s.role, true, func(node string) string {
				return fmt.Sprintf("Could not start participant %s (%s) for node %s: %v", s.role, s.comp.Name, node, err)
			})
			r.mu.Unlock()
			continue
		}
		r.clearNodeErrorLocked(key, s.role)
		r.local[s.role] = &localParticipant{component: s.comp.Name, p: p, gate: g, graph: graphID, counts: counts}
		// Known at once, so that its edges can be bound before it runs.
		r.addParticipantLocked(p.Definition())
		r.mu.Unlock()
	}
	return failed
}

// startLocals starts the in-process participants whose outputs are wired.
func (r *Runtime) startLocals(ctx context.Context) (failed bool) {
	r.mu.Lock()
	var ready []string
	for role, lp := range r.local {
		if !lp.running && r.outputsWiredLocked(role) {
			ready = append(ready, role)
		}
	}
	r.mu.Unlock()
	sort.Strings(ready)
	for _, role := range ready {
		r.mu.Lock()
		lp := r.local[role]
		r.mu.Unlock()
		if lp == nil {
			continue
		}
		err := lp.p.Start(ctx)
		r.mu.Lock()
		key := "start:" + role
		if err != nil {
			failed = true
			r.nodeErrorLocked(key, role, true, func(node string) string {
				return fmt.Sprintf("Could not start participant %s (%s) for node %s: %v", role, lp.component, node, err)
			})
			r.mu.Unlock()
			continue
		}
		lp.running = true
		r.mu.Unlock()
		r.log.Info().Str("role", role).Str("component", lp.component).Msg("started in-process participant")
	}
	return failed
}

// roleStartedLocked reports whether a node served by role is in a started
// graph: its in-process participant takes messages only then.
func (r *Runtime) roleStartedLocked(role string) bool {
	for _, gs := range r.graphs {
		if gs.started && gs.hasRole(role) {
			return true
		}
	}
	return false
}

// outputsWiredLocked reports whether every edge leaving role is bound
// (edges that cannot be resolved are reported elsewhere).
func (r *Runtime) outputsWiredLocked(role string) bool {
	for _, gs := range r.graphs {
		for _, e := range gs.g.Edges {
			if gs.roleOf(e.Src.Node) == role && r.edgeWaitingLocked(gs, e) {
				return false
			}
		}
	}
	return true
}

// edgeWaitingLocked reports whether an edge is not bound at the broker yet
// although it can be: an edge whose ports do not resolve is reported
// elsewhere and not waited for.
func (r *Runtime) edgeWaitingLocked(gs *graphState, e *graph.Edge) bool {
	src, ok, err := r.queueOfLocked(gs, e.Src, true)
	if err != nil {
		return false
	}
	if !ok {
		return true
	}
	tgt, ok, err := r.queueOfLocked(gs, e.Tgt, false)
	return err == nil && (!ok || !r.bound[binding{src: src, tgt: tgt}])
}

func (r *Runtime) graphsWithRoleLocked(role string) []*graphState {
	var out []*graphState
	for _, gs := range r.sortedGraphsLocked() {
		if gs.hasRole(role) {
			out = append(out, gs)
		}
	}
	return out
}

// queueOfLocked resolves a node's port to its queue through the participant
// serving the node's role. ok is false while no participant is known; err
// says the participant has no such port.
func (r *Runtime) queueOfLocked(gs *graphState, ep graph.Endpoint, out bool) (queue string, ok bool, err error) {
	def, found := r.resolveLocked(gs.roleOf(ep.Node))
	if !found {
		return "", false, nil
	}
	var p network.Port
	var has bool
	kind := "inport"
	if out {
		p, has = def.Outport(ep.Port)
		kind = "outport"
	} else {
		p, has = def.Inport(ep.Port)
	}
	if !has || p.Queue == "" {
		return "", false, fmt.Errorf("Participant %s (role %s) has no %s %s", def.ID, def.Role, kind, ep.Port)
	}
	return p.Queue, true, nil
}

// wantedBindingsLocked lists the bindings the graphs need, with the graphs
// that need each (for error reports). An edge is bound as soon as both its
// ends are known, whether its graph is started or not (as msgflo).
func (r *Runtime) wantedBindingsLocked() map[binding][]string {
	want := map[binding][]string{}
	for _, gs := range r.sortedGraphsLocked() {
		for _, e := range gs.g.Edges {
			src, okSrc, errSrc := r.queueOfLocked(gs, e.Src, true)
			tgt, okTgt, errTgt := r.queueOfLocked(gs, e.Tgt, false)
			key := "edge:" + gs.g.ID + ":" + e.ID()
			if errSrc != nil || errTgt != nil {
				err := errSrc
				if err == nil {
					err = errTgt
				}
				r.networkErrorLocked(key, gs.g.ID, fmt.Sprintf("Cannot connect %s: %v", e.ID(), err))
				continue
			}
			r.clearErrorLocked(key)
			if okSrc && okTgt {
				b := binding{src: src, tgt: tgt}
				want[b] = append(want[b], gs.g.ID)
			}
		}
	}
	return want
}

func (r *Runtime) reconcileBindings(ctx context.Context) (failed bool) {
	r.mu.Lock()
	want := r.wantedBindingsLocked()
	var unbind, bind []binding
	for b := range r.bound {
		if _, ok := want[b]; !ok {
			unbind = append(unbind, b)
		}
	}
	for b := range want {
		if !r.bound[b] {
			bind = append(bind, b)
		}
	}
	r.mu.Unlock()
	sortBindings(unbind)
	sortBindings(bind)

	for _, b := range unbind {
		err := r.broker.Unbind(ctx, b.src, b.tgt)
		r.mu.Lock()
		if err != nil {
			failed = true
			r.networkErrorLocked("unbind:"+b.src+"->"+b.tgt, "", fmt.Sprintf("Could not unbind %s -> %s: %v", b.src, b.tgt, err))
		} else {
			delete(r.bound, b)
			r.clearErrorLocked("unbind:" + b.src + "->" + b.tgt)
			r.log.Debug().Str("src", b.src).Str("tgt", b.tgt).Msg("unbound")
		}
		r.mu.Unlock()
	}
	for _, b := range bind {
		err := r.broker.Bind(ctx, b.src, b.tgt)
		r.mu.Lock()
		key := "bind:" + b.src + "->" + b.tgt
		if err != nil {
			failed = true
			for _, g := range want[b] {
				r.networkErrorLocked(key+":"+g, g, fmt.Sprintf("Could not bind %s -> %s: %v", b.src, b.tgt, err))
			}
		} else {
			r.bound[b] = true
			for _, g := range want[b] {
				r.clearErrorLocked(key + ":" + g)
			}
			r.log.Debug().Str("src", b.src).Str("tgt", b.tgt).Msg("bound")
		}
		r.mu.Unlock()
	}
	return failed
}

func sortBindings(bs []binding) {
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].src != bs[j].src {
			return bs[i].src < bs[j].src
		}
		return bs[i].tgt < bs[j].tgt
	})
}

// wantedTapsLocked lists the outport queues whose data some client should
// see: watched, bound edges of started graphs and exported outports of
// started graphs. Nothing is tapped while no client is connected.
func (r *Runtime) wantedTapsLocked() map[string]bool {
	want := map[string]bool{}
	r.traceTapsLocked(want)
	if len(r.watchers) == 0 {
		return want
	}
	for _, gs := range r.sortedGraphsLocked() {
		if !gs.started {
			continue
		}
		for _, e := range gs.g.Edges {
			src, ok, _ := r.queueOfLocked(gs, e.Src, true)
			if !ok {
				continue
			}
			k := keyOf(e.Src, e.Tgt)
			if len(r.watchersOfLocked(gs.g.ID, &k)) > 0 {
				want[src] = true
			}
		}
		for _, x := range gs.g.Outports {
			if q, ok, _ := r.queueOfLocked(gs, graph.Endpoint{Node: x.Node, Port: x.Port}, true); ok {
				want[q] = true
			}
		}
	}
	return want
}

func (r *Runtime) reconcileTaps(ctx context.Context) (failed bool) {
	r.mu.Lock()
	want := r.wantedTapsLocked()
	r.mu.Unlock()
	for q, sub := range r.taps {
		if !want[q] {
			if err := sub.Close(); err != nil {
				r.log.Warn().Err(err).Str("queue", q).Msg("close edge tap")
			}
			delete(r.taps, q)
		}
	}
	queues := make([]string, 0, len(want))
	for q := range want {
		if _, ok := r.taps[q]; !ok {
			queues = append(queues, q)
		}
	}
	sort.Strings(queues)
	for _, q := range queues {
		sub, err := r.broker.Tap(ctx, q, r.onTap)
		r.mu.Lock()
		if err != nil {
			failed = true
			r.networkErrorLocked("tap:"+q, "", fmt.Sprintf("Could not watch data on %s: %v", q, err))
		} else {
			r.clearErrorLocked("tap:" + q)
			r.taps[q] = sub
		}
		r.mu.Unlock()
	}
	return failed
}

// onTap reports data seen on an outport queue: network:data for each
// watched, bound edge from it and runtime:packet for each exported outport
// on it.
func (r *Runtime) onTap(queue string, data []byte) {
	// The body as JSON, byte for byte (a copy: data is not ours to keep).
	var value json.RawMessage
	val := func() json.RawMessage {
		if value == nil {
			value = append(json.RawMessage(nil), network.AsJSON(data)...)
		}
		return value
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recordTraceLocked(queue, data)
	for _, gs := range r.sortedGraphsLocked() {
		if !gs.started {
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
			k := keyOf(e.Src, e.Tgt)
			to := r.watchersOfLocked(gs.g.ID, &k)
			if len(to) == 0 {
				continue
			}
			s := portRef(e.Src)
			r.emitTo(to, "network", "data", DataPayload{ID: e.ID(), Src: &s, Tgt: portRef(e.Tgt), Graph: gs.g.ID, Data: val()})
		}
		for _, x := range gs.g.Outports {
			q, ok, _ := r.queueOfLocked(gs, graph.Endpoint{Node: x.Node, Port: x.Port}, true)
			if !ok || q != queue {
				continue
			}
			r.emit("runtime", "packet", PacketPayload{Port: x.Public, Event: "data", Payload: val(), Graph: gs.g.ID})
		}
	}
}

type readyDelivery struct {
	graph string
	queue string
	d     *delivery
}

// wiredFromLocked reports whether every edge data can take from node on is
// bound at the broker (edges that cannot be resolved are reported
// elsewhere and not waited for); if not, waitFor is a node whose
// participant is not known yet, when that is why.
func (r *Runtime) wiredFromLocked(gs *graphState, node string) (wired bool, waitFor string) {
	seen := map[string]bool{node: true}
	queue := []string{node}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, e := range gs.g.Edges {
			if e.Src.Node != n {
				continue
			}
			if r.edgeWaitingLocked(gs, e) {
				if _, known := r.resolveLocked(gs.roleOf(e.Src.Node)); !known {
					return false, e.Src.Node
				}
				if _, known := r.resolveLocked(gs.roleOf(e.Tgt.Node)); !known {
					return false, e.Tgt.Node
				}
				return false, ""
			}
			if !seen[e.Tgt.Node] {
				seen[e.Tgt.Node] = true
				queue = append(queue, e.Tgt.Node)
			}
		}
	}
	return true, ""
}

// stuckLocked says why a node of the graph will not get a participant
// without help, or "" when one is on its way (an in-process participant or
// a process being started) or known.
func (r *Runtime) stuckLocked(gs *graphState, node string) string {
	for k, p := range r.problems {
		if p.graph == gs.g.ID && p.node == node && !strings.HasPrefix(k, "wait:") {
			return p.message
		}
	}
	n := gs.g.Node(node)
	if n == nil {
		return ""
	}
	role := gs.roleOf(node)
	if _, known := r.resolveLocked(role); known {
		return ""
	}
	if slices.Contains(r.opts.Ignore, role) {
		return fmt.Sprintf("no participant with role %s has announced itself, and the runtime ignores that role", role)
	}
	if c, ok := r.components[n.Component]; ok && c.builtin != nil {
		return ""
	}
	if _, ok := r.libraryComponentLocked(n.Component); ok {
		return ""
	}
	return fmt.Sprintf("no participant with role %s has announced itself, and the runtime cannot start component %s", role, n.Component)
}

func (r *Runtime) deliver(ctx context.Context) (failed bool) {
	r.mu.Lock()
	var ready []readyDelivery
	waits := map[string]problem{}
	for _, gs := range r.sortedGraphsLocked() {
		kept := gs.outbox[:0]
		gs.blocked = 0
		type state struct {
			wired   bool
			waitFor string
		}
		states := map[string]state{}
		// wait keeps a packet back; when the node it waits for will not
		// get a participant without help, the wait is reported, naming it.
		wait := func(d *delivery, node string) {
			kept = append(kept, d)
			if node == "" {
				return
			}
			if why := r.stuckLocked(gs, node); why != "" {
				gs.blocked++
				waits["wait:"+gs.g.ID+":"+node] = problem{graph: gs.g.ID, node: node,
					message: fmt.Sprintf("Packets to %s wait for node %s: %s", d.tgt.Node, node, why)}
			}
		}
		for _, d := range gs.outbox {
			// A packet sent now could reach a participant whose output
			// is not bound yet, and the broker would drop what it
			// sends: wait until every edge downstream is in place.
			st, known := states[d.tgt.Node]
			if !known {
				st.wired, st.waitFor = r.wiredFromLocked(gs, d.tgt.Node)
				states[d.tgt.Node] = st
			}
			if !st.wired {
				wait(d, st.waitFor)
				continue
			}
			q, ok, err := r.queueOfLocked(gs, d.tgt, false)
			if err != nil {
				r.networkErrorLocked("deliver:"+gs.g.ID+":"+d.tgt.String(), gs.g.ID, fmt.Sprintf("Cannot deliver to %s: %v", d.tgt, err))
				continue
			}
			if !ok {
				wait(d, d.tgt.Node)
				continue
			}
			ready = append(ready, readyDelivery{graph: gs.g.ID, queue: q, d: d})
			if d.iip != nil {
				if to := r.watchersOfLocked(gs.g.ID, nil); len(to) > 0 {
					r.emitTo(to, "network", "data", DataPayload{ID: d.iip.ID(), Tgt: portRef(d.iip.Tgt), Graph: gs.g.ID, Data: d.iip.Data})
				}
			}
		}
		gs.setOutbox(kept)
	}
	r.dropProblemsLocked(func(k string, _ problem) bool {
		_, still := waits[k]
		return strings.HasPrefix(k, "wait:") && !still
	})
	for _, k := range slices.Sorted(maps.Keys(waits)) {
		r.raiseLocked(k, waits[k])
	}
	r.mu.Unlock()

	for i, rd := range ready {
		if err := r.broker.Send(ctx, rd.queue, rd.d.data); err != nil {
			failed = true
			r.mu.Lock()
			// Put this and the rest back, in order, ahead of newer ones.
			for j := len(ready) - 1; j >= i; j-- {
				if gs, ok := r.graphs[ready[j].graph]; ok {
					gs.setOutbox(append([]*delivery{ready[j].d}, gs.outbox...))
				}
			}
			r.networkErrorLocked("send:"+rd.queue, rd.graph, fmt.Sprintf("Could not send to %s: %v", rd.queue, err))
			r.mu.Unlock()
			return failed
		}
		r.mu.Lock()
		r.clearErrorLocked("send:" + rd.queue)
		r.mu.Unlock()
	}
	return failed
}
