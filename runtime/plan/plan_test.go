package plan

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
)

// The plan's rules, one table each. A case gives a snapshot and the whole
// plan expected of it (fields left out are empty).

func ep(node, port string) graph.Endpoint { return graph.Endpoint{Node: node, Port: port} }

// nd is a node whose role is its id.
func nd(id, component string, run Run) Node {
	return Node{ID: id, Role: id, Component: component, Run: run}
}

// ed is an edge between nodes whose roles are their ids.
func ed(src, srcPort, tgt, tgtPort string) Edge {
	s, t := ep(src, srcPort), ep(tgt, tgtPort)
	return Edge{Src: s, Tgt: t, SrcRole: src, TgtRole: tgt}
}

// pt is a participant of role with the given inports and outports, on
// queues named by convention (ROLE.PORT).
func pt(role string, live bool, in, out []string) Participant {
	ports := func(ids []string) []network.Port {
		out := []network.Port{}
		for _, id := range ids {
			out = append(out, network.Port{ID: id, Queue: network.QueueName(role, id)})
		}
		return out
	}
	return Participant{Def: &network.Definition{ID: role + "-1", Role: role, Component: "c/" + role, Inports: ports(in), Outports: ports(out)}, Live: live}
}

// known lists participants by role.
func known(ps ...Participant) map[string]Participant {
	out := map[string]Participant{}
	for _, p := range ps {
		out[p.Def.Role] = p
	}
	return out
}

func b(src, tgt string) Binding { return Binding{Src: src, Tgt: tgt} }

func bound(bs ...Binding) map[Binding]bool {
	out := map[Binding]bool{}
	for _, x := range bs {
		out[x] = true
	}
	return out
}

// normalized makes empty slices and maps nil, so that a case lists only
// what it expects.
func normalized(p *Plan) Plan {
	out := *p
	v := reflect.ValueOf(&out).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0 {
			f.SetZero()
		}
	}
	return out
}

type planCase struct {
	name string
	snap Snapshot
	want Plan
}

func runCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := normalized(Make(&c.snap))
			want := normalized(&c.want)
			gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
			for i := range gv.NumField() {
				if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
					g, _ := json.Marshal(gv.Field(i).Interface())
					w, _ := json.Marshal(wv.Field(i).Interface())
					t.Errorf("%s: %s\nwant %s", gv.Type().Field(i).Name, g, w)
				}
			}
			// The same snapshot gives the same plan.
			if again := normalized(Make(&c.snap)); !reflect.DeepEqual(again, got) {
				t.Fatalf("a second plan of the same snapshot differs")
			}
		})
	}
}

