package plan

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/msgflo/msgflo-runtime/graph"
)

// Plan is what the runtime does next. The runtime acts on it in this
// order: in-process participants stopped, taps (close, open), gates,
// in-process participants started, participant processes (stop, start),
// bindings (unbind, bind), local runs, connect messages, deliveries.
// Actions that need a binding or a tap of this plan name it (Needs, Taps):
// they are skipped when it could not be made, and planned again.
type Plan struct {
	// StopLocal are the roles whose in-process participant stops.
	StopLocal []string
	// Gates open or close the gates of in-process participants.
	Gates []Gate
	// StartLocal are in-process participants to declare (they consume
	// once RunLocal says so).
	StartLocal []LocalStart
	// StopProcess are the roles whose participant process stops.
	StopProcess []string
	// StartProcess are participant processes to start.
	StartProcess []ProcessStart
	Unbind       []Binding
	Bind         []Bind
	// RunLocal are in-process participants that begin to consume: every
	// edge leaving them is bound.
	RunLocal []LocalRun
	// CloseTaps and OpenTaps are outport queues to stop and start
	// watching.
	CloseTaps, OpenTaps []string
	// Connect are connect messages to send to hosts.
	Connect []Connect
	// Deliver are packets to send, in order.
	Deliver []Delivery
	// Drop are packets that can never be delivered (their port does not
	// exist; Reports says so).
	Drop []PacketRef
	// Blocked counts, by graph, the packets that wait for a node that will
	// not get a participant without help.
	Blocked map[string]int
	// Errors are the network errors of the graphs as they are now, by
	// key (under EdgeKey and RoleKey): each is reported once, until it is
	// no longer in the plan.
	Errors map[string]Problem
	// Waits are the packets' waits as they are now, by key (under
	// WaitKey): lasting problems of the nodes they wait for.
	Waits map[string]Problem
	// Reports are reported once (by key) and never cleared.
	Reports []Report
}

// Keys under which the plan reports problems.
const (
	EdgeKey    = "edge:"
	RoleKey    = "role:"
	WaitKey    = "wait:"
	DeliverKey = "deliver:"
)

// Problem is a problem of a graph, or of one of its nodes (network:error
// without a node; network:processerror with one, and network:error too
// when AsError is set).
type Problem struct {
	Graph, Node, Message string
	AsError              bool
}

// Report is a problem reported once under Key.
type Report struct {
	Key string
	Problem
}

// Gate opens or closes an in-process participant's gate. An opening
// waits for Taps (the taps of this plan its data may pass).
type Gate struct {
	Role string
	Open bool
	Taps []string
}

// LocalStart is an in-process participant to start.
type LocalStart struct {
	Role, Component string
	// Graph is the graph of the node it serves (planLocals): its metrics
	// are labelled with it.
	Graph string
	// Open is its gate: open when a node of its role is in a started graph.
	Open bool
}

// ProcessStart is a participant process to start.
type ProcessStart struct {
	Role, Component string
	// IIPs are the initial data of the role's nodes, by port.
	IIPs map[string]any
}

// Bind is a binding to make, and the graphs that want it.
type Bind struct {
	Binding
	Graphs []string
}

// LocalRun is an in-process participant to run once Needs are made and
// Taps open.
type LocalRun struct {
	Role  string
	Needs []Binding
	Taps  []string
}

// Connect tells a host which queue an edge touching its graph's port uses:
// connectinport (Inport) for an edge into it, connectoutport for one out
// of it.
type Connect struct {
	// Key is ConnectKey's: the runtime sends each once.
	Key         string
	Participant string
	Inport      bool
	// Graph is the host's graph; Port its port (index kept); Queue the
	// other end's queue.
	Graph string
	Port  graph.Endpoint
	Queue string
}

// Command is the graph command of the connect message.
func (c Connect) Command() string {
	if c.Inport {
		return "connectinport"
	}
	return "connectoutport"
}

// ConnectKey identifies a connect message: per participant, command,
// queue and port.
func ConnectKey(participant, command, queue, port string) string {
	return participant + "\x00" + command + "\x00" + queue + "\x00" + port
}

// PacketRef names a packet of a graph's outbox.
type PacketRef struct {
	Graph string
	Seq   uint64
}

