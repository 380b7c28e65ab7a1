package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/proxy"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
	"github.com/msgflo/msgflo-runtime/runtime/procs"
)

// wiring is the part that makes the broker match the graphs: the reconcile
// loop's plans are acted on here, and it owns what the runtime made at the
// broker: the bindings (bound: written only by the Run goroutine, under
// its lock, which the edge taps' handler reads it under) and the edge taps
// (the Run goroutine's alone).
type wiring struct {
	rt *Runtime

	mu    sync.Mutex // guards bound
	bound map[plan.Binding]bool
	taps  map[string]network.Subscription
	// behind is when the loop first had edits it has not acted on all of
	// (zero when none: the Run goroutine's); editsAt is the count of edits
	// the current plan was made from, and yielded says the pass gave way
	// to newer ones (yielding), for giveWay at most after behind
	// (settleMax; tests set it before their first edit).
	behind  time.Time
	editsAt uint64
	yielded bool
	giveWay time.Duration
	// reconciled, when set (by tests), is called after each reconcile pass.
	reconciled func()
}

func newWiring(rt *Runtime) *wiring {
	return &wiring{rt: rt, bound: map[plan.Binding]bool{}, taps: map[string]network.Subscription{}, giveWay: settleMax}
}

// isBound says a binding is made.
func (w *wiring) isBound(b plan.Binding) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bound[b]
}

func (w *wiring) setBound(b plan.Binding, made bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if made {
		w.bound[b] = true
	} else {
		delete(w.bound, b)
	}
}

// closeTaps closes every edge tap (at shutdown).
func (w *wiring) closeTaps() {
	for q, sub := range w.taps {
		if err := sub.Close(); err != nil {
			w.rt.log.Debug().Err(err).Str("queue", q).Msg("close edge tap")
		}
	}
	w.taps = map[string]network.Subscription{}
}

// The reconciler brings the broker in line with the graphs: it takes a
// snapshot of the state under the lock, makes a plan of it (plan.Make, a
// pure function), acts on the plan without the lock, and records each
// result under the lock again. It runs on the Run goroutine only, which
// owns taps and is the only writer of bound.

// stopTimeout bounds how long stopping an in-process participant may take.
const stopTimeout = 10 * time.Second

// maxPlans bounds the plans of one pass: a plan that started participants
// is followed by another, which binds their edges.
const maxPlans = 3

// reconcile makes a pass; yielded says it gave way to edits that came
// meanwhile before it did all it planned (yielding).
func (w *wiring) reconcile(ctx context.Context) (failed, yielded bool) {
	r := w.rt
	defer r.events.flush()
	r.mu.Lock()
	r.pruneProblemsLocked()
	r.dir.Prune(r.neededLocked)
	r.mu.Unlock()
	w.yielded = false
	for range maxPlans {
		r.mu.Lock()
		s := w.snapshotLocked()
		w.editsAt = r.edits.Load()
		r.mu.Unlock()
		p := plan.Make(s)
		again, f := w.act(ctx, p)
		failed = failed || f
		if !again || w.yielded {
			break
		}
	}
	return failed, w.yielded
}

// yielding says the pass should stop after the action it just made, so
// that the edits a client sends meanwhile do not wait for the CPU, or the
// broker, while it starts participants and binds their edges: an edit
// came since the plan was made, and the loop has not given way for longer
// than giveWay (settleMax, Run). Each action records its result, so that the next
// plan, made once the edits settle again, does what this one left. Call
// it on the Run goroutine, after an action (each pass makes one at least).
func (w *wiring) yielding() bool {
	// giveWay is read after an edit's count: the edit made after a test
	// set it is seen first.
	if !w.yielded && w.rt.edits.Load() != w.editsAt && time.Since(w.behind) < w.giveWay {
		w.yielded = true
	}
	return w.yielded
}