// In-process participants: started for every role of a node of a
// built-in component, stopped when no such node is left or its component
// changed; the gate open while a node of the role is in a started graph;
// two built-ins sharing a role reported.
func TestPlanInProcessParticipants(t *testing.T) {
	runCases(t, []planCase{
		{name: "a built-in node gets a participant, gate open in a started graph",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess)}}}},
			want: Plan{StartLocal: []LocalStart{{Role: "r", Component: "core/Repeat", Graph: "g", Open: true}}}},
		{name: "gate closed in a stopped graph; metrics labelled with the graph of the node served",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
				{ID: "b", Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
			}},
			want: Plan{StartLocal: []LocalStart{{Role: "r", Component: "core/Repeat", Graph: "a"}}}},
		{name: "running and wanted: nothing to do",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess)}}},
				Local: map[string]Local{"r": {Component: "core/Repeat", Running: true, Open: true}}}},
		{name: "node gone: stopped",
			snap: Snapshot{Graphs: []Graph{{ID: "g"}}, Local: map[string]Local{"r": {Component: "core/Repeat", Running: true}}},
			want: Plan{StopLocal: []string{"r"}}},
		{name: "component changed: stopped (started again by the next plan)",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: []Node{nd("r", "core/Drop", InProcess)}}},
				Local: map[string]Local{"r": {Component: "core/Repeat", Running: true}}},
			want: Plan{StopLocal: []string{"r"}}},
		{name: "graph started: gate opens",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess)}}},
				Local: map[string]Local{"r": {Component: "core/Repeat", Running: true}}},
			want: Plan{Gates: []Gate{{Role: "r", Open: true}}}},
		{name: "graph stopped: gate closes",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: []Node{nd("r", "core/Repeat", InProcess)}}},
				Local: map[string]Local{"r": {Component: "core/Repeat", Running: true, Open: true}}},
			want: Plan{Gates: []Gate{{Role: "r"}}}},
		{name: "two built-ins on one role: the first serves, the other is reported",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
				{ID: "b", Nodes: []Node{nd("r", "core/Drop", InProcess)}},
			}},
			want: Plan{
				StartLocal: []LocalStart{{Role: "r", Component: "core/Repeat", Graph: "a"}},
				Errors: map[string]Problem{"role:b:r": {Graph: "b",
					Message: "Node r (core/Drop) shares its role r with a node of component core/Repeat; it is served by that participant"}},
			}},
		{name: "a started graph's node takes the role from a stopped graph's (fbp-spec's suites: one testee each)",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Nodes: []Node{nd("r", "core/Counter", InProcess)}},
				{ID: "b", Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
			}},
			want: Plan{
				StartLocal: []LocalStart{{Role: "r", Component: "core/Repeat", Graph: "b", Open: true}},
				Errors: map[string]Problem{"role:a:r": {Graph: "a",
					Message: "Node r (core/Counter) shares its role r with a node of component core/Repeat; it is served by that participant"}},
			}},
		{name: "... and stops the stopped graph's participant; the role waits for the next plan",
			snap: Snapshot{
				Graphs: []Graph{
					{ID: "a", Nodes: []Node{nd("r", "core/Counter", InProcess)}},
					{ID: "b", Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess), nd("s", "x/S", External), nd("t", "x/T", External)},
						Edges:  []Edge{ed("s", "out", "r", "in"), ed("r", "out", "t", "in")},
						Outbox: []Packet{{Seq: 1, Tgt: ep("r", "in"), Role: "r"}}},
				},
				Participants: known(pt("r", true, []string{"in"}, []string{"count"}), pt("s", true, nil, []string{"out"}), pt("t", true, []string{"in"}, nil)),
				Local:        map[string]Local{"r": {Component: "core/Counter", Running: true}},
				Bound:        bound(b("s.OUT", "r.IN")),
			},
			// Nothing is sent to the participant that goes, no port of the
			// new component is looked for on it, and the binding of its
			// queue stays for the participant that replaces it.
			want: Plan{
				StopLocal: []string{"r"},
				Errors: map[string]Problem{"role:a:r": {Graph: "a",
					Message: "Node r (core/Counter) shares its role r with a node of component core/Repeat; it is served by that participant"}},
			}},
		{name: "between started graphs the participant running keeps the role",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Started: true, Nodes: []Node{nd("r", "core/Counter", InProcess)}},
				{ID: "b", Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
			}, Local: map[string]Local{"r": {Component: "core/Repeat", Running: true, Open: true}}},
			want: Plan{Errors: map[string]Problem{"role:a:r": {Graph: "a",
				Message: "Node r (core/Counter) shares its role r with a node of component core/Repeat; it is served by that participant"}}}},
		{name: "between stopped graphs the graph made last serves (the one uploaded after the other)",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Created: 2, Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
				{ID: "b", Created: 1, Nodes: []Node{nd("r", "core/Counter", InProcess)}},
			}, Local: map[string]Local{"r": {Component: "core/Counter", Running: true}}},
			want: Plan{
				StopLocal: []string{"r"},
				Errors: map[string]Problem{"role:b:r": {Graph: "b",
					Message: "Node r (core/Counter) shares its role r with a node of component core/Repeat; it is served by that participant"}},
			}},
		{name: "not for nodes of other runs",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: []Node{
				nd("i", "core/Repeat", Ignored), nd("o", "core/Drop", Observed), nd("e", "ext/X", External), nd("l", "lib/Y", LibraryProcess),
			}}}},
			want: Plan{StartProcess: []ProcessStart{{Role: "l", Component: "lib/Y", IIPs: map[string]any{}}}}},
	})
}