// Delivery is a packet to send to Queue once Needs are made and Taps
// open.
type Delivery struct {
	PacketRef
	Queue string
	Needs []Binding
	Taps  []string
}

// Make plans what the runtime does next. It is deterministic: the same
// snapshot gives the same plan.
func Make(s *Snapshot) *Plan {
	p := &Plan{Blocked: map[string]int{}, Errors: map[string]Problem{}, Waits: map[string]Problem{}}
	x := newIndex(s)
	want := claims(s, p)
	planLocals(s, x, want, p)
	s = s.without(p.StopLocal)
	planProcesses(s, want, p)
	w := planBindings(s, p)
	planLocalRuns(s, p, w)
	taps := newTapNeeds(s, planTaps(s, p))
	needTaps(p, taps)
	planConnects(s, p)
	planDeliveries(s, p, w, taps)
	return p
}

// queueOf resolves a port of a node of role through the participant
// serving the role: ok is false while none is known; err says it has no
// such port.
func (s *Snapshot) queueOf(role, port string, out bool) (queue string, ok bool, err error) {
	pt, known := s.Participants[role]
	if !known {
		return "", false, nil
	}
	q, err := PortQueue(*pt.Def, port, out)
	if err != nil {
		return "", false, err
	}
	return q, true, nil
}

// index holds what the plan looks up by role.
type index struct {
	// started are the roles of nodes in started graphs.
	started map[string]bool
}

func newIndex(s *Snapshot) *index {
	return &index{started: startedRoles(s.Graphs)}
}

// startedRoles are the roles of the nodes of the started graphs.
func startedRoles(graphs []Graph) map[string]bool {
	n := 0
	for _, g := range graphs {
		if g.Started {
			n += len(g.Nodes)
		}
	}
	started := make(map[string]bool, n)
	for _, g := range graphs {
		if !g.Started {
			continue
		}
		for _, n := range g.Nodes {
			started[n.Role] = true
		}
	}
	return started
}

// gateOpen is the rule of an in-process participant's gate: open while a
// node of its role is in a started graph.
func (x *index) gateOpen(role string) bool { return x.started[role] }

// Closing are the roles of the in-process participants local whose gate
// is open and must close: no node of their role is in a started graph of
// graphs (only Started and the nodes' roles are read). The graph store
// closes them as it stops a graph, before it answers, so that a stopped
// network takes no more messages; a plan closes the same ones (Gates),
// and opens gates, which waits for taps, in the reconcile pass.
func Closing(graphs []Graph, local map[string]Local) []string {
	x := &index{started: startedRoles(graphs)}
	var roles []string
	for role, l := range local {
		if l.Open && !x.gateOpen(role) {
			roles = append(roles, role)
		}
	}
	slices.Sort(roles)
	return roles
}

// claim is the node the participant the runtime starts for a role (in
// process or a process) serves: of which graph (started or not, made
// when), and its component.
type claim struct {
	graph, component string
	run              Run
	started          bool
	created          uint64
}

// yields says the node of a claim gives its role up to a node of graph g,
// of component: a node of a started graph comes before one of a stopped
// graph. Among started graphs, the component of the participant running
// (running, if any) keeps the role, so that starting a graph does not take
// a running graph's participant away; else the first node keeps it. Among
// stopped graphs, the node of the graph made last serves (the one being
// uploaded or edited, as fbp-spec does suite after suite).
func (c claim) yields(g *Graph, component, running string) bool {
	switch {
	case g.Started != c.started:
		return g.Started
	case g.Started:
		return component == running && c.component != running
	default:
		return g.Created > c.created
	}
}

// claims are, by role, the nodes the participants the runtime starts
// serve: one per role, among the nodes of the components it runs
// in-process or starts as processes (Run.Starts), whichever way each
// starts (claim.yields). Nodes of one role with different components
// (two graphs, e.g. fbp-spec's suites, each with a node "testee") are
// reported, but for the one served.
func claims(s *Snapshot, p *Plan) map[string]claim {
	want := map[string]claim{}
	shared := false
	for i := range s.Graphs {
		g := &s.Graphs[i]
		for _, n := range g.Nodes {
			if !n.Run.Starts() {
				continue
			}
			c, taken := want[n.Role]
			if taken && c.component != n.Component {
				shared = true
			}
			if !taken || c.yields(g, n.Component, s.running(n.Role)) {
				want[n.Role] = claim{graph: g.ID, component: n.Component, run: n.Run, started: g.Started, created: g.Created}
			}
		}
	}
	if shared {
		reportShared(s, want, p)
	}
	return want
}

