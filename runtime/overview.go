package runtime

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
)

// The runtime's state as the status page and the metrics show it: what
// the FBP protocol does not tell a client (participants and their
// processes, the state of each node, queue depths, message counts, the
// last errors).

// Node states, from the participant serving the node.
const (
	NodeRunning = "running" // a participant serves it (an in-process one is taking messages)
	NodePaused  = "paused"  // its in-process participant waits for its graph to start
	NodeWaiting = "waiting" // no participant heard from yet, or an in-process one waits for its outputs to be wired
	NodeExpired = "expired" // its participant went silent; its queues are kept
	NodeExited  = "exited"  // its participant process exited
)

// Overview is a snapshot of the runtime for the status page.
type Overview struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	Broker    string    `json:"broker"` // password redacted
	Now       time.Time `json:"now"`    // the runtime's clock, for the times below
	Uptime    float64   `json:"uptime_seconds"`
	Connected bool      `json:"broker_connected"`
	// QueueDepths says whether the broker reports queue depths (AMQP).
	QueueDepths  bool                `json:"queue_depths"`
	Graphs       []GraphStatus       `json:"graphs"`
	Participants []ParticipantStatus `json:"participants"`
	Errors       []ErrorRecord       `json:"errors"`
}

// GraphStatus is a graph with the state of its nodes and edges.
type GraphStatus struct {
	ID      string       `json:"id"`
	Main    bool         `json:"main"`
	Started bool         `json:"started"`
	Nodes   []NodeStatus `json:"nodes"`
	Edges   []EdgeStatus `json:"edges"`
}

// NodeStatus is a node of a graph and the state of its participant.
type NodeStatus struct {
	ID        string `json:"id"`
	Component string `json:"component"`
	Role      string `json:"role"`
	State     string `json:"state"`
	// Inports are the depths of its inport queues (AMQP), fed by edges or
	// not (runtime:packet, initial packets, other senders).
	Inports []InportStatus `json:"inports,omitempty"`
}

// InportStatus is the depth of a node's inport queue.
type InportStatus struct {
	Port  string             `json:"port"`
	Queue string             `json:"queue"`
	Depth network.QueueStats `json:"depth"`
}

// EdgeStatus is an edge with what is known of the messages on it: how many
// an in-process target has processed from its inport (a count; rates are
// the reader's to compute), and how many wait in the target's inport queue
// (AMQP). Unknown values are left out.
type EdgeStatus struct {
	Src       PortRef             `json:"src"`
	Tgt       PortRef             `json:"tgt"`
	Queue     string              `json:"queue,omitempty"`
	Processed *uint64             `json:"processed,omitempty"`
	Depth     *network.QueueStats `json:"depth,omitempty"`
}

// ParticipantStatus is one participant: discovered on the broker, run
// in-process, or a process the runtime started (pid and exit status).
type ParticipantStatus struct {
	Role      string     `json:"role"`
	Component string     `json:"component"`
	ID        string     `json:"id,omitempty"`
	State     string     `json:"state"`
	InProcess bool       `json:"in_process,omitempty"`
	LastHeard *time.Time `json:"last_heard,omitempty"`
	// Heartbeat is the announced heartbeat period in seconds (0: none
	// announced, the runtime's default expiry applies).
	Heartbeat float64 `json:"heartbeat,omitempty"`
	PID       int     `json:"pid,omitempty"`
	ExitCode  *int    `json:"exit_code,omitempty"`
}

// ErrorRecord is a network:error or network:processerror sent to clients.
type ErrorRecord struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // "error" or "processerror"
	Graph   string    `json:"graph,omitempty"`
	Node    string    `json:"node,omitempty"`
	Message string    `json:"message"`
}

// keptErrors is how many of the last errors the runtime keeps.
const keptErrors = 50