// Participant processes: started for every role of a node the library
// can start, unless a live participant serves the role or a process was
// started already (one that exited is not started again); stopped when no
// such node is left or its component changed; the command gets the
// initial data of every node of the role.
func TestPlanProcesses(t *testing.T) {
	lib := func(id, comp string, iips map[string]any) Node {
		n := nd(id, comp, LibraryProcess)
		n.IIPs = iips
		return n
	}
	runCases(t, []planCase{
		{name: "a library node gets a process with its IIPs",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Nodes: []Node{lib("w", "lib/W", map[string]any{"in": json.RawMessage(`1`)})}},
				{ID: "b", Nodes: []Node{lib("w", "lib/W", map[string]any{"opt": json.RawMessage(`"x"`)})}},
			}},
			want: Plan{StartProcess: []ProcessStart{{Role: "w", Component: "lib/W", IIPs: map[string]any{"in": json.RawMessage(`1`), "opt": json.RawMessage(`"x"`)}}}}},
		{name: "a live participant serves the role: no process",
			snap: Snapshot{Graphs: []Graph{{ID: "a", Nodes: []Node{lib("w", "lib/W", nil)}}}, Participants: known(pt("w", true, nil, nil))}},
		{name: "an expired participant does not: a process",
			snap: Snapshot{Graphs: []Graph{{ID: "a", Nodes: []Node{lib("w", "lib/W", nil)}}}, Participants: known(pt("w", false, nil, nil))},
			want: Plan{StartProcess: []ProcessStart{{Role: "w", Component: "lib/W", IIPs: map[string]any{}}}}},
		{name: "started already (running or exited): nothing",
			snap: Snapshot{Graphs: []Graph{{ID: "a", Nodes: []Node{lib("w", "lib/W", nil)}}}, Processes: map[string]string{"w": "lib/W"}}},
		{name: "node gone: stopped",
			snap: Snapshot{Graphs: []Graph{{ID: "a"}}, Processes: map[string]string{"w": "lib/W"}},
			want: Plan{StopProcess: []string{"w"}}},
		{name: "component changed: stopped",
			snap: Snapshot{Graphs: []Graph{{ID: "a", Nodes: []Node{lib("w", "lib/V", nil)}}}, Processes: map[string]string{"w": "lib/W"}},
			want: Plan{StopProcess: []string{"w"}}},
		{name: "ignored and observed nodes get none",
			snap: Snapshot{Graphs: []Graph{{ID: "a", Nodes: []Node{nd("i", "lib/W", Ignored), nd("o", "lib/W", Observed)}}}}},
	})
}

