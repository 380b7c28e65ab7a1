package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network/mqtt"
	"github.com/msgflo/msgflo-runtime/participant"
)

// The flow of the official compliance suite's network tests.
func TestNetworkStartSendsIIPsAndReportsData(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	setupGraph(t, c, "bar", true, "Hello", "core/Repeat", "World", "core/Drop")
	c.request("graph", "addedge", obj(`{"src":{"node":"Hello","port":"out"},"tgt":{"node":"World","port":"in"},"graph":"bar"}`), "addedge")
	c.request("graph", "addinitial", obj(`{"src":{"data":"Hello, world!"},"tgt":{"node":"Hello","port":"in"},"graph":"bar"}`), "addinitial")

	st := c.request("network", "getstatus", obj(`{"graph":"bar"}`), "status")
	wantPayload(t, st, `{"graph":"bar","running":false,"started":false}`)

	c.send("network", "start", obj(`{"graph":"bar"}`))
	started := c.waitFor("network", "started", nil)
	if p := started.payloadMap(); p["graph"] != "bar" || p["started"] != true || p["time"] == nil {
		t.Fatalf("started payload %v", p)
	}
	iip := c.waitFor("network", "data", nil)
	wantPayload(t, iip, `{"id":"DATA -> IN Hello()","graph":"bar","tgt":{"node":"Hello","port":"in"},"data":"Hello, world!"}`)
	edge := c.waitFor("network", "data", nil)
	wantPayload(t, edge, `{"id":"Hello() OUT -> IN World()","graph":"bar","src":{"node":"Hello","port":"out"},"tgt":{"node":"World","port":"in"},"data":"Hello, world!"}`)

	c.send("network", "getstatus", obj(`{"graph":"bar"}`))
	wantPayload(t, c.waitFor("network", "status", nil), `{"graph":"bar","running":false,"started":true}`)

	c.send("network", "stop", obj(`{"graph":"bar"}`))
	stopped := c.waitFor("network", "stopped", nil)
	if p := stopped.payloadMap(); p["started"] != false || p["running"] != false || p["graph"] != "bar" {
		t.Fatalf("stopped payload %v", p)
	}
	c.send("network", "getstatus", obj(`{"graph":"bar"}`))
	wantPayload(t, c.waitFor("network", "status", nil), `{"graph":"bar","running":false,"started":false}`)
	// Stopping again still answers.
	c.send("network", "stop", obj(`{"graph":"bar"}`))
	c.waitFor("network", "stopped", nil)
}

func TestEdgeSelectionFiltersData(t *testing.T) {
	h := newHarness(t)
	watcher, all := h.connect(), h.connect()
	setupGraph(t, watcher, "g", false, "a", "core/Repeat", "b", "core/Repeat", "c", "core/Drop")
	watcher.request("graph", "addedge", obj(`{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"graph":"g"}`), "addedge")
	watcher.request("graph", "addedge", obj(`{"src":{"node":"b","port":"out"},"tgt":{"node":"c","port":"in"},"graph":"g"}`), "addedge")
	watcher.request("graph", "addinport", obj(`{"public":"in","node":"a","port":"in","graph":"g"}`), "addinport")
	watcher.expect("runtime", "ports")
	sel := watcher.request("network", "edges", obj(`{"graph":"g","edges":[{"src":{"node":"b","port":"out"},"tgt":{"node":"c","port":"in"}}]}`), "edges")
	wantPayload(t, sel, `{"graph":"g","edges":[{"src":{"node":"b","port":"out"},"tgt":{"node":"c","port":"in"}}]}`)
	watcher.request("network", "start", obj(`{"graph":"g"}`), "started")

	for i := 0; i < 3; i++ {
		watcher.request("runtime", "packet", obj(fmt.Sprintf(`{"port":"in","event":"data","payload":{"n":%d},"graph":"g"}`, i)), "packetsent")
	}
	// The watcher sees only b -> c, in order.
	for i := 0; i < 3; i++ {
		m := watcher.waitFor("network", "data", nil)
		if m.payloadMap()["id"] != "b() OUT -> IN c()" {
			t.Fatalf("watcher got data of an unselected edge: %s", m.Text)
		}
		wantPayload(t, m, fmt.Sprintf(`{"id":"b() OUT -> IN c()","graph":"g","src":{"node":"b","port":"out"},"tgt":{"node":"c","port":"in"},"data":{"n":%d}}`, i))
	}
	// The other client selected nothing, so it sees both edges.
	seen := map[string]int{}
	for len(seen) < 2 || seen["a() OUT -> IN b()"] < 3 || seen["b() OUT -> IN c()"] < 3 {
		m := all.waitFor("network", "data", nil)
		seen[m.payloadMap()["id"].(string)]++
	}
}