// act carries out a plan. again says the participants changed, so that
// another plan has more to do (bind the edges of a participant started,
// start the one replacing a participant stopped).
func (w *wiring) act(ctx context.Context, p *plan.Plan) (again, failed bool) {
	r := w.rt
	defer r.events.flush()
	r.mu.Lock()
	w.recordProblemsLocked(p)
	r.mu.Unlock()
	r.events.flush()
	// A pass that gives way to edits (yielding) stops after the action it
	// is making: the next plan does the rest, in the same order.
	w.stopLocals(ctx, p.StopLocal)
	if w.yielded {
		return false, false
	}
	// The taps before anything lets data in (a gate opened, a participant
	// that begins to consume, a packet delivered): a client sees the data
	// that comes after its selection; what needs a tap that could not be
	// opened waits for a later pass.
	failed = w.reconcileTaps(ctx, p.CloseTaps, p.OpenTaps)
	w.setGates(p.Gates)
	if w.startLocals(ctx, p.StartLocal) {
		failed = true
	}
	for _, role := range p.StopProcess {
		r.procs.stop(role)
	}
	for _, s := range p.StartProcess {
		if w.yielded {
			break
		}
		w.startProcess(s)
		w.yielding()
	}
	if !w.yielded && (w.unbind(ctx, p.Unbind) || w.bind(ctx, p.Bind)) {
		failed = true
	}
	if !w.yielded && w.runLocals(ctx, p.RunLocal) {
		failed = true
	}
	if w.yielded {
		return false, failed
	}
	r.fwd.connect(p.Connect)
	if w.deliver(ctx, p) {
		failed = true
	}
	again = len(p.StartLocal)+len(p.StopLocal)+len(p.StartProcess)+len(p.StopProcess) > 0
	return again, failed
}

// snapshotLocked is what the plan is made from.
func (w *wiring) snapshotLocked() *plan.Snapshot {
	r := w.rt
	graphs := r.sortedGraphsLocked()
	s := &plan.Snapshot{
		Graphs:    make([]plan.Graph, 0, len(graphs)),
		Local:     r.local.plan(),
		Processes: r.procs.components(),
		Bound:     w.bound, // written by this goroutine only
		Taps:      make(map[string]bool, len(w.taps)),
		Watching:  len(r.watchers) > 0,
		Hosts:     map[string]plan.Host{},
		Connected: r.fwd.sent(),
	}
	gen := w.planGen()
	roles := 0
	for _, gs := range graphs {
		roles += len(w.plannedLocked(gs, gen).roles)
	}
	s.Participants = make(map[string]plan.Participant, roles)
	for _, gs := range graphs {
		pg := gs.planned
		g := pg.graph // the nodes and edges are shared: the plan only reads them
		g.Started, g.Traced = gs.started, r.tracer.traced(gs.g.ID)
		for _, d := range gs.outbox {
			g.Outbox = append(g.Outbox, plan.Packet{Seq: d.seq, Tgt: d.tgt, Role: gs.roleOf(d.tgt.Node)})
		}
		s.Graphs = append(s.Graphs, g)
		for _, role := range pg.roles {
			if _, done := s.Participants[role]; !done {
				w.addParticipantLocked(s, role)
			}
		}
	}
	for q := range w.taps {
		s.Taps[q] = true
	}
	s.Problems = r.problems.nodeProblems()
	return s
}

// addParticipantLocked puts the participant serving role in the snapshot,
// and among its hosts when it is a full FBP runtime.
func (w *wiring) addParticipantLocked(s *plan.Snapshot, role string) {
	r := w.rt
	def, live, ok := r.resolveRef(role)
	if !ok {
		return
	}
	s.Participants[role] = plan.Participant{Def: def, Live: live}
	if def.Inqueue == "" || def.Outqueue == "" {
		return
	}
	if ep := proxy.EndpointOf(*def); ep.Announced && ep.Can("protocol:graph") && !r.local.has(role) {
		s.Hosts[role] = plan.Host{Participant: def.ID, Graph: r.dir.Hosted(*def)}
	}
}