// One role, one participant the runtime starts: nodes of one role whose
// components the runtime starts in different ways (built-in and library,
// fbp-spec's suites each with a node testee) follow the rule of two
// built-ins. Seen failing (an in-process participant and a process
// consuming one queue, or the stopped graph's built-in serving the
// started graph's library node) when in-process participants and
// processes were each planned on their own.
func TestPlanOneStarterPerRole(t *testing.T) {
	shares := func(g, comp, other string) map[string]Problem {
		return map[string]Problem{"role:" + g + ":r": {Graph: g,
			Message: "Node r (" + comp + ") shares its role r with a node of component " + other + "; it is served by that participant"}}
	}
	runCases(t, []planCase{
		{name: "nothing runs: the started graph's library node serves",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Created: 1, Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
				{ID: "b", Created: 2, Started: true, Nodes: []Node{nd("r", "lib/W", LibraryProcess)}},
			}},
			want: Plan{StartProcess: []ProcessStart{{Role: "r", Component: "lib/W", IIPs: map[string]any{}}}, Errors: shares("a", "core/Repeat", "lib/W")}},
		{name: "the stopped graph's in-process participant makes way for a process",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Created: 1, Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
				{ID: "b", Created: 2, Started: true, Nodes: []Node{nd("r", "lib/W", LibraryProcess)}},
			}, Participants: known(pt("r", true, []string{"in"}, []string{"out"})),
				Local: map[string]Local{"r": {Component: "core/Repeat", Running: true}}},
			want: Plan{StopLocal: []string{"r"}, StartProcess: []ProcessStart{{Role: "r", Component: "lib/W", IIPs: map[string]any{}}}, Errors: shares("a", "core/Repeat", "lib/W")}},
		{name: "the stopped graph's process makes way for an in-process participant",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Created: 1, Nodes: []Node{nd("r", "lib/W", LibraryProcess)}},
				{ID: "b", Created: 2, Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
			}, Processes: map[string]string{"r": "lib/W"}},
			want: Plan{StopProcess: []string{"r"}, StartLocal: []LocalStart{{Role: "r", Component: "core/Repeat", Graph: "b", Open: true}}, Errors: shares("a", "lib/W", "core/Repeat")}},
		{name: "between started graphs the process running keeps the role",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Created: 1, Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess)}},
				{ID: "b", Created: 2, Started: true, Nodes: []Node{nd("r", "lib/W", LibraryProcess)}},
			}, Processes: map[string]string{"r": "lib/W"}},
			want: Plan{Errors: shares("a", "core/Repeat", "lib/W")}},
		{name: "two library components: one process, the other node reported",
			snap: Snapshot{Graphs: []Graph{
				{ID: "a", Created: 2, Nodes: []Node{nd("r", "lib/V", LibraryProcess)}},
				{ID: "b", Created: 1, Nodes: []Node{nd("r", "lib/W", LibraryProcess)}},
			}},
			want: Plan{StartProcess: []ProcessStart{{Role: "r", Component: "lib/V", IIPs: map[string]any{}}}, Errors: shares("b", "lib/W", "lib/V")}},
	})
}

// Bindings: an edge is bound as soon as both its ends are known, started
// or not; bindings no graph wants are removed; an edge whose participant
// lacks the port is reported (until it is fixed); observed edges are
// never bound.
func TestPlanBindings(t *testing.T) {
	a, c := pt("a", true, nil, []string{"out"}), pt("c", true, []string{"in"}, nil)
	chain := []Node{nd("a", "x/A", External), nd("c", "x/C", External)}
	runCases(t, []planCase{
		{name: "both ends known: bound, in a stopped graph too",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: chain, Edges: []Edge{ed("a", "out", "c", "in")}}}, Participants: known(a, c)},
			want: Plan{Bind: []Bind{{Binding: b("a.OUT", "c.IN"), Graphs: []string{"g"}}}}},
		{name: "one end unknown: not yet",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: chain, Edges: []Edge{ed("a", "out", "c", "in")}}}, Participants: known(a)}},
		{name: "bound already: nothing",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: chain, Edges: []Edge{ed("a", "out", "c", "in")}}}, Participants: known(a, c),
				Bound: bound(b("a.OUT", "c.IN"))}},
		{name: "edge gone: unbound",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: chain}}, Participants: known(a, c), Bound: bound(b("a.OUT", "c.IN"))},
			want: Plan{Unbind: []Binding{b("a.OUT", "c.IN")}}},
		{name: "one binding, two graphs",
			snap: Snapshot{Graphs: []Graph{
				{ID: "g", Nodes: chain, Edges: []Edge{ed("a", "out", "c", "in")}},
				{ID: "h", Nodes: chain, Edges: []Edge{ed("a", "out", "c", "in")}},
			}, Participants: known(a, c)},
			want: Plan{Bind: []Bind{{Binding: b("a.OUT", "c.IN"), Graphs: []string{"g", "h"}}}}},
		{name: "a port the participant lacks: reported, not bound",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: chain, Edges: []Edge{ed("a", "nope", "c", "in")}}}, Participants: known(a, c)},
			want: Plan{Errors: map[string]Problem{"edge:g:a() NOPE -> IN c()": {Graph: "g", Message: "Cannot connect a() NOPE -> IN c(): Participant a-1 (role a) has no outport nope"}}}},
		{name: "an observed edge: never bound",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: chain, Edges: []Edge{func() Edge { e := ed("a", "out", "c", "in"); e.Observed = true; return e }()}}},
				Participants: known(a, c)}},
		{name: "ports matched case-insensitively, queues as announced",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: chain, Edges: []Edge{ed("a", "OUT", "c", "In")}}}, Participants: known(a, c)},
			want: Plan{Bind: []Bind{{Binding: b("a.OUT", "c.IN"), Graphs: []string{"g"}}}}},
	})
}

