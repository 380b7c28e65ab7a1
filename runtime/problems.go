package runtime

import (
	"sort"
	"strings"
)

// Lasting problems of nodes: a participant that cannot start or whose
// process failed, a packet that waits for a node. Each is reported as
// network:processerror naming the node (and, for an in-process participant
// that cannot start, as network:error with its graph too) when it begins,
// and again to each client that introduces itself or asks for the graph's
// status, until it is over (or the node is gone). Waits and process
// failures are not network:error: a participant may still come, and
// clients (fbp-client) fail a pending network command on network:error.

// problem is a lasting problem of a node of a graph.
type problem struct {
	graph, node, message string
	// asError reports it as network:error as well.
	asError bool
}

// raiseLocked records a problem under key and reports it to every client,
// unless it is already recorded with the same message.
func (r *Runtime) raiseLocked(key string, p problem) {
	if old, ok := r.problems[key]; ok && old == p {
		return
	}
	r.problems[key] = p
	r.log.Warn().Str("graph", p.graph).Str("node", p.node).Msg(p.message)
	r.emit("network", "processerror", ProcessErrorPayload{ID: p.node, Error: p.message, Graph: p.graph})
	if p.asError {
		r.emit("network", "error", NetworkErrorPayload{Message: p.message, Graph: p.graph})
	}
}

// nodeErrorLocked raises a problem for every node that role serves, under
// key:GRAPH:NODE.
func (r *Runtime) nodeErrorLocked(key, role string, asError bool, msg func(node string) string) {
	for _, gs := range r.graphsWithRoleLocked(role) {
		for _, node := range gs.nodesOfRole(role) {
			r.raiseLocked(key+":"+gs.g.ID+":"+node, problem{graph: gs.g.ID, node: node, message: msg(node), asError: asError})
		}
	}
}

// clearNodeErrorLocked ends the problems raised by nodeErrorLocked under key.
func (r *Runtime) clearNodeErrorLocked(key, _ string) {
	r.dropProblemsLocked(func(k string, _ problem) bool { return strings.HasPrefix(k, key+":") })
}

func (r *Runtime) dropProblemsLocked(over func(key string, p problem) bool) {
	for k, p := range r.problems {
		if over(k, p) {
			delete(r.problems, k)
		}
	}
}

// pruneProblemsLocked forgets the problems of nodes that are gone.
func (r *Runtime) pruneProblemsLocked() {
	r.dropProblemsLocked(func(_ string, p problem) bool {
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
func (r *Runtime) ReportProblems(to ClientID, graphID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.followLiveLocked(to, graphID)
	r.pruneProblemsLocked()
	keys := make([]string, 0, len(r.problems))
	for k, p := range r.problems {
		if graphID == "" || p.graph == graphID {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := r.problems[k]
		r.emitTo([]ClientID{to}, "network", "processerror", ProcessErrorPayload{ID: p.node, Error: p.message, Graph: p.graph})
		if p.asError {
			r.emitTo([]ClientID{to}, "network", "error", NetworkErrorPayload{Message: p.message, Graph: p.graph})
		}
	}
}