// running is the component of the participant the runtime runs for role:
// in-process, else a process ("" when none).
func (s *Snapshot) running(role string) string {
	if l, ok := s.Local[role]; ok {
		return l.Component
	}
	return s.Processes[role]
}

// planLocals: an in-process participant for every role claimed by a node
// whose component is built in (Run InProcess), stopped when no such node
// is left or the component changed; its gate is open while a node of its
// role is in a started graph.
func planLocals(s *Snapshot, x *index, want map[string]claim, p *Plan) {
	// Only what changes is sorted: every pass plans every participant.
	for role, l := range s.Local {
		if c, ok := want[role]; !ok || c.component != l.Component {
			p.StopLocal = append(p.StopLocal, role)
		} else if open := x.gateOpen(role); open != l.Open {
			p.Gates = append(p.Gates, Gate{Role: role, Open: open})
		}
	}
	slices.Sort(p.StopLocal)
	slices.SortFunc(p.Gates, func(a, b Gate) int { return strings.Compare(a.Role, b.Role) })
	for role, c := range want {
		if _, running := s.Local[role]; !running && c.run == InProcess {
			p.StartLocal = append(p.StartLocal, LocalStart{Role: role, Component: c.component, Graph: c.graph, Open: x.gateOpen(role)})
		}
	}
	slices.SortFunc(p.StartLocal, func(a, b LocalStart) int { return strings.Compare(a.Role, b.Role) })
}

// reportShared reports the nodes whose role is served by a participant of
// another component.
func reportShared(s *Snapshot, want map[string]claim, p *Plan) {
	for _, g := range s.Graphs {
		for _, n := range g.Nodes {
			if c := want[n.Role]; n.Run.Starts() && c.component != n.Component {
				p.Errors[RoleKey+g.ID+":"+n.ID] = Problem{Graph: g.ID, Message: fmt.Sprintf(
					"Node %s (%s) shares its role %s with a node of component %s; it is served by that participant", n.ID, n.Component, n.Role, c.component)}
			}
		}
	}
}

// planProcesses: a participant process for every role claimed by a node
// whose component the library starts (Run LibraryProcess), unless a live
// participant already serves the role; stopped when no such node is left
// or the component changed. A process that exited is not started again
// while its node stays.
func planProcesses(s *Snapshot, want map[string]claim, p *Plan) {
	iips := map[string]map[string]any{}
	for _, g := range s.Graphs {
		for _, n := range g.Nodes {
			if c := want[n.Role]; n.Run != LibraryProcess || c.component != n.Component {
				continue
			}
			if iips[n.Role] == nil {
				iips[n.Role] = map[string]any{}
			}
			maps.Copy(iips[n.Role], n.IIPs)
		}
	}
	for role, component := range s.Processes {
		if c, ok := want[role]; !ok || c.component != component {
			p.StopProcess = append(p.StopProcess, role)
		}
	}
	slices.Sort(p.StopProcess)
	for role, c := range want {
		if c.run != LibraryProcess {
			continue
		}
		if _, started := s.Processes[role]; started {
			continue
		}
		if s.Participants[role].Live {
			continue // a live participant already serves the role
		}
		p.StartProcess = append(p.StartProcess, ProcessStart{Role: role, Component: c.component, IIPs: iips[role]})
	}
	slices.SortFunc(p.StartProcess, func(a, b ProcessStart) int { return strings.Compare(a.Role, b.Role) })
}

// wiring is the bindings made and those this plan makes.
type wiring struct {
	s *Snapshot
	// planned are the bindings this plan makes, and the graphs that want
	// each.
	planned map[Binding][]string
	// bySrcRole are the edges leaving each role, of every graph.
	bySrcRole map[string][]Edge
}

