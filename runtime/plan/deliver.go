package plan

import (
	"fmt"
	"maps"
	"slices"

	"github.com/msgflo/msgflo-runtime/graph"
)

// planTaps: the outport queues whose data some client should see are
// tapped: the source of every edge of a traced graph, and, while a client
// is connected, the source of every watched edge of a started graph and
// the queue of every exported outport of a started graph. A queue is
// tapped once its participant is known; taps no longer wanted are closed.
//
// It returns the queues it opens by role: what this plan lets into the
// graphs (a gate opened, a participant that begins to consume, a packet)
// waits for the taps opened on the queues it may reach (tapNeeds), so that
// a client sees data that comes after its selection.
func planTaps(s *Snapshot, p *Plan) (opening map[string][]string) {
	want := map[string]string{} // queue -> role
	add := func(role, port string) {
		if q, ok, _ := s.queueOf(role, port, true); ok {
			want[q] = role
		}
	}
	roles := map[string]string{}
	for _, g := range s.Graphs {
		if g.Traced {
			for _, e := range g.Edges {
				add(e.SrcRole, e.Src.Port)
			}
		}
		if !s.Watching || !g.Started {
			continue
		}
		for _, e := range g.Edges {
			if e.Watched {
				add(e.SrcRole, e.Src.Port)
			}
		}
		if len(g.Outports) > 0 {
			for _, n := range g.Nodes {
				roles[n.ID] = n.Role
			}
			for _, x := range g.Outports {
				add(roles[x.Node], x.Port)
			}
			clear(roles)
		}
	}
	for _, q := range slices.Sorted(maps.Keys(s.Taps)) {
		if _, ok := want[q]; !ok {
			p.CloseTaps = append(p.CloseTaps, q)
		}
	}
	for _, q := range slices.Sorted(maps.Keys(want)) {
		if !s.Taps[q] {
			p.OpenTaps = append(p.OpenTaps, q)
			if opening == nil {
				opening = map[string][]string{}
			}
			opening[want[q]] = append(opening[want[q]], q)
		}
	}
	return opening
}

// tapNeeds finds the taps a plan opens on the queues that data let in at a
// role may reach: the role's own outports and those of every role
// downstream of it, through the edges of every graph (a role's queues are
// bound for the edges of all graphs).
type tapNeeds struct {
	opening map[string][]string
	// next are the roles each role's edges lead to.
	next map[string][]string
	memo map[string][]string
}

func newTapNeeds(s *Snapshot, opening map[string][]string) *tapNeeds {
	t := &tapNeeds{opening: opening}
	if len(opening) == 0 {
		return t
	}
	t.next, t.memo = map[string][]string{}, map[string][]string{}
	for _, g := range s.Graphs {
		for _, e := range g.Edges {
			t.next[e.SrcRole] = append(t.next[e.SrcRole], e.TgtRole)
		}
	}
	return t
}