// Local runs: an in-process participant consumes once every edge leaving
// its role is bound (or bound by this plan: it then needs that binding);
// an edge whose far end is unknown holds it back; one that cannot be
// resolved does not.
func TestPlanLocalRuns(t *testing.T) {
	r, d := pt("r", true, []string{"in"}, []string{"out"}), pt("d", true, []string{"in"}, nil)
	nodes := []Node{nd("r", "core/Repeat", InProcess), nd("d", "ext/D", External)}
	waiting := map[string]Local{"r": {Component: "core/Repeat", Open: true}}
	runCases(t, []planCase{
		{name: "no edge leaves it: runs",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes}}, Local: waiting, Participants: known(r)},
			want: Plan{RunLocal: []LocalRun{{Role: "r"}}}},
		{name: "its output is bound: runs",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: []Edge{ed("r", "out", "d", "in")}}}, Local: waiting,
				Participants: known(r, d), Bound: bound(b("r.OUT", "d.IN"))},
			want: Plan{RunLocal: []LocalRun{{Role: "r"}}}},
		{name: "its output is bound by this plan: runs once it is",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: []Edge{ed("r", "out", "d", "in")}}}, Local: waiting,
				Participants: known(r, d)},
			want: Plan{Bind: []Bind{{Binding: b("r.OUT", "d.IN"), Graphs: []string{"g"}}}, RunLocal: []LocalRun{{Role: "r", Needs: []Binding{b("r.OUT", "d.IN")}}}}},
		{name: "the target is unknown: waits",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: []Edge{ed("r", "out", "d", "in")}}}, Local: waiting,
				Participants: known(r)}},
		{name: "an edge that cannot be resolved is not waited for",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: []Edge{ed("r", "out", "d", "nope")}}}, Local: waiting,
				Participants: known(r, d)},
			want: Plan{RunLocal: []LocalRun{{Role: "r"}},
				Errors: map[string]Problem{"edge:g:r() OUT -> NOPE d()": {Graph: "g", Message: "Cannot connect r() OUT -> NOPE d(): Participant d-1 (role d) has no inport nope"}}}},
		{name: "running already: nothing",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes}}, Local: map[string]Local{"r": {Component: "core/Repeat", Running: true, Open: true}},
				Participants: known(r)}},
	})
}

// Taps: the source of every watched edge and every exported outport of a
// started graph is tapped while a client is connected; every edge of a
// traced graph always; a tap no longer wanted is closed.
func TestPlanTaps(t *testing.T) {
	a, c := pt("a", true, nil, []string{"out"}), pt("c", true, []string{"in"}, []string{"out"})
	nodes := []Node{nd("a", "x/A", External), nd("c", "x/C", External)}
	watched := ed("a", "out", "c", "in")
	watched.Watched = true
	runCases(t, []planCase{
		{name: "a watched edge of a started graph, a client connected: tapped",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: []Edge{watched}}}, Participants: known(a, c),
				Bound: bound(b("a.OUT", "c.IN")), Watching: true},
			want: Plan{OpenTaps: []string{"a.OUT"}}},
		{name: "no client: not tapped, and closed",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: []Edge{watched}}}, Participants: known(a, c),
				Bound: bound(b("a.OUT", "c.IN")), Taps: map[string]bool{"a.OUT": true}},
			want: Plan{CloseTaps: []string{"a.OUT"}}},
		{name: "a stopped graph: not tapped",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: nodes, Edges: []Edge{watched}}}, Participants: known(a, c),
				Bound: bound(b("a.OUT", "c.IN")), Watching: true}},
		{name: "an edge nobody watches: not tapped",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: []Edge{ed("a", "out", "c", "in")}}}, Participants: known(a, c),
				Bound: bound(b("a.OUT", "c.IN")), Watching: true}},
		{name: "an exported outport of a started graph: tapped",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Outports: []graph.Endpoint{ep("c", "out")}}}, Participants: known(a, c), Watching: true},
			want: Plan{OpenTaps: []string{"c.OUT"}}},
		{name: "a traced graph: every edge's source, stopped and without clients too",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Traced: true, Nodes: nodes, Edges: []Edge{ed("a", "out", "c", "in")}}}, Participants: known(a, c)},
			want: Plan{OpenTaps: []string{"a.OUT"}, Bind: []Bind{{Binding: b("a.OUT", "c.IN"), Graphs: []string{"g"}}}}},
		{name: "source unknown: not yet",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: []Edge{watched}}}, Participants: known(c), Watching: true}},
	})
}

