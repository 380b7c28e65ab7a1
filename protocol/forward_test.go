package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/dial"
)

// fullRuntime is a participant that is a full FBP runtime hosting the graph
// fake/Sub, as msgflo's README describes them: it announces inqueue,
// outqueue and capabilities (graph, not network), answers getsource and
// graph edits, and records every message it gets.
type fullRuntime struct {
	def  network.Definition
	got  chan map[string]any
	sub  network.Subscription
	stop chan struct{} // closed: answer nothing any more
}

func startFullRuntime(t *testing.T, url string) *fullRuntime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b, err := dial.Open(ctx, url, dial.Options{ClientID: "full-" + uuid.New()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	role := "full" + uuid.New()[:8]
	id := role + "-1"
	f := &fullRuntime{got: make(chan map[string]any, 100), stop: make(chan struct{})}
	f.def = network.Definition{
		ID: id, Role: role, Component: "fake/Sub",
		Inports:  []network.Port{{ID: "in", Queue: role + ".IN", Type: "any"}},
		Outports: []network.Port{{ID: "out", Queue: role + ".OUT", Type: "any"}},
		Type:     "fake", Version: "0.8", Capabilities: []string{"protocol:graph", "protocol:component", "component:getsource"},
		Inqueue: ".fbp." + id + ".receive", Outqueue: ".fbp." + id + ".send",
	}
	opts := network.QueueOptions{NonPersistent: true}
	if err := b.DeclareOutport(ctx, f.def.Outqueue, opts); err != nil {
		t.Fatal(err)
	}
	if err := b.DeclareInport(ctx, f.def.Inqueue, opts); err != nil {
		t.Fatal(err)
	}
	answer := func(protocol, command string, payload any) {
		p, _ := json.Marshal(payload)
		data, _ := json.Marshal(map[string]any{"protocol": protocol, "command": command, "payload": json.RawMessage(p)})
		_ = b.Publish(context.Background(), f.def.Outqueue, data)
	}
	f.sub, err = b.Consume(ctx, f.def.Inqueue, 0, func(d network.Delivery) {
		_ = d.Ack()
		var m map[string]any
		if json.Unmarshal(d.Data(), &m) != nil {
			return
		}
		f.got <- m
		select {
		case <-f.stop:
			return
		default:
		}
		p, _ := m["payload"].(map[string]any)
		switch m["protocol"].(string) + ":" + m["command"].(string) {
		case "component:getsource":
			answer("component", "source", map[string]any{"name": "Sub", "library": "fake", "language": "json", "code": `{"processes":{"x":{"component":"core/Repeat"}}}`})
		case "graph:addnode":
			answer("graph", "addnode", p)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := network.EncodeDiscovery(f.def)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Announce(ctx, msg); err != nil {
		t.Fatal(err)
	}
	return f
}

// next returns the next message the participant got that is not a probe.
func (f *fullRuntime) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-f.got:
		return m
	case <-time.After(waitLimit):
		t.Fatal("the participant got nothing")
		return nil
	}
}

func TestForwardingToAFullFBPRuntime(t *testing.T) {
	url := brokertest.MosquittoURL(t)
	h := newHarnessOn(t, url, time.Second)
	c := h.connect()
	c.requestShared("runtime", "getruntime", obj(`{}`), "runtime")
	f := startFullRuntime(t, url)

	// Its component's source comes from the participant, once the
	// coordinator knows it (discovery is asynchronous).
	deadline := time.Now().Add(waitLimit)
	var src msg
	for {
		c.send("component", "getsource", obj(`{"name":"fake/Sub"}`))
		src = c.nextOf("component", "source", "error")
		if src.Command == "source" && src.payloadMap()["language"] == "json" || time.Now().After(deadline) {
			break
		}
	}
	wantPayload(t, src, `{"name":"Sub","library":"fake","language":"json","code":"{\"processes\":{\"x\":{\"component\":\"core/Repeat\"}}}"}`)
	if m := f.next(t); m["protocol"] != "component" || m["command"] != "getsource" {
		t.Fatalf("participant got %v", m)
	}

	// A graph edit of the graph it hosts goes to it, without the secret;
	// the answer comes back.
	c.sendRaw(`{"protocol":"graph","command":"addnode","payload":{"id":"y","component":"core/Drop","graph":"fake/Sub","secret":"s"}}`)
	wantPayload(t, c.waitFor("graph", "addnode", nil), `{"id":"y","component":"core/Drop","graph":"fake/Sub"}`)
	if m := f.next(t); m["command"] != "addnode" || m["payload"].(map[string]any)["secret"] != nil {
		t.Fatalf("participant got %v", m)
	}

	// network:* is not among its capabilities: refused, never forwarded.
	c.send("network", "getstatus", obj(`{"graph":"fake/Sub"}`))
	wantError(t, c.waitFor("network", "error", nil), "network", "network:getstatus is not among the capabilities of participant "+f.def.ID)

	// An edge to its port: it is told which queue feeds it, and an edge
	// from its port which queue to send to.
	c.requestShared("graph", "clear", map[string]any{"id": "g"}, "clear")
	c.requestShared("graph", "addnode", map[string]any{"id": "a", "component": "core/Repeat", "graph": "g"}, "addnode")
	c.requestShared("graph", "addnode", map[string]any{"id": f.def.Role, "component": "fake/Sub", "graph": "g"}, "addnode")
	c.requestShared("graph", "addnode", map[string]any{"id": "b", "component": "core/Drop", "graph": "g"}, "addnode")
	c.requestShared("graph", "addedge", obj(fmt.Sprintf(`{"src":{"node":"a","port":"out"},"tgt":{"node":%q,"port":"in"},"graph":"g"}`, f.def.Role)), "addedge")
	c.requestShared("graph", "addedge", obj(fmt.Sprintf(`{"src":{"node":%q,"port":"out"},"tgt":{"node":"b","port":"in"},"graph":"g"}`, f.def.Role)), "addedge")
	want := map[string]string{
		"connectinport":  `{"graph":"fake/Sub","src":{"queue":"a.OUT"},"tgt":{"port":"in"}}`,
		"connectoutport": `{"graph":"fake/Sub","src":{"port":"out"},"tgt":{"queue":"b.IN"}}`,
	}
	for len(want) > 0 {
		m := f.next(t)
		w, ok := want[m["command"].(string)]
		if !ok || m["protocol"] != "graph" {
			t.Fatalf("participant got %v", m)
		}
		got, _ := json.Marshal(m["payload"])
		if string(got) != w {
			t.Fatalf("%s payload %s, want %s", m["command"], got, w)
		}
		delete(want, m["command"].(string))
	}

	// It stops answering: the client gets an error naming it, not silence.
	close(f.stop)
	c.send("component", "getsource", obj(`{"name":"fake/Sub"}`))
	e := c.waitFor("component", "error", nil)
	if text, _ := e.payloadMap()["message"].(string); !strings.Contains(text, f.def.ID) || !strings.Contains(text, "did not answer") {
		t.Fatalf("error %q should name %s and say it did not answer", text, f.def.ID)
	}
}

// nextOf returns the next message of protocol with one of commands,
// skipping others (within the wait limit).
func (c *wsClient) nextOf(protocol string, commands ...string) msg {
	c.t.Helper()
	return c.waitUntil(fmt.Sprintf("%s:%v", protocol, commands), func(m msg) bool {
		return m.Protocol == protocol && slices.Contains(commands, m.Command)
	})
}
