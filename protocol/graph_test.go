package protocol

import (
	"fmt"
	"testing"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// setupGraph clears graph id and adds nodes (id -> component).
func setupGraph(t *testing.T, c *wsClient, id string, main bool, nodes ...string) {
	t.Helper()
	c.request("graph", "clear", map[string]any{"id": id, "main": main}, "clear")
	for i := 0; i+1 < len(nodes); i += 2 {
		c.request("graph", "addnode", map[string]any{"id": nodes[i], "component": nodes[i+1], "graph": id}, "addnode")
	}
}

func TestGraphCommandsAcknowledgeFromState(t *testing.T) {
	h := newHarness(t)
	c := h.connect()

	cases := []struct {
		name    string
		command string
		payload string
		replies []string // protocol:command of each reply, in order
		want    []string // payload of each reply
	}{
		{"clear drops unknown keys", "clear", `{"id":"foo","main":true,"name":"Foo graph","baseDir":"/x","secret":""}`,
			[]string{"graph:clear"}, []string{`{"id":"foo","main":true,"name":"Foo graph"}`}},
		{"addnode with metadata", "addnode", `{"id":"Repeat1","component":"core/Repeat","metadata":{"hello":"World"},"graph":"foo","secret":"x"}`,
			[]string{"graph:addnode"}, []string{`{"id":"Repeat1","component":"core/Repeat","metadata":{"hello":"World"},"graph":"foo"}`}},
		{"addnode keeps empty metadata", "addnode", `{"id":"Drop1","component":"core/Drop","metadata":{},"graph":"foo"}`,
			[]string{"graph:addnode"}, []string{`{"id":"Drop1","component":"core/Drop","metadata":{},"graph":"foo"}`}},
		{"addnode without metadata", "addnode", `{"id":"Out1","component":"core/Output","graph":"foo"}`,
			[]string{"graph:addnode"}, []string{`{"id":"Out1","component":"core/Output","graph":"foo"}`}},
		{"addedge", "addedge", `{"src":{"node":"Repeat1","port":"out"},"tgt":{"node":"Drop1","port":"in"},"metadata":{"route":5},"graph":"foo"}`,
			[]string{"graph:addedge"}, []string{`{"src":{"node":"Repeat1","port":"out"},"tgt":{"node":"Drop1","port":"in"},"metadata":{"route":5},"graph":"foo"}`}},
		{"addedge with index", "addedge", `{"src":{"node":"Repeat1","port":"out","index":0},"tgt":{"node":"Out1","port":"in","index":"a"},"graph":"foo"}`,
			[]string{"graph:addedge"}, []string{`{"src":{"node":"Repeat1","port":"out","index":0},"tgt":{"node":"Out1","port":"in","index":"a"},"graph":"foo"}`}},
		{"changeedge merges", "changeedge", `{"src":{"node":"Repeat1","port":"out"},"tgt":{"node":"Drop1","port":"in"},"metadata":{"route":null,"secure":true},"graph":"foo"}`,
			[]string{"graph:changeedge"}, []string{`{"src":{"node":"Repeat1","port":"out"},"tgt":{"node":"Drop1","port":"in"},"metadata":{"secure":true},"graph":"foo"}`}},
		{"changenode adds", "changenode", `{"id":"Drop1","metadata":{"sort":1},"graph":"foo"}`,
			[]string{"graph:changenode"}, []string{`{"id":"Drop1","metadata":{"sort":1},"graph":"foo"}`}},
		{"changenode merges", "changenode", `{"id":"Drop1","metadata":{"tag":"awesome"},"graph":"foo"}`,
			[]string{"graph:changenode"}, []string{`{"id":"Drop1","metadata":{"sort":1,"tag":"awesome"},"graph":"foo"}`}},
		{"changenode empty keeps", "changenode", `{"id":"Drop1","metadata":{},"graph":"foo"}`,
			[]string{"graph:changenode"}, []string{`{"id":"Drop1","metadata":{"sort":1,"tag":"awesome"},"graph":"foo"}`}},
		{"changenode null deletes", "changenode", `{"id":"Drop1","metadata":{"sort":null,"tag":null},"graph":"foo"}`,
			[]string{"graph:changenode"}, []string{`{"id":"Drop1","metadata":{},"graph":"foo"}`}},
		{"addinitial", "addinitial", `{"src":{"data":"Hello, world!"},"tgt":{"node":"Repeat1","port":"in"},"metadata":{},"graph":"foo"}`,
			[]string{"graph:addinitial"}, []string{`{"src":{"data":"Hello, world!"},"tgt":{"node":"Repeat1","port":"in"},"metadata":{},"graph":"foo"}`}},
		{"removenode removes its edges first", "removenode", `{"id":"Drop1","graph":"foo"}`,
			[]string{"graph:removeedge", "graph:removenode"}, []string{
				`{"src":{"node":"Repeat1","port":"out"},"tgt":{"node":"Drop1","port":"in"},"graph":"foo"}`,
				`{"id":"Drop1","graph":"foo"}`}},
		{"removeinitial echoes the data", "removeinitial", `{"tgt":{"node":"Repeat1","port":"in"},"graph":"foo"}`,
			[]string{"graph:removeinitial"}, []string{`{"src":{"data":"Hello, world!"},"tgt":{"node":"Repeat1","port":"in"},"graph":"foo"}`}},
		{"renamenode", "renamenode", `{"from":"Repeat1","to":"RepeatRenamed","graph":"foo"}`,
			[]string{"graph:renamenode"}, []string{`{"from":"Repeat1","to":"RepeatRenamed","graph":"foo"}`}},
		{"addinport then ports", "addinport", `{"public":"in","node":"RepeatRenamed","port":"in","graph":"foo"}`,
			[]string{"graph:addinport", "runtime:ports"}, []string{
				`{"public":"in","node":"RepeatRenamed","port":"in","graph":"foo"}`,
				`{"graph":"foo","inPorts":[{"id":"in","type":"any","description":"Data to repeat","addressable":false,"required":false}],"outPorts":[]}`}},
		{"addoutport then ports", "addoutport", `{"public":"out","node":"RepeatRenamed","port":"out","metadata":{"x":1},"graph":"foo"}`,
			[]string{"graph:addoutport", "runtime:ports"}, []string{
				`{"public":"out","node":"RepeatRenamed","port":"out","metadata":{"x":1},"graph":"foo"}`,
				`{"graph":"foo","inPorts":[{"id":"in","type":"any","description":"Data to repeat","addressable":false,"required":false}],"outPorts":[{"id":"out","type":"any","description":"The same data","addressable":false,"required":false}]}`}},
		{"renameinport then ports", "renameinport", `{"from":"in","to":"input","graph":"foo"}`,
			[]string{"graph:renameinport", "runtime:ports"}, []string{
				`{"from":"in","to":"input","graph":"foo"}`,
				`{"graph":"foo","inPorts":[{"id":"input","type":"any","description":"Data to repeat","addressable":false,"required":false}],"outPorts":[{"id":"out","type":"any","description":"The same data","addressable":false,"required":false}]}`}},
		{"renameoutport then ports", "renameoutport", `{"from":"out","to":"output","graph":"foo"}`,
			[]string{"graph:renameoutport", "runtime:ports"}, []string{
				`{"from":"out","to":"output","graph":"foo"}`,
				`{"graph":"foo","inPorts":[{"id":"input","type":"any","description":"Data to repeat","addressable":false,"required":false}],"outPorts":[{"id":"output","type":"any","description":"The same data","addressable":false,"required":false}]}`}},
		{"removeoutport then ports", "removeoutport", `{"public":"output","graph":"foo"}`,
			[]string{"graph:removeoutport", "runtime:ports"}, []string{
				`{"public":"output","graph":"foo"}`,
				`{"graph":"foo","inPorts":[{"id":"input","type":"any","description":"Data to repeat","addressable":false,"required":false}],"outPorts":[]}`}},
		{"removeinport then ports", "removeinport", `{"public":"input","graph":"foo"}`,
			[]string{"graph:removeinport", "runtime:ports"}, []string{
				`{"public":"input","graph":"foo"}`,
				`{"graph":"foo","inPorts":[],"outPorts":[]}`}},
		{"addgroup", "addgroup", `{"name":"grp","nodes":["RepeatRenamed","Out1"],"metadata":{"description":"a group"},"graph":"foo"}`,
			[]string{"graph:addgroup"}, []string{`{"name":"grp","nodes":["RepeatRenamed","Out1"],"metadata":{"description":"a group"},"graph":"foo"}`}},
		{"changegroup", "changegroup", `{"name":"grp","metadata":{"description":null,"color":1},"graph":"foo"}`,
			[]string{"graph:changegroup"}, []string{`{"name":"grp","metadata":{"color":1},"graph":"foo"}`}},
		{"renamegroup", "renamegroup", `{"from":"grp","to":"grp2","graph":"foo"}`,
			[]string{"graph:renamegroup"}, []string{`{"from":"grp","to":"grp2","graph":"foo"}`}},
		{"removegroup", "removegroup", `{"name":"grp2","graph":"foo"}`,
			[]string{"graph:removegroup"}, []string{`{"name":"grp2","graph":"foo"}`}},
		{"removeedge", "removeedge", `{"src":{"node":"RepeatRenamed","port":"out","index":0},"tgt":{"node":"Out1","port":"in","index":"a"},"graph":"foo"}`,
			[]string{"graph:removeedge"}, []string{`{"src":{"node":"RepeatRenamed","port":"out","index":0},"tgt":{"node":"Out1","port":"in","index":"a"},"graph":"foo"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.send("graph", tc.command, obj(tc.payload))
			for i, want := range tc.replies {
				m := c.next()
				if m.Protocol+":"+m.Command != want {
					t.Fatalf("reply %d: got %s:%s %s, want %s", i, m.Protocol, m.Command, m.Text, want)
				}
				wantPayload(t, m, tc.want[i])
			}
		})
	}
	c.t = t
	// Nothing else was pending.
	if extra := c.drain(); len(extra) > 0 {
		t.Fatalf("unexpected messages: %v", extra)
	}
}

func TestGraphSourceHasEverything(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	setupGraph(t, c, "ns/main", true, "a", "core/Repeat", "b", "core/Drop")
	c.request("graph", "addedge", obj(`{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"graph":"ns/main"}`), "addedge")
	c.request("graph", "addinitial", obj(`{"src":{"data":{"x":[1,2]}},"tgt":{"node":"a","port":"in"},"graph":"ns/main"}`), "addinitial")
	c.request("graph", "addinport", obj(`{"public":"IN","node":"a","port":"in","graph":"ns/main"}`), "addinport")
	c.expect("runtime", "ports")
	c.request("graph", "addgroup", obj(`{"name":"g","nodes":["a"],"graph":"ns/main"}`), "addgroup")
	m := c.request("component", "getsource", obj(`{"name":"ns/main"}`), "source")
	p := m.payloadMap()
	if p["name"] != "main" || p["library"] != "ns" || p["language"] != "json" {
		t.Fatalf("source header %v", p)
	}
	code, _ := p["code"].(string)
	got := obj(code)
	if len(got["processes"].(map[string]any)) != 2 || len(got["connections"].([]any)) != 2 ||
		len(got["inports"].(map[string]any)) != 1 || len(got["groups"].([]any)) != 1 {
		t.Fatalf("graph source incomplete: %s", code)
	}
}

func TestGraphErrors(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	setupGraph(t, c, "g", false, "a", "core/Repeat", "b", "core/Drop")

	cases := []struct {
		name, protocol, command, payload, text string
	}{
		{"no graph", "graph", "addnode", `{"id":"x","component":"core/Repeat"}`, "No graph specified"},
		{"empty graph", "graph", "addnode", `{"id":"x","component":"core/Repeat","graph":""}`, "No graph specified"},
		{"unknown graph", "graph", "addnode", `{"id":"x","component":"core/Repeat","graph":"another-graph"}`, "Requested graph not found"},
		{"duplicate node", "graph", "addnode", `{"id":"a","component":"core/Repeat","graph":"g"}`, "Node a already exists in graph g"},
		{"missing node", "graph", "removenode", `{"id":"zz","graph":"g"}`, "Node zz not found in graph g"},
		{"rename missing node", "graph", "renamenode", `{"from":"zz","to":"y","graph":"g"}`, "Node zz not found in graph g"},
		{"change missing node", "graph", "changenode", `{"id":"zz","metadata":{},"graph":"g"}`, "Node zz not found in graph g"},
		{"edge from missing node", "graph", "addedge", `{"src":{"node":"zz","port":"out"},"tgt":{"node":"b","port":"in"},"graph":"g"}`, "Node zz not found in graph g"},
		{"edge from missing port", "graph", "addedge", `{"src":{"node":"a","port":"nope"},"tgt":{"node":"b","port":"in"},"graph":"g"}`, "Component core/Repeat of node a has no outport nope"},
		{"edge to missing port", "graph", "addedge", `{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"nope"},"graph":"g"}`, "Component core/Drop of node b has no inport nope"},
		{"missing edge", "graph", "removeedge", `{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"graph":"g"}`, "Edge a.out -> b.in not found in graph g"},
		{"change missing edge", "graph", "changeedge", `{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"metadata":{},"graph":"g"}`, "not found"},
		{"iip to missing port", "graph", "addinitial", `{"src":{"data":1},"tgt":{"node":"a","port":"nope"},"graph":"g"}`, "has no inport nope"},
		{"missing iip", "graph", "removeinitial", `{"tgt":{"node":"a","port":"in"},"graph":"g"}`, "No initial packet to a.in in graph g"},
		{"export missing node", "graph", "addinport", `{"public":"x","node":"zz","port":"in","graph":"g"}`, "Node zz not found"},
		{"export missing port", "graph", "addoutport", `{"public":"x","node":"a","port":"nope","graph":"g"}`, "has no outport nope"},
		{"remove missing export", "graph", "removeinport", `{"public":"x","graph":"g"}`, "Exported inport x not found in graph g"},
		{"rename missing export", "graph", "renameoutport", `{"from":"x","to":"y","graph":"g"}`, "Exported outport x not found in graph g"},
		{"missing group", "graph", "removegroup", `{"name":"x","graph":"g"}`, "Group x not found in graph g"},
		{"group of missing node", "graph", "addgroup", `{"name":"x","nodes":["zz"],"graph":"g"}`, "Node zz not found"},
		{"schema: missing id", "graph", "addnode", `{"component":"core/Repeat","graph":"g"}`, "id"},
		{"schema: wrong type", "graph", "addnode", `{"id":1,"component":"core/Repeat","graph":"g"}`, "id"},
		{"schema: metadata not object", "graph", "changenode", `{"id":"a","metadata":"x","graph":"g"}`, "metadata"},
		{"unknown command", "graph", "frobnicate", `{"graph":"g"}`, `Unknown command "frobnicate" for protocol "graph"`},
		{"network unknown graph", "network", "start", `{"graph":"nope"}`, "Requested graph not found"},
		{"network no graph", "network", "getstatus", `{}`, "No graph specified"},
		{"packet to missing port", "runtime", "packet", `{"port":"nope","event":"data","payload":1,"graph":"g"}`, "Graph g has no exported inport nope"},
		{"getsource missing", "component", "getsource", `{"name":"nope/Nope"}`, "Component nope/Nope not found"},
		{"setsource not offered", "component", "source", `{"name":"x","language":"python","code":""}`, "component:source is not permitted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.send(tc.protocol, tc.command, obj(tc.payload))
			wantError(t, c.next(), tc.protocol, tc.text)
		})
	}
	c.t = t
	// The graph is unchanged and the connection still works.
	if extra := c.drain(); len(extra) > 0 {
		t.Fatalf("unexpected messages: %v", extra)
	}
	m := c.request("component", "getsource", obj(`{"name":"g"}`), "source")
	code := obj(m.payloadMap()["code"].(string))
	if n := len(code["processes"].(map[string]any)); n != 2 {
		t.Fatalf("graph changed by failed edits: %v", code)
	}
}

func TestTwoClientsSeeEachOthersEdits(t *testing.T) {
	h := newHarness(t)
	a, b := h.connect(), h.connect()
	a.request("graph", "clear", obj(`{"id":"shared"}`), "clear")
	b.expect("graph", "clear")
	b.request("graph", "addnode", obj(`{"id":"n","component":"core/Repeat","graph":"shared"}`), "addnode")
	wantPayload(t, a.expect("graph", "addnode"), `{"id":"n","component":"core/Repeat","graph":"shared"}`)
	// Errors only go to the sender.
	b.send("graph", "addnode", obj(`{"id":"n","component":"core/Repeat","graph":"shared"}`))
	wantError(t, b.next(), "graph", "already exists")
	if extra := a.drain(); len(extra) > 0 {
		t.Fatalf("client a saw %v", extra)
	}
}

// A client is registered before its handshake completes: an edit made the
// moment its connection is open reaches it.
func TestBroadcastRightAfterConnect(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		c := h.connect()
		id := fmt.Sprintf("right-after-%d", i)
		if err := h.rt.Clear(wire.Clear{ID: id}); err != nil {
			t.Fatal(err)
		}
		c.waitFor("graph", "clear", func(m msg) bool { return m.payloadMap()["id"] == id })
	}
}