// edge says whether an edge is not bound yet although it can be (waiting),
// and the binding of this plan it needs, if any. An edge whose ports do
// not resolve is reported elsewhere and not waited for; an observed edge
// needs no binding.
func (w *wiring) edge(e Edge) (waiting bool, need *Binding) {
	if e.Observed {
		return false, nil
	}
	src, ok, err := w.s.queueOf(e.SrcRole, e.Src.Port, true)
	if err != nil {
		return false, nil
	}
	if !ok {
		return true, nil
	}
	tgt, ok, err := w.s.queueOf(e.TgtRole, e.Tgt.Port, false)
	if err != nil {
		return false, nil
	}
	b := Binding{Src: src, Tgt: tgt}
	switch {
	case !ok:
		return true, nil
	case w.s.Bound[b]:
		return false, nil
	case w.planned[b] != nil:
		return false, &b
	default:
		return true, nil
	}
}

// planBindings: every edge whose two ends are known (a participant serves
// each end's role) is bound, whether its graph is started or not (as
// msgflo); bindings no graph wants are removed. An edge with a port its
// participant does not have is reported. Observed edges are not bound.
func planBindings(s *Snapshot, p *Plan) *wiring {
	n := 0
	for _, g := range s.Graphs {
		n += len(g.Edges)
	}
	want := make(map[Binding]bool, n)
	// The graphs that want each binding to make (few: every pass plans
	// every binding).
	w := &wiring{s: s, planned: map[Binding][]string{}}
	for _, g := range s.Graphs {
		for _, e := range g.Edges {
			if e.Observed {
				continue
			}
			src, okSrc, errSrc := s.queueOf(e.SrcRole, e.Src.Port, true)
			tgt, okTgt, errTgt := s.queueOf(e.TgtRole, e.Tgt.Port, false)
			if err := cmpOr(errSrc, errTgt); err != nil {
				p.Errors[EdgeKey+g.ID+":"+e.ID()] = Problem{Graph: g.ID, Message: fmt.Sprintf("Cannot connect %s: %v", e.ID(), err)}
				continue
			}
			if okSrc && okTgt {
				b := Binding{Src: src, Tgt: tgt}
				want[b] = true
				if !s.Bound[b] {
					w.planned[b] = append(w.planned[b], g.ID)
				}
			}
		}
	}
	for b := range s.Bound {
		if !want[b] && !s.held[b.Src] && !s.held[b.Tgt] {
			p.Unbind = append(p.Unbind, b)
		}
	}
	sortBindings(p.Unbind)
	for b, graphs := range w.planned {
		p.Bind = append(p.Bind, Bind{Binding: b, Graphs: graphs})
	}
	slices.SortFunc(p.Bind, func(a, b Bind) int {
		return cmp.Or(strings.Compare(a.Src, b.Src), strings.Compare(a.Tgt, b.Tgt))
	})
	return w
}

func cmpOr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// sortBindings sorts bindings by source, then target (only the few a plan
// changes are sorted: every pass plans every binding).
func sortBindings(bs []Binding) {
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].Src != bs[j].Src {
			return bs[i].Src < bs[j].Src
		}
		return bs[i].Tgt < bs[j].Tgt
	})
}

// planLocalRuns: an in-process participant begins to consume once every
// edge leaving its role (in any graph) is bound, so that nothing it sends
// is published with nothing bound to take it.
func planLocalRuns(s *Snapshot, p *Plan, w *wiring) {
	for role, l := range s.Local {
		if l.Running || slices.Contains(p.StopLocal, role) {
			continue
		}
		if needs, wired := w.outputsWired(role); wired {
			p.RunLocal = append(p.RunLocal, LocalRun{Role: role, Needs: needs})
		}
	}
	slices.SortFunc(p.RunLocal, func(a, b LocalRun) int { return strings.Compare(a.Role, b.Role) })
}

func (w *wiring) outputsWired(role string) (needs []Binding, wired bool) {
	if w.bySrcRole == nil {
		w.bySrcRole = map[string][]Edge{}
		for _, g := range w.s.Graphs {
			for _, e := range g.Edges {
				w.bySrcRole[e.SrcRole] = append(w.bySrcRole[e.SrcRole], e)
			}
		}
	}
	for _, e := range w.bySrcRole[role] {
		waiting, need := w.edge(e)
		if waiting {
			return nil, false
		}
		if need != nil {
			needs = append(needs, *need)
		}
	}
	return needs, true
}