func TestExportedPortsCarryPackets(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	setupGraph(t, c, "fixture.x", false, "a", "core/Repeat", "b", "core/Output")
	c.request("graph", "addedge", obj(`{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"graph":"fixture.x"}`), "addedge")
	c.request("graph", "addinport", obj(`{"public":"in","node":"a","port":"in","graph":"fixture.x"}`), "addinport")
	c.expect("runtime", "ports")
	c.request("graph", "addoutport", obj(`{"public":"out","node":"b","port":"out","graph":"fixture.x"}`), "addoutport")
	c.expect("runtime", "ports")
	c.request("network", "start", obj(`{"graph":"fixture.x"}`), "started")
	values := []string{`{"a":[1,2,{"b":null}]}`, `"unicode ✓ 日本"`, `42.5`, `[1,"two"]`, `true`, `null`}
	for _, v := range values {
		sent := c.request("runtime", "packet", obj(`{"port":"in","event":"data","payload":`+v+`,"graph":"fixture.x"}`), "packetsent")
		if sent.payloadMap()["port"] != "in" || sent.payloadMap()["graph"] != "fixture.x" {
			t.Fatalf("packetsent %s", sent.Text)
		}
		out := c.waitFor("runtime", "packet", nil)
		want := `{"port":"out","event":"data","payload":` + v + `,"graph":"fixture.x"}`
		if v == "null" {
			want = `{"port":"out","event":"data","payload":null,"graph":"fixture.x"}`
		}
		wantPayload(t, out, want)
	}
	// Events other than data are acknowledged and carry nothing.
	c.request("runtime", "packet", obj(`{"port":"in","event":"connect","graph":"fixture.x"}`), "packetsent")
}

func TestDiscoveredParticipantIsListedAndWired(t *testing.T) {
	h := newHarness(t)
	c := h.connect()

	// An external participant joins the embedded broker over TCP.
	ctx := context.Background()
	ext, err := mqtt.Dial(ctx, h.broker.URL(), mqtt.Options{})
	if err != nil {
		t.Fatalf("dial embedded broker: %v", err)
	}
	t.Cleanup(func() { _ = ext.Close() })
	got := make(chan string, 16)
	upper := participant.Component{
		Name:     "ext/Collect",
		Label:    "Collects what it receives",
		Inports:  []participant.Port{{ID: "in", Type: "string"}},
		Outports: []participant.Port{},
		Process: func(_ context.Context, in participant.Input, _ participant.Output) error {
			got <- string(in.Data)
			return nil
		},
	}
	p, err := participant.New(ext, upper, "collector", participant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })

	comp := c.waitFor("component", "component", func(m msg) bool { return m.payloadMap()["name"] == "ext/Collect" })
	wantPayload(t, comp, `{"name":"ext/Collect","description":"Collects what it receives","subgraph":false,"inPorts":[{"id":"in","type":"string","addressable":false,"required":false}],"outPorts":[]}`)

	c.send("component", "list", map[string]any{})
	names := map[string]bool{}
	for {
		m := c.next()
		if m.Command == "componentsready" {
			if n, _ := m.Payload.(float64); int(n) != len(names) {
				t.Fatalf("componentsready %v after %d components", m.Payload, len(names))
			}
			break
		}
		if m.Command != "component" {
			continue
		}
		names[m.payloadMap()["name"].(string)] = true
	}
	for _, want := range []string{"core/Repeat", "core/Drop", "core/Output", "ext/Collect"} {
		if !names[want] {
			t.Fatalf("component list misses %s: %v", want, names)
		}
	}

	src := c.request("component", "getsource", obj(`{"name":"ext/Collect"}`), "source")
	if p := src.payloadMap(); p["language"] != "yaml" || p["name"] != "Collect" || p["library"] != "ext" {
		t.Fatalf("source of discovered component: %s", src.Text)
	}

	// A node whose id is the participant's role is wired to it.
	setupGraph(t, c, "main", true, "r", "core/Repeat", "collector", "ext/Collect")
	c.request("graph", "addedge", obj(`{"src":{"node":"r","port":"out"},"tgt":{"node":"collector","port":"in"},"graph":"main"}`), "addedge")
	c.request("graph", "addinitial", obj(`{"src":{"data":"via the broker"},"tgt":{"node":"r","port":"in"},"graph":"main"}`), "addinitial")
	c.request("network", "start", obj(`{"graph":"main"}`), "started")
	select {
	case data := <-got:
		var s string
		if err := json.Unmarshal([]byte(data), &s); err != nil || s != "via the broker" {
			t.Fatalf("external participant got %q", data)
		}
	case <-time.After(waitLimit):
		t.Fatal("the external participant got nothing")
	}
}
