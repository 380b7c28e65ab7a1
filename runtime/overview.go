package runtime

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgflo/msgflo-runtime/metrics"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/runtime/directory"
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
	Src       wire.PortRef        `json:"src"`
	Tgt       wire.PortRef        `json:"tgt"`
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

// portCounts counts the messages an in-process participant processed, by
// inport (lower-cased). A sync.Map: read on every message, written once
// per port.
type portCounts struct{ n sync.Map }

// portCount is an inport's count and its metrics, looked up once.
type portCount struct {
	n       atomic.Uint64
	metrics *metrics.Port
}

// port is the count of port, made (with its metrics) on its first message.
func (c *portCounts) port(port string, series func() *metrics.Port) *portCount {
	if pc, ok := c.n.Load(port); ok {
		return pc.(*portCount)
	}
	pc, _ := c.n.LoadOrStore(port, &portCount{metrics: series()})
	return pc.(*portCount)
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
	return n.(*portCount).n.Load()
}

// states tells the state of each role's participant, from one reading of
// the processes; the parts it asks have locks of their own.
type states struct {
	procs map[string]processStatus
	dir   *directory.Directory
	local *locals
}

func (r *Runtime) states() states {
	return states{procs: r.procs.statuses(), dir: r.dir, local: r.local}
}

// node is the state of the participant serving role.
func (s states) node(role string) string {
	if s.exited(role) {
		return NodeExited
	}
	if state, ok := s.local.state(role); ok {
		return state
	}
	switch _, live, known := s.dir.Resolve(role); {
	case live:
		return NodeRunning
	case known:
		return NodeExpired
	}
	return NodeWaiting
}

// exited says whether the process the runtime started for role exited on
// its own (not stopped by the runtime) and no participant of the role has
// announced itself since (another instance took over).
func (s states) exited(role string) bool {
	p, ok := s.procs[role]
	if !ok || !p.exited {
		return false
	}
	for _, e := range s.dir.ByRole(role) {
		if e.FirstSeen.After(p.exitedAt) {
			return false
		}
	}
	return true
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
	states := r.states()
	now := r.now()
	st := Overview{
		ID: r.opts.ID, Label: r.opts.Label,
		Broker:    network.RedactURL(r.broker.URL()),
		Now:       now,
		Uptime:    now.Sub(r.started).Seconds(),
		Connected: !r.brokerDown.Load(),
		Graphs:    []GraphStatus{},
		Errors:    r.recent.list(),
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
			g.Nodes = append(g.Nodes, NodeStatus{ID: n.ID, Component: n.Component, Role: role, State: states.node(role)})
		}
		for _, e := range gs.g.Edges {
			es := EdgeStatus{Src: wire.RefOf(e.Src), Tgt: wire.RefOf(e.Tgt)}
			if q, ok, err := r.queueOfLocked(gs, e.Tgt, false); ok && err == nil {
				es.Queue = q // one of the nodes' inport queues
			}
			if lp := r.local.get(gs.roleOf(e.Tgt.Node)); lp != nil {
				n := lp.counts.get(e.Tgt.Port)
				es.Processed = &n
			}
			g.Edges = append(g.Edges, es)
		}
		st.Graphs = append(st.Graphs, g)
	}
	// The main graph first, then the others by id.
	sort.SliceStable(st.Graphs, func(i, j int) bool { return st.Graphs[i].Main && !st.Graphs[j].Main })
	st.Participants = states.participants()
	return st, ports, queues
}

// participants lists every participant the runtime knows of, by role.
func (s states) participants() []ParticipantStatus {
	out := []ParticipantStatus{}
	roles := map[string]bool{}
	for _, e := range s.dir.All() {
		def := e.Definition
		roles[def.Role] = true
		heard := e.LastSeen
		ps := ParticipantStatus{Role: def.Role, Component: def.Component, ID: def.ID, State: NodeRunning, LastHeard: &heard, Heartbeat: def.Heartbeat}
		if lp := s.local.get(def.Role); lp != nil && lp.def.ID == def.ID {
			ps.InProcess = true
			ps.State = s.node(def.Role)
		}
		s.addProcess(&ps)
		out = append(out, ps)
	}
	for role, def := range s.dir.Expired() {
		if roles[role] {
			continue
		}
		roles[role] = true
		ps := ParticipantStatus{Role: role, Component: def.Component, ID: def.ID, State: s.node(role), Heartbeat: def.Heartbeat}
		s.addProcess(&ps)
		out = append(out, ps)
	}
	for role, p := range s.procs {
		if roles[role] {
			continue
		}
		ps := ParticipantStatus{Role: role, Component: p.component, State: s.node(role)}
		s.addProcess(&ps)
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

// addProcess adds the pid and exit status of the process the runtime
// started for the participant's role.
func (s states) addProcess(ps *ParticipantStatus) {
	p, ok := s.procs[ps.Role]
	if !ok {
		return
	}
	ps.PID = p.pid
	ps.ExitCode = p.exitCode
	if s.exited(ps.Role) {
		ps.State = NodeExited
	}
}
