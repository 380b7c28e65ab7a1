package protocol

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/participant"
)

// flowtraceDoc is a dump's flowtrace, decoded.
type flowtraceDoc struct {
	Header struct {
		Graphs       map[string]json.RawMessage `json:"graphs"`
		Participants []struct {
			Node, Participant, Error string
			Events                   int
			Tracing                  bool
		} `json:"participants"`
	} `json:"header"`
	Events []traceEventDoc `json:"events"`
}

type traceEventDoc struct {
	Protocol, Command, Participant string
	Payload                        struct {
		Time  string
		Graph string
		ID    string
		Src   *struct{ Node, Port string }
		Tgt   *struct{ Node, Port string }
		Data  json.RawMessage
	}
}

func (c *wsClient) dump(graph string) flowtraceDoc {
	c.t.Helper()
	m := c.requestShared("trace", "dump", obj(fmt.Sprintf(`{"graph":%q,"type":"flowtrace.json"}`, graph)), "dump")
	p := m.payloadMap()
	if p["graph"] != graph || p["type"] != "flowtrace.json" {
		c.t.Fatalf("dump payload %s", m.Text)
	}
	text, ok := p["flowtrace"].(string)
	if !ok {
		c.t.Fatalf("flowtrace is not a string: %s", m.Text)
	}
	var ft flowtraceDoc
	if err := json.Unmarshal([]byte(text), &ft); err != nil {
		c.t.Fatalf("flowtrace is not JSON: %v\n%s", err, text)
	}
	return ft
}

// dumpUntil dumps until the flowtrace has n events (recording follows the
// data asynchronously), within the wait limit.
func (c *wsClient) dumpUntil(graph string, n int) flowtraceDoc {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ft := c.dump(graph)
		if len(ft.Events) >= n {
			return ft
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("flowtrace has %d events, want %d, after %s", len(ft.Events), n, waitLimit)
		}
	}
}

func TestTraceRecordsEdgesOfTheGraph(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	if caps := c.request("runtime", "getruntime", obj(`{}`), "runtime").payloadMap()["capabilities"]; !contains(caps, "protocol:trace") {
		t.Fatalf("protocol:trace not offered: %v", caps)
	}
	c.drain()
	setupGraph(t, c, "g", false, "a", "core/Repeat", "b", "core/Repeat")
	c.request("graph", "addedge", obj(`{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"graph":"g"}`), "addedge")
	c.request("graph", "addinport", obj(`{"public":"in","node":"a","port":"in","graph":"g"}`), "addinport")
	c.expect("runtime", "ports")
	// Watching no edge: the trace taps what it needs by itself.
	c.request("network", "edges", obj(`{"graph":"g","edges":[]}`), "edges")
	c.request("network", "start", obj(`{"graph":"g"}`), "started")

	start := c.request("trace", "start", obj(`{"graph":"g","buffersize":2}`), "start")
	wantPayload(t, start, `{"graph":"g","buffersize":2}`)
	for i := 1; i <= 3; i++ {
		c.request("runtime", "packet", obj(fmt.Sprintf(`{"port":"in","event":"data","payload":{"n":%d},"graph":"g"}`, i)), "packetsent")
	}
	// The buffer keeps the last two events, in time order.
	deadline := time.Now().Add(waitLimit)
	var ft flowtraceDoc
	for {
		ft = c.dumpUntil("g", 2)
		if string(ft.Events[1].Payload.Data) == `{"n":3}` || time.Now().After(deadline) {
			break
		}
	}
	if len(ft.Events) != 2 {
		t.Fatalf("%d events, want the buffer's 2", len(ft.Events))
	}
	for i, ev := range ft.Events {
		want := fmt.Sprintf(`{"n":%d}`, i+2)
		if ev.Protocol != "network" || ev.Command != "data" || ev.Payload.Graph != "g" || ev.Payload.ID != "a() OUT -> IN b()" ||
			ev.Payload.Src == nil || ev.Payload.Src.Node != "a" || ev.Payload.Tgt.Node != "b" || string(ev.Payload.Data) != want || ev.Participant != h.rt.Info().ID {
			t.Fatalf("event %d: %+v, want a -> b carrying %s recorded by the coordinator", i, ev, want)
		}
		if _, err := time.Parse(time.RFC3339Nano, ev.Payload.Time); err != nil {
			t.Fatalf("event %d time: %v", i, err)
		}
	}
	if _, ok := ft.Header.Graphs["g"]; !ok {
		t.Fatalf("header.graphs misses the graph: %v", ft.Header.Graphs)
	}

	wantPayload(t, c.request("trace", "clear", obj(`{"graph":"g"}`), "clear"), `{"graph":"g"}`)
	if ft := c.dump("g"); len(ft.Events) != 0 {
		t.Fatalf("cleared trace has %d events", len(ft.Events))
	}
	wantPayload(t, c.request("trace", "stop", obj(`{"graph":"g"}`), "stop"), `{"graph":"g"}`)

	c.send("trace", "start", obj(`{"graph":"nope"}`))
	wantError(t, c.waitFor("trace", "error", nil), "trace", "Requested graph not found")
	c.send("trace", "dump", obj(`{"graph":"g"}`))
	wantError(t, c.waitFor("trace", "error", nil), "trace", "type")
}