// of lists the taps opened by the plan that data let in at role may pass.
func (t *tapNeeds) of(role string) []string {
	if len(t.opening) == 0 {
		return nil
	}
	if taps, ok := t.memo[role]; ok {
		return taps
	}
	var taps []string
	seen := map[string]bool{role: true}
	queue := []string{role}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		taps = append(taps, t.opening[r]...)
		for _, next := range t.next[r] {
			if !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	t.memo[role] = taps
	return taps
}

// needTaps names the taps each gate opened and each local run of the plan
// waits for.
func needTaps(p *Plan, t *tapNeeds) {
	for i := range p.Gates {
		if p.Gates[i].Open {
			p.Gates[i].Taps = t.of(p.Gates[i].Role)
		}
	}
	for i := range p.RunLocal {
		p.RunLocal[i].Taps = t.of(p.RunLocal[i].Role)
	}
}

// planConnects: a host (a full FBP runtime participant, not run
// in-process) is told, once per edge end, which queue an edge touching its
// graph's port uses, as soon as the other end's queue is known:
// connectinport for an edge into it, connectoutport for one out of it.
func planConnects(s *Snapshot, p *Plan) {
	if len(s.Hosts) == 0 {
		return
	}
	sent := map[string]bool{}
	for _, g := range s.Graphs {
		for _, e := range g.Edges {
			for _, end := range []struct {
				role, otherRole string
				port, other     graph.Endpoint
				inport          bool
			}{
				{e.TgtRole, e.SrcRole, e.Tgt, e.Src, true},
				{e.SrcRole, e.TgtRole, e.Src, e.Tgt, false},
			} {
				host, ok := s.Hosts[end.role]
				if _, local := s.Local[end.role]; !ok || local {
					continue
				}
				queue, ok, err := s.queueOf(end.otherRole, end.other.Port, end.inport)
				if !ok || err != nil {
					continue
				}
				c := Connect{Participant: host.Participant, Inport: end.inport, Graph: host.Graph, Port: end.port, Queue: queue}
				c.Key = ConnectKey(host.Participant, c.Command(), queue, end.port.Port)
				if s.Connected[c.Key] || sent[c.Key] {
					continue
				}
				sent[c.Key] = true
				p.Connect = append(p.Connect, c)
			}
		}
	}
}

// reach is whether data sent to a node reaches every edge downstream of
// it: wired, or the node whose participant is not known yet when that is
// why not (waitFor); needs are the bindings of this plan it takes.
type reach struct {
	wired   bool
	waitFor string
	needs   []Binding
}

// planDeliveries: a packet (initial packet, runtime:packet) is sent once
// every edge downstream of its target is bound, so that nothing the
// participants send is dropped for want of a binding, and once the taps
// this plan opens on its way are open (tapNeeds); until then it waits,
// in order. A wait for a node that will not get a participant without
// help is a problem of that node, named in the wait. A packet to a port
// the participant does not have is dropped and reported.
func planDeliveries(s *Snapshot, p *Plan, w *wiring, taps *tapNeeds) {
	for _, g := range s.Graphs {
		if len(g.Outbox) == 0 {
			continue
		}
		from := downstream(&g)
		reaches := map[string]reach{}
		whys := map[string]string{}
		wait := func(pk Packet, node string) {
			if node == "" {
				return
			}
			why, known := whys[node]
			if !known {
				why = stuck(s, &g, node)
				whys[node] = why
			}
			if why != "" {
				p.Blocked[g.ID]++
				p.Waits[WaitKey+g.ID+":"+node] = Problem{Graph: g.ID, Node: node,
					Message: fmt.Sprintf("Packets to %s wait for node %s: %s", pk.Tgt.Node, node, why)}
			}
		}
		for _, pk := range g.Outbox {
			r, known := reaches[pk.Tgt.Node]
			if !known {
				r = w.reachFrom(from, pk.Tgt.Node)
				reaches[pk.Tgt.Node] = r
			}
			if !r.wired {
				wait(pk, r.waitFor)
				continue
			}
			q, ok, err := s.queueOf(pk.Role, pk.Tgt.Port, false)
			if err != nil {
				ref := PacketRef{Graph: g.ID, Seq: pk.Seq}
				p.Drop = append(p.Drop, ref)
				p.Reports = append(p.Reports, Report{Key: DeliverKey + g.ID + ":" + pk.Tgt.String(),
					Problem: Problem{Graph: g.ID, Message: fmt.Sprintf("Cannot deliver to %s: %v", pk.Tgt, err)}})
				continue
			}
			if !ok {
				wait(pk, pk.Tgt.Node)
				continue
			}
			p.Deliver = append(p.Deliver, Delivery{PacketRef: PacketRef{Graph: g.ID, Seq: pk.Seq}, Queue: q, Needs: r.needs, Taps: taps.of(pk.Role)})
		}
	}
}

// downstream indexes a graph's edges by source node.
func downstream(g *Graph) map[string][]Edge {
	from := map[string][]Edge{}
	for _, e := range g.Edges {
		from[e.Src.Node] = append(from[e.Src.Node], e)
	}
	return from
}

// reachFrom follows the edges from node, breadth first.
func (w *wiring) reachFrom(from map[string][]Edge, node string) reach {
	var r reach
	seen := map[string]bool{node: true}
	queue := []string{node}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, e := range from[n] {
			waiting, need := w.edge(e)
			if waiting {
				switch {
				case !w.known(e.SrcRole):
					return reach{waitFor: e.Src.Node}
				case !w.known(e.TgtRole):
					return reach{waitFor: e.Tgt.Node}
				}
				return reach{}
			}
			if need != nil {
				r.needs = append(r.needs, *need)
			}
			if !seen[e.Tgt.Node] {
				seen[e.Tgt.Node] = true
				queue = append(queue, e.Tgt.Node)
			}
		}
	}
	r.wired = true
	return r
}

func (w *wiring) known(role string) bool {
	_, ok := w.s.Participants[role]
	return ok
}

// stuck says why a node of the graph will not get a participant without
// help, or "" when one is known or on its way (an in-process participant,
// a process being started).
func stuck(s *Snapshot, g *Graph, node string) string {
	if why, ok := s.Problems[NodeKey{Graph: g.ID, Node: node}]; ok {
		return why
	}
	i := slices.IndexFunc(g.Nodes, func(n Node) bool { return n.ID == node })
	if i < 0 {
		return ""
	}
	n := g.Nodes[i]
	if _, known := s.Participants[n.Role]; known {
		return ""
	}
	switch n.Run {
	case InProcess, LibraryProcess:
		return ""
	case Ignored:
		return fmt.Sprintf("no participant with role %s has announced itself, and the runtime ignores that role", n.Role)
	}
	return fmt.Sprintf("no participant with role %s has announced itself, and the runtime cannot start component %s", n.Role, n.Component)
}