// plannedGraph is a graph as the plan sees it, kept between passes while
// neither the graph nor what its plan depends on changed (the clients'
// edge selections, the library): its nodes and edges, with their roles,
// what the runtime does for each node and which edges clients watch.
// Whether it is started or traced, and its outbox, are read each pass.
type plannedGraph struct {
	graph plan.Graph
	// roles are its nodes' roles, each once.
	roles []string
	// gen is the runtime's planGen it was made at.
	gen uint64
}

// planGen changes whenever what every graph's plan depends on, besides
// the graph, changes: the clients and their edge selections (Watched),
// the library (Run).
func (w *wiring) planGen() uint64 { return w.rt.watchGen + w.rt.catalog.gen.Load() }

// plannedLocked is gs as the plan sees it, made again when gs changed
// (graphState.changed) or planGen did.
func (w *wiring) plannedLocked(gs *graphState, gen uint64) *plannedGraph {
	if gs.planned != nil && gs.planned.gen == gen {
		return gs.planned
	}
	r := w.rt
	rules := r.rules()
	pg := &plannedGraph{gen: gen}
	g := plan.Graph{ID: gs.g.ID, Created: gs.created, Nodes: make([]plan.Node, 0, len(gs.g.Nodes)), Edges: make([]plan.Edge, 0, len(gs.g.Edges))}
	seen := make(map[string]bool, len(gs.g.Nodes))
	for _, n := range gs.g.Nodes {
		role := gs.roleOf(n.ID)
		if !seen[role] {
			seen[role] = true
			pg.roles = append(pg.roles, role)
		}
		pn := plan.Node{ID: n.ID, Role: role, Component: n.Component, Run: rules.Run(n.ID, role, n.Component, observed(n.Metadata))}
		if pn.Run == plan.LibraryProcess {
			pn.IIPs = gs.g.InitialData(n.ID)
		}
		g.Nodes = append(g.Nodes, pn)
	}
	watching := len(r.watchers) > 0
	for _, e := range gs.g.Edges {
		obs := observed(e.Metadata)
		g.Edges = append(g.Edges, plan.Edge{Src: e.Src, Tgt: e.Tgt, SrcRole: gs.roleOf(e.Src.Node), TgtRole: gs.roleOf(e.Tgt.Node),
			Observed: obs, Watched: watching && r.watchers.watched(gs.g.ID, keyOf(e.Src, e.Tgt), obs)})
	}
	for _, x := range gs.g.Outports {
		g.Outports = append(g.Outports, graph.Endpoint{Node: x.Node, Port: x.Port})
	}
	pg.graph = g
	gs.planned = pg
	return pg
}

// recordProblemsLocked reports the plan's problems as they are now: new
// ones once, and those over no longer.
func (w *wiring) recordProblemsLocked(p *plan.Plan) {
	r := w.rt
	r.problems.sync([]string{plan.EdgeKey, plan.RoleKey}, toProblems(p.Errors))
	for _, rep := range p.Reports {
		r.problems.graphError(rep.Key, rep.Graph, rep.Message)
	}
	r.problems.sync([]string{plan.WaitKey}, toProblems(p.Waits))
	for id, gs := range r.graphs {
		gs.blocked = p.Blocked[id]
	}
}

func toProblems(in map[string]plan.Problem) map[string]problem {
	out := make(map[string]problem, len(in))
	for k, p := range in {
		out[k] = problem{graph: p.Graph, node: p.Node, message: p.Message, asError: p.AsError}
	}
	return out
}