func contains(list any, s string) bool {
	l, _ := list.([]any)
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// A Go participant made FBP-capable in a traced graph: the coordinator
// starts its tracer and merges its flowtrace (what it took in and sent
// out) with its own edge events.
func TestTraceMergesAGoFBPParticipant(t *testing.T) {
	h := newHarness(t)
	c := h.connect()
	comp := participant.Component{
		Name: "test/FBPRepeat", Inports: []participant.Port{{ID: "in"}}, Outports: []participant.Port{{ID: "out"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			return out.Send("out", in.Data)
		},
	}
	part, err := participant.New(h.broker.Broker(), comp, "gofbp", participant.Options{FBP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := part.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = part.Stop(context.Background()) })
	id := part.Definition().ID

	c.requestShared("graph", "clear", map[string]any{"id": "g"}, "clear")
	c.requestShared("graph", "addnode", map[string]any{"id": "a", "component": "core/Repeat", "graph": "g"}, "addnode")
	c.requestShared("graph", "addnode", map[string]any{"id": "gofbp", "component": "test/FBPRepeat", "graph": "g"}, "addnode")
	c.requestShared("graph", "addedge", obj(`{"src":{"node":"a","port":"out"},"tgt":{"node":"gofbp","port":"in"},"graph":"g"}`), "addedge")
	c.requestShared("graph", "addinport", obj(`{"public":"in","node":"a","port":"in","graph":"g"}`), "addinport")
	c.waitFor("runtime", "ports", nil)
	c.requestShared("graph", "addoutport", obj(`{"public":"out","node":"gofbp","port":"out","graph":"g"}`), "addoutport")
	c.waitFor("runtime", "ports", nil)
	c.requestShared("network", "start", obj(`{"graph":"g"}`), "started")
	c.requestShared("trace", "start", obj(`{"graph":"g"}`), "start")
	deadline := time.Now().Add(waitLimit)
	for {
		ft := c.dump("g")
		if pid, tracing, _, ok := participantOf(ft, "gofbp"); ok && tracing && pid == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Go participant does not trace: %+v", ft.Header.Participants)
		}
	}
	for i := 1; i <= 2; i++ {
		c.requestShared("runtime", "packet", obj(fmt.Sprintf(`{"port":"in","event":"data","payload":{"n":%d},"graph":"g"}`, i)), "packetsent")
		c.waitFor("runtime", "packet", func(m msg) bool { return m.payloadMap()["port"] == "out" })
	}
	ft := c.dumpUntil("g", 6)
	if _, ok := ft.Header.Graphs["gofbp/gofbp"]; !ok {
		t.Fatalf("header.graphs %v lacks gofbp/gofbp", keys(ft.Header.Graphs))
	}
	var coordinator, own int
	for _, ev := range ft.Events {
		switch {
		case ev.Participant == h.rt.Info().ID && ev.Payload.Graph == "g":
			coordinator++
		case ev.Participant == id && ev.Payload.Graph == "gofbp/gofbp":
			own++
		default:
			t.Fatalf("event recorded by nobody known: %+v", ev)
		}
	}
	if coordinator != 2 || own != 4 {
		t.Fatalf("%d coordinator events and %d of the participant, want 2 and 4:\n%s", coordinator, own, eventsText(ft))
	}
}