// What a plan lets into the graphs (a gate opened, a participant that
// begins to consume, a packet delivered) waits for the taps the plan opens
// on the queues its data may reach, so that a client sees what comes after
// its selection.
func TestPlanDataWaitsForTaps(t *testing.T) {
	r, c, d := pt("r", true, []string{"in"}, []string{"out"}), pt("c", true, []string{"in"}, []string{"out"}), pt("d", true, []string{"in"}, nil)
	nodes := []Node{nd("r", "core/Repeat", InProcess), nd("c", "x/C", External), nd("d", "x/D", External)}
	second := ed("c", "out", "d", "in")
	second.Watched = true
	edges := []Edge{ed("r", "out", "c", "in"), second}
	wired := bound(b("r.OUT", "c.IN"), b("c.OUT", "d.IN"))
	packet := []Packet{{Seq: 1, Tgt: ep("r", "in"), Role: "r"}}
	runCases(t, []planCase{
		{name: "a graph started after an edge downstream was selected: the gate and the packet wait for its tap",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: edges, Outbox: packet}}, Participants: known(r, c, d),
				Local: map[string]Local{"r": {Component: "core/Repeat", Running: true}}, Bound: wired, Watching: true},
			want: Plan{
				Gates:    []Gate{{Role: "r", Open: true, Taps: []string{"c.OUT"}}},
				OpenTaps: []string{"c.OUT"},
				Deliver:  []Delivery{{PacketRef: PacketRef{"g", 1}, Queue: "r.IN", Taps: []string{"c.OUT"}}},
			}},
		{name: "a participant that begins to consume waits for it too",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: edges}}, Participants: known(r, c, d),
				Local: map[string]Local{"r": {Component: "core/Repeat", Open: true}}, Bound: wired, Watching: true},
			want: Plan{OpenTaps: []string{"c.OUT"}, RunLocal: []LocalRun{{Role: "r", Taps: []string{"c.OUT"}}}}},
		{name: "a tap open already: nothing to wait for",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: edges, Outbox: packet}}, Participants: known(r, c, d),
				Local: map[string]Local{"r": {Component: "core/Repeat", Running: true}}, Bound: wired, Watching: true, Taps: map[string]bool{"c.OUT": true}},
			want: Plan{Gates: []Gate{{Role: "r", Open: true}}, Deliver: []Delivery{{PacketRef: PacketRef{"g", 1}, Queue: "r.IN"}}}},
		{name: "a tap upstream of the packet: not waited for",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: edges, Outbox: []Packet{{Seq: 1, Tgt: ep("d", "in"), Role: "d"}}}},
				Participants: known(r, c, d), Local: map[string]Local{"r": {Component: "core/Repeat", Running: true, Open: true}}, Bound: wired, Watching: true},
			want: Plan{OpenTaps: []string{"c.OUT"}, Deliver: []Delivery{{PacketRef: PacketRef{"g", 1}, Queue: "d.IN"}}}},
	})
}