func (w *wiring) stopLocals(ctx context.Context, roles []string) {
	r := w.rt
	if len(roles) > 0 {
		defer logRoles(r.log, "stopped in-process participants", roles)
	}
	for _, role := range roles {
		if w.yielded {
			break
		}
		lp := r.local.take(role)
		r.mu.Lock()
		// A paused participant finishes what it holds instead of waiting
		// for a start that will not come.
		lp.gate.set(true)
		id := lp.def.ID
		r.dir.Remove(id)
		r.dir.Retire(id, r.now())
		r.mu.Unlock()
		sctx, cancel := context.WithTimeout(ctx, stopTimeout)
		if err := lp.stop(sctx); err != nil {
			r.log.Warn().Err(err).Str("role", role).Msg("stop in-process participant")
		}
		cancel()
		r.opts.Metrics.ForgetParticipant(lp.graph, role)
		r.log.Debug().Str("role", role).Str("component", lp.component).Msg("stopped in-process participant")
		w.yielding()
	}
}

func (w *wiring) setGates(gates []plan.Gate) {
	r := w.rt
	r.mu.Lock()
	defer r.mu.Unlock()
	opened := false
	for _, g := range gates {
		lp := r.local.get(g.Role)
		if lp == nil || g.Open && !w.tapped(g.Taps) || !lp.gate.set(g.Open) {
			continue
		}
		if g.Open {
			opened = true
			r.log.Debug().Str("role", g.Role).Msg("in-process participant resumed")
		} else {
			r.log.Debug().Str("role", g.Role).Msg("in-process participant paused")
		}
	}
	if opened {
		// The plan is of a snapshot: a network stopped since closes again
		// what the plan opened for it.
		r.pauseLocked()
	}
}

// startLocals declares in-process participants; they consume once their
// outputs are wired (runLocals).
func (w *wiring) startLocals(ctx context.Context, starts []plan.LocalStart) (failed bool) {
	r := w.rt
	opened := false
	for _, s := range starts {
		if w.yielded {
			break
		}
		r.mu.Lock()
		comp := r.catalog.builtin(s.Component)
		r.mu.Unlock()
		g := newGate(s.Open)
		counts := &portCounts{}
		pb, release := r.local.brokerFor(ctx, r.broker)
		p, err := participant.New(pb, gated(instrumented(*comp, r.opts.Metrics, counts, s.Graph, s.Role), g), s.Role, participant.Options{
			DiscoveryPeriod:   r.opts.DiscoveryPeriod,
			TransientMessages: r.opts.TransientMessages,
			Logger:            r.log.With().Str("role", s.Role).Logger(),
		})
		if err == nil {
			err = p.Declare(ctx)
		}
		r.mu.Lock()
		key := "start:" + s.Role
		if err != nil {
			release()
			failed = true
			r.nodeErrorLocked(key, s.Role, true, func(node string) string {
				return fmt.Sprintf("Could not start participant %s (%s) for node %s: %v", s.Role, s.Component, node, err)
			})
			r.mu.Unlock()
			continue
		}
		r.problems.clearPrefix(key + ":")
		def := p.Definition()
		r.local.put(s.Role, &localParticipant{component: s.Component, p: p, def: def, gate: g, graph: s.Graph, counts: counts, release: release})
		// Known at once, so that its edges can be bound before it runs.
		r.participantChangedLocked(def, r.dir.UpsertOwn(def, r.now()))
		r.mu.Unlock()
		w.yielding()
		opened = opened || s.Open
	}
	if opened {
		// As setGates: a network stopped since the snapshot closes the gates
		// the plan made open (they do not consume yet: runLocals).
		r.mu.Lock()
		r.pauseLocked()
		r.mu.Unlock()
	}
	return failed
}

// startProcess starts the participant process the plan asks for.
func (w *wiring) startProcess(s plan.ProcessStart) {
	r := w.rt
	lc, ok := r.catalog.libraryComponent(s.Component)
	if !ok {
		return
	}
	line, err := r.catalog.script(lc, s.Role, s.IIPs)
	if err != nil {
		r.log.Error().Err(err).Str("role", s.Role).Str("component", s.Component).Msg("cannot start participant process")
		r.procs.failedToStart(s.Role, s.Component, fmt.Sprintf("could not start participant process: %v", err))
		return
	}
	spec := procs.Spec{
		Command:    line,
		Supervisor: r.opts.Supervisor,
		Env:        procs.Env{Broker: r.broker.URL(), TransientMessages: r.opts.TransientMessages, QueueType: r.opts.QueueType}.Environ(os.Environ()),
		Prefix:     s.Role,
		Grace:      StopGrace,
	}
	if slices.Contains(r.opts.Forward, "stdout") {
		spec.Stdout = r.opts.ForwardTo
	}
	if slices.Contains(r.opts.Forward, "stderr") {
		spec.Stderr = r.opts.ForwardTo
	}
	r.procs.start(s.Role, s.Component, spec)
}

