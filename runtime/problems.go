package runtime

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// problems is where every problem the runtime reports goes, and the one
// place that decides how often clients hear of it:
//
//   - a problem raised under a key (raise) is reported once, until it is
//     cleared or its text changes: network:error for a problem of a graph
//     (an edge that cannot be connected, a binding the broker refused),
//     network:processerror naming the node for a problem of a node (a
//     participant that cannot start or whose process failed, a packet
//     waiting for a node), and network:error too when asError is set;
//   - a node's problem lasts: it is reported again to each client that
//     introduces itself or asks for the graph's status (replay), until it
//     is cleared or its node is gone. Waits and process failures are not
//     network:error: a participant may still come, and clients
//     (fbp-client) fail a pending network command on network:error;
//   - a passing problem (report: a participant expired, the broker
//     connection lost) is reported once and not kept;
//
// It has its own lock and queues its events (events), so any part may
// raise a problem while holding its own lock. The last errors reported are
// kept for the status page by the errorLog the events are recorded in.
type problems struct {
	log    zerolog.Logger
	events *events

	mu sync.Mutex // guards raised
	// raised are the problems raised and not cleared, by key.
	raised map[string]problem
}

// problem is a problem of a graph (node empty) or of one of its nodes.
type problem struct {
	graph, node, message string
	// asError reports a node's problem as network:error as well.
	asError bool
}

func newProblems(log zerolog.Logger, events *events) *problems {
	return &problems{log: log, events: events, raised: map[string]problem{}}
}

// emit queues what clients hear of a problem.
func (p *problems) emit(to []ClientID, pr problem) {
	if pr.node == "" {
		p.events.pushTo(to, wire.NetworkError{Message: pr.message, Graph: pr.graph})
		return
	}
	p.events.pushTo(to, wire.ProcessError{ID: pr.node, Error: pr.message, Graph: pr.graph})
	if pr.asError {
		p.events.pushTo(to, wire.NetworkError{Message: pr.message, Graph: pr.graph})
	}
}

// raise records a problem under key and reports it, unless it is raised
// already with the same text.
func (p *problems) raise(key string, pr problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.raiseLocked(key, pr)
}

func (p *problems) raiseLocked(key string, pr problem) {
	if old, ok := p.raised[key]; ok && old == pr {
		return
	}
	p.raised[key] = pr
	p.log.Warn().Str("graph", pr.graph).Str("node", pr.node).Msg(pr.message)
	p.emit(nil, pr)
}

// report reports a passing problem, which is not kept.
func (p *problems) report(pr problem) {
	p.log.Warn().Str("graph", pr.graph).Str("node", pr.node).Msg(pr.message)
	p.emit(nil, pr)
}

// clear ends the problem raised under key.
func (p *problems) clear(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.raised, key)
}

// clearPrefix ends the problems raised under keys that start with prefix.
func (p *problems) clearPrefix(prefix string) {
	p.drop(func(k string, _ problem) bool { return strings.HasPrefix(k, prefix) })
}

// drop ends the problems for which over says so.
func (p *problems) drop(over func(key string, pr problem) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	maps.DeleteFunc(p.raised, over)
}

// sync makes the problems under prefixes what now holds: those new or
// changed are raised (in key order), those no longer in now cleared.
func (p *problems) sync(prefixes []string, now map[string]problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	maps.DeleteFunc(p.raised, func(k string, _ problem) bool {
		_, still := now[k]
		return !still && slices.ContainsFunc(prefixes, func(prefix string) bool { return strings.HasPrefix(k, prefix) })
	})
	for _, k := range slices.Sorted(maps.Keys(now)) {
		p.raiseLocked(k, now[k])
	}
}

// replay reports again to a client the lasting problems of a graph's nodes
// (of every graph when graphID is empty).
func (p *problems) replay(to ClientID, graphID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(p.raised)) {
		if pr := p.raised[k]; pr.node != "" && (graphID == "" || pr.graph == graphID) {
			p.emit([]ClientID{to}, pr)
		}
	}
}

// nodeProblems are the lasting problems of nodes other than waits, by
// graph and node (the first by key): what a packet for such a node waits
// for.
func (p *problems) nodeProblems() map[plan.NodeKey]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[plan.NodeKey]string{}
	for _, k := range slices.Sorted(maps.Keys(p.raised)) {
		pr := p.raised[k]
		nk := plan.NodeKey{Graph: pr.graph, Node: pr.node}
		if _, seen := out[nk]; !seen && pr.node != "" && !strings.HasPrefix(k, plan.WaitKey) {
			out[nk] = pr.message
		}
	}
	return out
}

// keptErrors is how many of the last errors the runtime keeps.
const keptErrors = 50

// errorLog keeps the last errors reported to clients. It has a lock of its
// own: events are recorded as they are queued, under any part's lock.
type errorLog struct {
	now  func() time.Time
	mu   sync.Mutex // guards last
	last []ErrorRecord
}

// record keeps an event that reports an error.
func (l *errorLog) record(ev Event) {
	switch m := ev.Message.(type) {
	case wire.NetworkError:
		l.add(ErrorRecord{Time: l.now(), Kind: "error", Graph: m.Graph, Message: m.Message})
	case wire.ProcessError:
		l.add(ErrorRecord{Time: l.now(), Kind: "processerror", Graph: m.Graph, Node: m.ID, Message: m.Error})
	}
}

func (l *errorLog) add(e ErrorRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == keptErrors {
		l.last = append(l.last[:0], l.last[1:]...)
	}
	l.last = append(l.last, e)
}

func (l *errorLog) list() []ErrorRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ErrorRecord{}, l.last...)
}

// graphError raises a problem of a graph (network:error) under key.
func (p *problems) graphError(key, graphID, msg string) {
	p.raise(key, problem{graph: graphID, message: msg})
}

// nodeErrorLocked raises a problem for every node that role serves, under
// key:GRAPH:NODE.
func (r *Graphs) nodeErrorLocked(key, role string, asError bool, msg func(node string) string) {
	for _, gs := range r.graphsWithRoleLocked(role) {
		for _, node := range gs.nodesOfRole(role) {
			r.problems.raise(key+":"+gs.g.ID+":"+node, problem{graph: gs.g.ID, node: node, message: msg(node), asError: asError})
		}
	}
}

// pruneProblemsLocked forgets the problems of nodes that are gone.
func (r *Graphs) pruneProblemsLocked() {
	r.problems.drop(func(_ string, p problem) bool {
		if p.node == "" {
			return false
		}
		gs, ok := r.graphs[p.graph]
		return !ok || gs.g.Node(p.node) == nil
	})
}

// ReportProblems sends a client the lasting problems of a graph's nodes (of
// every graph when graphID is empty) again. The protocol calls it when a
// client has introduced itself (runtime:getruntime) and after each
// network:status reply.
//
// A client that asks for the live graph's status follows its changes from
// then on (see live.go).
func (r *Graphs) ReportProblems(to ClientID, graphID string) {
	defer r.events.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live.follow(to, graphID)
	r.pruneProblemsLocked()
	r.problems.replay(to, graphID)
}