// Deliveries: a packet goes out once every edge downstream of its target
// is bound (by this plan: it needs those bindings), in order; until then
// it waits, and a wait for a node that will not get a participant without
// help is a problem of that node; a packet to a port the participant
// lacks is dropped and reported.
func TestPlanDeliveries(t *testing.T) {
	a, c, d := pt("a", true, []string{"in"}, []string{"out"}), pt("c", true, []string{"in"}, []string{"out"}), pt("d", true, []string{"in"}, nil)
	nodes := []Node{nd("a", "ext/A", External), nd("c", "lib/C", LibraryProcess), nd("d", "ext/D", External)}
	edges := []Edge{ed("a", "out", "c", "in"), ed("c", "out", "d", "in")}
	pk := func(seq uint64, node, port string) Packet { return Packet{Seq: seq, Tgt: ep(node, port), Role: node} }
	out := []Packet{pk(1, "a", "in"), pk(2, "a", "in")}
	runCases(t, []planCase{
		{name: "everything downstream bound: sent in order",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: edges, Outbox: out}}, Participants: known(a, c, d),
				Bound: bound(b("a.OUT", "c.IN"), b("c.OUT", "d.IN"))},
			want: Plan{Deliver: []Delivery{{PacketRef: PacketRef{"g", 1}, Queue: "a.IN"}, {PacketRef: PacketRef{"g", 2}, Queue: "a.IN"}}}},
		{name: "bound by this plan: sent once the bindings are made",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: edges, Outbox: out[:1]}}, Participants: known(a, c, d),
				Bound: bound(b("a.OUT", "c.IN"))},
			want: Plan{Bind: []Bind{{Binding: b("c.OUT", "d.IN"), Graphs: []string{"g"}}},
				Deliver: []Delivery{{PacketRef: PacketRef{"g", 1}, Queue: "a.IN", Needs: []Binding{b("c.OUT", "d.IN")}}}}},
		{name: "a node downstream on its way (a process): waits, no problem",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: edges, Outbox: out[:1]}}, Participants: known(a, d),
				Processes: map[string]string{"c": "lib/C"}}},
		{name: "a node downstream that nothing will start: waits, naming it",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes, Edges: edges, Outbox: out[:1]}}, Participants: known(a, c),
				Bound: bound(b("a.OUT", "c.IN"))},
			want: Plan{Blocked: map[string]int{"g": 1}, Waits: map[string]Problem{"wait:g:d": {Graph: "g", Node: "d",
				Message: "Packets to a wait for node d: no participant with role d has announced itself, and the runtime cannot start component ext/D"}}}},
		{name: "an ignored node: waits, saying it is ignored",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: []Node{nd("i", "core/Repeat", Ignored)}, Outbox: []Packet{pk(1, "i", "in")}}}},
			want: Plan{Blocked: map[string]int{"g": 1}, Waits: map[string]Problem{"wait:g:i": {Graph: "g", Node: "i",
				Message: "Packets to i wait for node i: no participant with role i has announced itself, and the runtime ignores that role"}}}},
		{name: "a node whose participant could not start: waits, naming the problem",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: []Node{nd("r", "core/Repeat", InProcess)}, Outbox: []Packet{pk(1, "r", "in")}}},
				Local: map[string]Local{"r": {Component: "core/Repeat", Open: true}}, Problems: map[NodeKey]string{{"g", "r"}: "it broke"}},
			want: Plan{RunLocal: []LocalRun{{Role: "r"}}, Blocked: map[string]int{"g": 1},
				Waits: map[string]Problem{"wait:g:r": {Graph: "g", Node: "r", Message: "Packets to r wait for node r: it broke"}}}},
		{name: "a port the participant lacks: dropped and reported",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Started: true, Nodes: nodes[2:], Outbox: []Packet{pk(7, "d", "nope")}}}, Participants: known(d)},
			want: Plan{Drop: []PacketRef{{"g", 7}}, Reports: []Report{{Key: "deliver:g:d.nope",
				Problem: Problem{Graph: "g", Message: "Cannot deliver to d.nope: Participant d-1 (role d) has no inport nope"}}}}},
	})
}