// processFailed reports a problem of the process of role on the role's nodes.
func (r *Runtime) processFailed(role, msg string) {
	defer r.events.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodeErrorLocked("process:"+role, role, false, func(string) string { return msg })
}

// made says the bindings are in place.
func (w *wiring) made(needs []plan.Binding) bool {
	for _, b := range needs {
		if !w.isBound(b) {
			return false
		}
	}
	return true
}

// tapped says the taps are open. Call it on the Run goroutine (it owns
// taps).
func (w *wiring) tapped(queues []string) bool {
	for _, q := range queues {
		if _, ok := w.taps[q]; !ok {
			return false
		}
	}
	return true
}

// runLocals starts consuming in the in-process participants whose outputs
// are wired.
func (w *wiring) runLocals(ctx context.Context, runs []plan.LocalRun) (failed bool) {
	r := w.rt
	var started []string
	defer func() { logRoles(r.log, "started in-process participants", started) }()
	for _, run := range runs {
		if w.yielded {
			break
		}
		lp := r.local.get(run.Role)
		if lp == nil || !w.made(run.Needs) || !w.tapped(run.Taps) {
			continue
		}
		err := lp.p.Start(ctx)
		r.mu.Lock()
		key := "start:" + run.Role
		if err != nil {
			failed = true
			r.nodeErrorLocked(key, run.Role, true, func(node string) string {
				return fmt.Sprintf("Could not start participant %s (%s) for node %s: %v", run.Role, lp.component, node, err)
			})
			r.mu.Unlock()
			continue
		}
		r.mu.Unlock()
		r.local.markRunning(run.Role)
		started = append(started, run.Role)
		r.log.Debug().Str("role", run.Role).Str("component", lp.component).Msg("started in-process participant")
		w.yielding()
	}
	return failed
}

// logRoles logs at info level what happened to the participants of
// roles, in one line per reconcile pass (a client uploading a graph makes
// hundreds of them; each is logged at debug level): how many, and the
// first few roles.
func logRoles(log zerolog.Logger, msg string, roles []string) {
	if len(roles) == 0 {
		return
	}
	const shown = 10
	list := strings.Join(roles[:min(len(roles), shown)], ",")
	if len(roles) > shown {
		list += fmt.Sprintf(",... (%d more)", len(roles)-shown)
	}
	log.Info().Int("count", len(roles)).Str("roles", list).Msg(msg)
}