// errorLog keeps the last errors reported to clients.
type errorLog struct {
	mu   sync.Mutex // guards last
	last []ErrorRecord
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

// recordError keeps an event that reports an error for the status page.
func (r *Runtime) recordError(ev Event) {
	if ev.Protocol != "network" {
		return
	}
	switch p := ev.Payload.(type) {
	case NetworkErrorPayload:
		r.errors.add(ErrorRecord{Time: r.now(), Kind: "error", Graph: p.Graph, Message: p.Message})
	case ProcessErrorPayload:
		r.errors.add(ErrorRecord{Time: r.now(), Kind: "processerror", Graph: p.Graph, Node: p.ID, Message: p.Error})
	}
}

// portCounts counts the messages an in-process participant processed, by
// inport (lower-cased). A sync.Map: read on every message, written once
// per port.
type portCounts struct{ n sync.Map }

func (c *portCounts) counter(port string) *atomic.Uint64 {
	if n, ok := c.n.Load(port); ok {
		return n.(*atomic.Uint64)
	}
	n, _ := c.n.LoadOrStore(port, new(atomic.Uint64))
	return n.(*atomic.Uint64)
}

// get is the count of a port (0 before its first message).
func (c *portCounts) get(port string) uint64 {
	n, ok := c.n.Load(port)
	if !ok {
		n, ok = c.n.Load(lower(port))
	}
	if !ok {
		return 0
	}
	return n.(*atomic.Uint64).Load()
}

// nodeStateLocked is the state of the participant serving role.
func (r *Runtime) nodeStateLocked(role string) string {
	if r.exitedLocked(role) {
		return NodeExited
	}
	if lp, ok := r.local[role]; ok {
		switch {
		case !lp.running:
			return NodeWaiting // it consumes once its outputs are wired
		case lp.gate.isOpen():
			return NodeRunning
		default:
			return NodePaused
		}
	}
	if len(r.registry.ByRole(role)) > 0 {
		return NodeRunning
	}
	if _, ok := r.lastKnown[role]; ok {
		return NodeExpired
	}
	return NodeWaiting
}

// exitedLocked says whether the process the runtime started for role
// exited on its own (not stopped by the runtime) and no participant of the
// role has announced itself since.
func (r *Runtime) exitedLocked(role string) bool {
	p, ok := r.procs[role]
	return ok && p.exited && !p.stopping && !r.heardSinceLocked(role, p.exitedAt)
}

// heardSinceLocked says whether a participant of role announced itself
// after t (another instance took over from an exited process).
func (r *Runtime) heardSinceLocked(role string, t time.Time) bool {
	for _, e := range r.registry.ByRole(role) {
		if e.FirstSeen.After(t) {
			return true
		}
	}
	return false
}

// Overview returns a snapshot of the runtime. Queue depths are asked of the
// broker (when it can tell) within ctx, outside the runtime's lock.
func (r *Runtime) Overview(ctx context.Context) Overview {
	st, ports, queues := r.overview()
	if len(queues) == 0 {
		return st
	}
	inspector, ok := r.broker.(network.QueueInspector)
	if !ok {
		return st
	}
	st.QueueDepths = true
	depths, err := inspector.QueueStats(ctx, queues)
	if err != nil {
		r.log.Debug().Err(err).Msg("overview: queue depths")
	}
	for gi := range st.Graphs {
		g := &st.Graphs[gi]
		for ei := range g.Edges {
			if d, ok := depths[g.Edges[ei].Queue]; ok {
				g.Edges[ei].Depth = &d
			}
		}
		for ni := range g.Nodes {
			n := &g.Nodes[ni]
			for _, p := range ports[g.ID+"\x00"+n.ID] {
				if d, ok := depths[p.queue]; ok {
					n.Inports = append(n.Inports, InportStatus{Port: p.port, Queue: p.queue, Depth: d})
				}
			}
		}
	}
	return st
}

// overview takes the snapshot but for queue depths, and lists the
// inport queues to ask the broker about: the nodes' (by graph and node id)
// and the distinct queue names.
func (r *Runtime) overview() (Overview, map[string][]nodeInport, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	st := Overview{
		ID: r.opts.ID, Label: r.opts.Label,
		Broker:    network.RedactURL(r.broker.URL()),
		Now:       now,
		Uptime:    now.Sub(r.started).Seconds(),
		Connected: !r.brokerDown.Load(),
		Graphs:    []GraphStatus{},
		Errors:    r.errors.list(),
	}
	inports, queues := r.nodeInportsLocked()
	ports := map[string][]nodeInport{}
	for _, p := range inports {
		ports[p.graph+"\x00"+p.node] = append(ports[p.graph+"\x00"+p.node], p)
	}
	for _, gs := range r.sortedGraphsLocked() {
		g := GraphStatus{ID: gs.g.ID, Main: gs.g.ID == r.mainGraph, Started: gs.started, Nodes: []NodeStatus{}, Edges: []EdgeStatus{}}
		for _, n := range gs.g.Nodes {
			role := gs.roleOf(n.ID)
			g.Nodes = append(g.Nodes, NodeStatus{ID: n.ID, Component: n.Component, Role: role, State: r.nodeStateLocked(role)})
		}
		for _, e := range gs.g.Edges {
			es := EdgeStatus{Src: portRef(e.Src), Tgt: portRef(e.Tgt)}
			if q, ok, err := r.queueOfLocked(gs, e.Tgt, false); ok && err == nil {
				es.Queue = q // one of the nodes' inport queues
			}
			if lp, ok := r.local[gs.roleOf(e.Tgt.Node)]; ok {
				n := lp.counts.get(e.Tgt.Port)
				es.Processed = &n
			}
			g.Edges = append(g.Edges, es)
		}
		st.Graphs = append(st.Graphs, g)
	}
	// The main graph first, then the others by id.
	sort.SliceStable(st.Graphs, func(i, j int) bool { return st.Graphs[i].Main && !st.Graphs[j].Main })
	st.Participants = r.participantsLocked()
	return st, ports, queues
}

// participantsLocked lists every participant the runtime knows of, by role.
func (r *Runtime) participantsLocked() []ParticipantStatus {
	out := []ParticipantStatus{}
	roles := map[string]bool{}
	for _, e := range r.registry.All() {
		def := e.Definition
		roles[def.Role] = true
		heard := e.LastSeen
		ps := ParticipantStatus{Role: def.Role, Component: def.Component, ID: def.ID, State: NodeRunning, LastHeard: &heard, Heartbeat: def.Heartbeat}
		if lp, ok := r.local[def.Role]; ok && lp.p.Definition().ID == def.ID {
			ps.InProcess = true
			ps.State = r.nodeStateLocked(def.Role)
		}
		r.addProcessLocked(&ps)
		out = append(out, ps)
	}
	for role, def := range r.lastKnown {
		if roles[role] {
			continue
		}
		roles[role] = true
		ps := ParticipantStatus{Role: role, Component: def.Component, ID: def.ID, State: r.nodeStateLocked(role), Heartbeat: def.Heartbeat}
		r.addProcessLocked(&ps)
		out = append(out, ps)
	}
	for role, p := range r.procs {
		if roles[role] {
			continue
		}
		ps := ParticipantStatus{Role: role, Component: p.component, State: r.nodeStateLocked(role)}
		r.addProcessLocked(&ps)
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// addProcessLocked adds the pid and exit status of the process the
// runtime started for the participant's role.
func (r *Runtime) addProcessLocked(ps *ParticipantStatus) {
	p, ok := r.procs[ps.Role]
	if !ok {
		return
	}
	if p.cmd != nil && p.cmd.Process != nil {
		ps.PID = p.cmd.Process.Pid
	}
	if p.exited {
		code := p.exitCode
		ps.ExitCode = &code
		if r.exitedLocked(ps.Role) {
			ps.State = NodeExited
		}
	}
}