// Hosts (full FBP runtime participants) are told once which queue each
// edge touching their graph's ports uses, once the other end is known.
func TestPlanConnects(t *testing.T) {
	a, h := pt("a", true, nil, []string{"out"}), pt("h", true, []string{"in"}, []string{"out"})
	nodes := []Node{nd("a", "x/A", External), nd("h", "x/H", External)}
	into := ed("a", "out", "h", "in")
	connect := Connect{Participant: "h-1", Inport: true, Graph: "hosted", Port: ep("h", "in"), Queue: "a.OUT",
		Key: ConnectKey("h-1", "connectinport", "a.OUT", "in")}
	runCases(t, []planCase{
		{name: "an edge into a host: connectinport with the source's queue",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: nodes, Edges: []Edge{into}}}, Participants: known(a, h),
				Hosts: map[string]Host{"h": {Participant: "h-1", Graph: "hosted"}}, Bound: bound(b("a.OUT", "h.IN"))},
			want: Plan{Connect: []Connect{connect}}},
		{name: "sent already: not again",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: nodes, Edges: []Edge{into}}}, Participants: known(a, h),
				Hosts: map[string]Host{"h": {Participant: "h-1", Graph: "hosted"}}, Bound: bound(b("a.OUT", "h.IN")),
				Connected: map[string]bool{connect.Key: true}}},
		{name: "the other end unknown: not yet",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: nodes, Edges: []Edge{into}}}, Participants: known(h),
				Hosts: map[string]Host{"h": {Participant: "h-1", Graph: "hosted"}}}},
	})
}

// Observations never cause actions: a live graph's nodes that show
// announced participants, whatever their component (built-in, in the
// library), start nothing, and the edges inferred between them are not
// bound; a client's edge to an observed node is.
func TestPlanObservationsCommandNothing(t *testing.T) {
	victim := pt("victim", true, []string{"in"}, nil)
	x := pt("x_1", true, []string{"in"}, []string{"out"})
	inferred := ed("x_1", "out", "victim", "in")
	inferred.Observed = true
	live := Graph{ID: "default/main", Started: true, Nodes: []Node{nd("victim", "core/Drop", Observed), {ID: "x/1", Role: "x_1", Component: "evil/Touch", Run: Observed}},
		Edges: []Edge{inferred}}
	runCases(t, []planCase{
		{name: "observed nodes and edges: nothing",
			snap: Snapshot{Graphs: []Graph{live}, Participants: known(victim, x)}},
		{name: "observed nodes whose participants expired: still nothing",
			snap: Snapshot{Graphs: []Graph{live}}},
		{name: "a client's edge to an observed node is bound",
			snap: Snapshot{Graphs: []Graph{{ID: "g", Nodes: []Node{nd("a", "x/A", External), nd("victim", "core/Drop", Observed)},
				Edges: []Edge{ed("a", "out", "victim", "in")}}}, Participants: known(pt("a", true, nil, []string{"out"}), victim)},
			want: Plan{Bind: []Bind{{Binding: b("a.OUT", "victim.IN"), Graphs: []string{"g"}}}}},
	})
}

// Closing names the open gates no started graph needs, as a plan closes
// them: the graph store closes them as network:stop answers.
func TestClosing(t *testing.T) {
	local := map[string]Local{
		"mine":   {Component: "core/Repeat", Running: true, Open: true},
		"shared": {Component: "core/Repeat", Running: true, Open: true},
		"closed": {Component: "core/Repeat", Running: true},
	}
	graphs := []Graph{
		{ID: "g", Nodes: []Node{nd("mine", "core/Repeat", InProcess), nd("shared", "core/Repeat", InProcess), nd("closed", "core/Repeat", InProcess)}},
		{ID: "h", Started: true, Nodes: []Node{nd("shared", "core/Repeat", InProcess)}},
	}
	if got := Closing(graphs, local); !slices.Equal(got, []string{"mine"}) {
		t.Errorf("Closing = %v, want [mine]", got)
	}
	// The plan of the same state closes the same gate.
	p := Make(&Snapshot{Graphs: graphs, Local: local})
	if want := []Gate{{Role: "mine"}}; !reflect.DeepEqual(p.Gates, want) {
		t.Errorf("plan's gates %+v, want %+v", p.Gates, want)
	}
}