func (r *Graphs) graphsWithRoleLocked(role string) []*graphState {
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
func (r *Graphs) queueOfLocked(gs *graphState, ep graph.Endpoint, out bool) (queue string, ok bool, err error) {
	def, _, found := r.resolve(gs.roleOf(ep.Node))
	if !found {
		return "", false, nil
	}
	q, err := plan.PortQueue(def, ep.Port, out)
	return q, err == nil, err
}

func (w *wiring) unbind(ctx context.Context, unbind []plan.Binding) (failed bool) {
	r := w.rt
	for _, b := range unbind {
		if w.yielded {
			break
		}
		err := r.broker.Unbind(ctx, b.Src, b.Tgt)
		r.mu.Lock()
		if err != nil {
			failed = true
			r.problems.graphError("unbind:"+b.Src+"->"+b.Tgt, "", fmt.Sprintf("Could not unbind %s -> %s: %v", b.Src, b.Tgt, err))
		} else {
			w.setBound(b, false)
			r.problems.clear("unbind:" + b.Src + "->" + b.Tgt)
			r.log.Debug().Str("src", b.Src).Str("tgt", b.Tgt).Msg("unbound")
		}
		r.mu.Unlock()
		w.yielding()
	}
	return failed
}

func (w *wiring) bind(ctx context.Context, binds []plan.Bind) (failed bool) {
	r := w.rt
	for _, pb := range binds {
		if w.yielded {
			break
		}
		b := pb.Binding
		err := r.broker.Bind(ctx, b.Src, b.Tgt)
		r.mu.Lock()
		key := "bind:" + b.Src + "->" + b.Tgt
		if err != nil {
			failed = true
			for _, g := range pb.Graphs {
				r.problems.graphError(key+":"+g, g, fmt.Sprintf("Could not bind %s -> %s: %v", b.Src, b.Tgt, err))
			}
		} else {
			w.setBound(b, true)
			for _, g := range pb.Graphs {
				r.problems.clear(key + ":" + g)
			}
			r.log.Debug().Str("src", b.Src).Str("tgt", b.Tgt).Msg("bound")
		}
		r.mu.Unlock()
		w.yielding()
	}
	return failed
}

func (w *wiring) reconcileTaps(ctx context.Context, closeTaps, openTaps []string) (failed bool) {
	r := w.rt
	for _, q := range closeTaps {
		if err := w.taps[q].Close(); err != nil {
			r.log.Warn().Err(err).Str("queue", q).Msg("close edge tap")
		}
		delete(w.taps, q)
	}
	for _, q := range openTaps {
		sub, err := r.broker.Tap(ctx, q, w.onTap)
		r.mu.Lock()
		if err != nil {
			failed = true
			r.problems.graphError("tap:"+q, "", fmt.Sprintf("Could not watch data on %s: %v", q, err))
		} else {
			r.problems.clear("tap:" + q)
			w.taps[q] = sub
		}
		r.mu.Unlock()
	}
	return failed
}

// onTap reports data seen on an outport queue: network:data for each
// watched, bound edge from it and runtime:packet for each exported outport
// on it.
func (w *wiring) onTap(queue string, data []byte) {
	r := w.rt
	defer r.events.flush()
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
	r.tracer.record(queue, data, w.inEffectLocked)
	for _, gs := range r.sortedGraphsLocked() {
		if !gs.started {
			continue
		}
		for _, e := range gs.g.Edges {
			src, ok, _ := r.queueOfLocked(gs, e.Src, true)
			if !ok || src != queue {
				continue
			}
			if !w.inEffectLocked(gs, e, src) {
				continue
			}
			k := keyOf(e.Src, e.Tgt)
			// An observed edge is watched by the clients that selected it.
			to := r.watchers.of(gs.g.ID, &k, observed(e.Metadata))
			if len(to) == 0 {
				continue
			}
			s := wire.RefOf(e.Src)
			r.events.pushTo(to, wire.Data{ID: e.ID(), Src: &s, Tgt: wire.RefOf(e.Tgt), Graph: gs.g.ID, Data: val()})
		}
		for _, x := range gs.g.Outports {
			q, ok, _ := r.queueOfLocked(gs, graph.Endpoint{Node: x.Node, Port: x.Port}, true)
			if !ok || q != queue {
				continue
			}
			r.emit(wire.Packet{Port: x.Public, Event: "data", Payload: val(), Graph: gs.g.ID})
		}
	}
}

// inEffectLocked says data published on src, the source queue of
// an edge, reaches its target: the edge is bound, or it is an observed
// edge (its two ports share the queue).
func (w *wiring) inEffectLocked(gs *graphState, e *graph.Edge, src string) bool {
	r := w.rt
	tgt, ok, _ := r.queueOfLocked(gs, e.Tgt, false)
	return ok && (w.isBound(plan.Binding{Src: src, Tgt: tgt}) || observed(e.Metadata) && src == tgt)
}

// sending is a packet of a graph's outbox being sent. It stays in the
// outbox while it is sent (delivery.sending), so that what the store does
// meanwhile (network:stop, a node or an IIP removed, the graph cleared)
// drops it as it drops the others: one that could not be sent is still
// there, in its place, only if the graph still holds it.
type sending struct {
	gs    *graphState
	queue string
	d     *delivery
}

// deliver sends the packets the plan found ready, in order, and drops the
// ones it found undeliverable. It stops at a packet that cannot be sent:
// that one and the ones after it wait in their outboxes for a later pass.
func (w *wiring) deliver(ctx context.Context, p *plan.Plan) (failed bool) {
	r := w.rt
	r.mu.Lock()
	ready := w.takeReadyLocked(p)
	// An initial packet is reported before it is sent: the data it causes
	// downstream (network:data of the edges after it, seen by the taps on
	// other goroutines) must not reach clients before it does. It is
	// reported once, however many tries its send takes.
	for _, s := range ready {
		if s.d.iip == nil || s.d.reported {
			continue
		}
		s.d.reported = true
		if to := r.watchers.of(s.gs.g.ID, nil, false); len(to) > 0 {
			r.events.pushTo(to, wire.Data{ID: s.d.iip.ID(), Tgt: wire.RefOf(s.d.iip.Tgt), Graph: s.gs.g.ID, Data: s.d.iip.Data})
		}
	}
	r.mu.Unlock()
	for i, s := range ready {
		err := r.broker.Send(ctx, s.queue, s.d.data)
		r.mu.Lock()
		if err != nil {
			for _, rest := range ready[i:] {
				rest.d.sending = false
			}
			sentLocked(ready[:i])
			r.problems.graphError("send:"+s.queue, s.gs.g.ID, fmt.Sprintf("Could not send to %s: %v", s.queue, err))
			r.mu.Unlock()
			return true
		}
		r.problems.clear("send:" + s.queue)
		r.mu.Unlock()
	}
	r.mu.Lock()
	sentLocked(ready)
	r.mu.Unlock()
	return false
}

// sentLocked takes the packets sent out of the outboxes that still hold
// them.
func sentLocked(sent []sending) {
	if len(sent) == 0 {
		return
	}
	done := make(map[*delivery]bool, len(sent))
	graphs := map[*graphState]bool{}
	for _, s := range sent {
		done[s.d] = true
		graphs[s.gs] = true
	}
	for gs := range graphs {
		gs.setOutbox(slices.DeleteFunc(gs.outbox, func(d *delivery) bool { return done[d] }))
	}
}

// takeReadyLocked marks the packets the plan delivers (those still in
// their outbox, whose bindings were made) as being sent, and takes those
// it drops out of the outboxes.
func (w *wiring) takeReadyLocked(p *plan.Plan) []sending {
	r := w.rt
	take := map[string]map[uint64]string{} // graph -> seq -> queue
	for _, d := range p.Deliver {
		if !w.made(d.Needs) || !w.tapped(d.Taps) {
			continue
		}
		if take[d.Graph] == nil {
			take[d.Graph] = map[uint64]string{}
		}
		take[d.Graph][d.Seq] = d.Queue
	}
	drop := map[plan.PacketRef]bool{}
	for _, ref := range p.Drop {
		drop[ref] = true
	}
	var ready []sending
	for _, gs := range r.sortedGraphsLocked() {
		queues := take[gs.g.ID]
		if len(queues) == 0 && len(drop) == 0 {
			continue
		}
		kept := gs.outbox[:0]
		for _, d := range gs.outbox {
			if drop[plan.PacketRef{Graph: gs.g.ID, Seq: d.seq}] {
				continue
			}
			if q, ok := queues[d.seq]; ok {
				d.sending = true
				ready = append(ready, sending{gs: gs, queue: q, d: d})
			}
			kept = append(kept, d)
		}
		clear(gs.outbox[len(kept):])
		gs.setOutbox(kept)
	}
	return ready
}
