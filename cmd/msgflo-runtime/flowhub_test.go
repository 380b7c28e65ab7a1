package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// flowhubBrokers are the brokers the Flowhub replay runs on: the embedded
// one (no --broker), RabbitMQ and Mosquitto.
var flowhubBrokers = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"embedded", func(testing.TB) string { return "" }},
	{"amqp", brokertest.RabbitMQURL},
	{"mqtt", brokertest.MosquittoURL},
}

// The sequence Flowhub (noflo-ui 0.29.1) sends in live mode, replayed at the
// protocol level against the binary started with --graph: it introduces
// itself with the secret in the payload, lists components, asks the main
// graph's status and source, adds a node with a Flowhub-style id
// (library/Component_random), connects it, adds an initial packet (and sets
// it again, as its inspector does), selects the edge, starts, stops and
// moves the node about (as recorded from a real Flowhub session). The data reaches the
// packet view (network:data for the UI's graph) exactly once, the status
// says running, and no error of any kind is sent.
func TestFlowhubLiveSession(t *testing.T) {
	for _, bk := range flowhubBrokers {
		t.Run(bk.name, func(t *testing.T) {
			url := bk.url(t)
			s := uuid.New()[:8]
			a, b, out := "fa"+s, "fb"+s, "core/Output_"+s[:5]
			if url != "" && url[:4] == "amqp" {
				t.Cleanup(func() { deleteQueues(url, a, b, "core_Output_"+s[:5]) })
			}
			path := writeFile(t, "demo.fbp", fmt.Sprintf("INPORT=%s.IN:IN\nOUTPORT=%s.OUT:OUT\n%s(core/Repeat) OUT -> IN %s(core/Repeat)\n", a, b, a, b))
			var env []string
			if url != "" {
				env = append(env, "MSGFLO_BROKER="+url)
			}
			p := start(t, env, "--port", "0", "--graph", path, "--secret", "fh-secret")
			ws, _ := p.ready(t)
			c, frames := connectAsFlowhub(t, ws)
			sec := func(m map[string]any) map[string]any { m["secret"] = "fh-secret"; return m }

			c.flowhubSend("runtime", "getruntime", sec(map[string]any{}))
			rt := c.waitFor("runtime", "runtime", nil)
			if rt["graph"] != "demo" || rt["namespace"] == nil || rt["namespace"] == "" {
				t.Fatalf("runtime:runtime %v", rt)
			}
			c.flowhubSend("component", "list", sec(map[string]any{}))
			c.waitFor("component", "componentsready", nil)
			c.flowhubSend("network", "getstatus", sec(map[string]any{"graph": "demo"}))
			if st := c.waitFor("network", "status", nil); st["running"] != true || st["started"] != true {
				t.Fatalf("status of the live graph: %v", st)
			}
			c.flowhubSend("component", "getsource", sec(map[string]any{"name": "demo"}))
			if src := c.waitFor("component", "source", nil); src["language"] != "json" {
				t.Fatalf("source %v", src)
			}

			c.flowhubSend("graph", "addnode", sec(map[string]any{"id": out, "component": "core/Output", "metadata": map[string]any{"label": "Output", "x": 300, "y": 100}, "graph": "demo"}))
			c.waitFor("graph", "addnode", nil)
			edge := map[string]any{"src": map[string]any{"node": b, "port": "out"}, "tgt": map[string]any{"node": out, "port": "in"}}
			c.flowhubSend("graph", "addedge", sec(map[string]any{"src": edge["src"], "tgt": edge["tgt"], "metadata": map[string]any{}, "graph": "demo"}))
			c.waitFor("graph", "addedge", nil)
			c.flowhubSend("network", "edges", sec(map[string]any{"graph": "demo", "edges": []any{edge}}))
			c.waitFor("network", "edges", nil)
			c.flowhubSend("graph", "addinitial", sec(map[string]any{"src": map[string]any{"data": "hello flowhub"}, "tgt": map[string]any{"node": a, "port": "in"}, "metadata": map[string]any{}, "graph": "demo"}))
			c.waitFor("graph", "addinitial", nil)
			onEdge := func(p map[string]any) bool {
				src, _ := p["src"].(map[string]any)
				tgt, _ := p["tgt"].(map[string]any)
				return p["graph"] == "demo" && src != nil && src["node"] == b && tgt["node"] == out
			}
			if d := c.waitFor("network", "data", onEdge); d["data"] != "hello flowhub" {
				t.Fatalf("packet view got %v", d)
			}
			// When the inspector's input loses focus, Flowhub sets the
			// packet again: removeinitial and addinitial of the same data.
			// It is not sent twice (the next data on the edge is the
			// runtime:packet sent after the start below).
			c.flowhubSend("graph", "removeinitial", sec(map[string]any{"src": map[string]any{"data": "hello flowhub"}, "tgt": map[string]any{"node": a, "port": "in"}, "graph": "demo"}))
			c.waitFor("graph", "removeinitial", nil)
			c.flowhubSend("graph", "addinitial", sec(map[string]any{"src": map[string]any{"data": "hello flowhub"}, "tgt": map[string]any{"node": a, "port": "in"}, "metadata": map[string]any{}, "graph": "demo"}))
			c.waitFor("graph", "addinitial", nil)

			c.flowhubSend("network", "start", sec(map[string]any{"graph": "demo"}))
			if st := c.waitFor("network", "started", nil); st["running"] != true {
				t.Fatalf("started %v", st)
			}
			// The initial packet was sent once: the next data on the edge
			// is a packet sent after the start.
			c.flowhubSend("runtime", "packet", sec(map[string]any{"graph": "demo", "port": "in", "event": "data", "payload": "after start"}))
			if d := c.waitFor("network", "data", onEdge); d["data"] != "after start" {
				t.Fatalf("packet view got %v again", d["data"])
			}
			c.flowhubSend("network", "stop", sec(map[string]any{"graph": "demo"}))
			if st := c.waitFor("network", "stopped", nil); st["running"] != false || st["started"] != false {
				t.Fatalf("stopped %v", st)
			}
			for i := range 20 {
				c.flowhubSend("graph", "changenode", sec(map[string]any{"id": out, "metadata": map[string]any{"x": 300 + i, "y": 100 + i}, "graph": "demo"}))
				c.waitFor("graph", "changenode", nil)
			}
			// Problems are reported after a status reply: a last round
			// trip makes sure they would have been seen.
			c.flowhubSend("network", "getstatus", sec(map[string]any{"graph": "demo"}))
			c.waitFor("network", "status", nil)
			c.flowhubSend("component", "list", sec(map[string]any{}))
			c.waitFor("component", "componentsready", nil)
			for _, f := range frames() {
				if f["command"] == "error" || f["command"] == "processerror" {
					t.Fatalf("the runtime sent %v", f)
				}
			}
		})
	}
}

// connectAsFlowhub opens a connection as fbp-protocol-client does: it
// sends nothing by itself, and what the test sends carries the secret in
// the payload only (see flowhubSend). The function returned lists every
// message received so far.
// openMainGraphAsFlowhub connects to the runtime at ws and opens its main
// graph as Flowhub does (getruntime, then the graph's getstatus), failing
// unless the main graph is graph.
func openMainGraphAsFlowhub(t *testing.T, ws, graph string) *fbpClient {
	t.Helper()
	c, _ := connectAsFlowhub(t, ws)
	c.flowhubSend("runtime", "getruntime", map[string]any{"secret": testSecret})
	if rt := c.waitFor("runtime", "runtime", nil); rt["graph"] != graph {
		t.Fatalf("runtime:runtime %v, want main graph %s", rt, graph)
	}
	c.flowhubSend("network", "getstatus", map[string]any{"graph": graph, "secret": testSecret})
	c.waitFor("network", "status", nil)
	return c
}

func connectAsFlowhub(t *testing.T, ws string) (*fbpClient, func() []map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := fbpclient.Dial(ctx, ws, fbpclient.Options{})
	if err != nil {
		t.Fatalf("connect %s: %v", ws, err)
	}
	var mu sync.Mutex
	var all []map[string]any
	c := newFBPClient(t, cl, func(m map[string]any) {
		mu.Lock()
		all = append(all, m)
		mu.Unlock()
	})
	return c, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(all)
	}
}

// flowhubSend sends a message as Flowhub does: protocol, command and
// payload only (the secret, if any, is in the payload).
func (c *fbpClient) flowhubSend(protocol, command string, payload map[string]any) {
	c.t.Helper()
	c.writeJSON(map[string]any{"protocol": protocol, "command": command, "payload": payload})
}

// A runtime started without --graph in front of running participants
// shows them as its main graph (default/main), with the edge their shared
// queue makes, to a client that opens it as Flowhub does; with --graph FILE
// --auto-save and no such file yet, the discovered system is saved there.
func TestLiveMainGraphOfDiscoveredParticipants(t *testing.T) {
	for _, bk := range flowhubBrokers {
		t.Run(bk.name, func(t *testing.T) {
			url := bk.url(t)
			s := uuid.New()[:8]
			src, dst, shared := "lsrc"+s, "ldst"+s, "lshared"+s
			if url != "" && url[:4] == "amqp" {
				t.Cleanup(func() { deleteQueues(url, src, dst); deleteQueues(url, "lshared"+s) })
			}
			var env []string
			if url != "" {
				env = append(env, "MSGFLO_BROKER="+url)
			}
			saved := filepath.Join(t.TempDir(), "system.json")
			p := start(t, env, "--port", "0", "--graph", saved, "--auto-save")
			ws, brokerURL := p.ready(t)
			c := openMainGraphAsFlowhub(t, ws, "system")

			if url != "" {
				brokerURL = url // the ready line hides the password
			}
			b, err := dial.Open(context.Background(), brokerURL, dial.Options{Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for _, role := range []string{src, dst} {
				comp := participant.Component{Name: "ext/Live", Process: func(context.Context, participant.Input, participant.Output) error { return nil }}
				if role == src {
					comp.Outports = []participant.Port{{ID: "out", Queue: shared}}
				} else {
					comp.Inports = []participant.Port{{ID: "in", Queue: shared}}
				}
				// Announcing often: on a RabbitMQ vhost shared with other
				// coordinators, each announcement reaches only one of them.
				defer serveParticipant(t, b, comp, role, participant.Options{DiscoveryPeriod: 2 * time.Second})()
			}
			// In any order (and other participants on the broker may show up too).
			shown := map[string]bool{}
			for !shown[src] || !shown[dst] {
				p := c.waitFor("graph", "addnode", func(p map[string]any) bool { return p["graph"] == "system" })
				shown[p["id"].(string)] = true
			}
			e := c.waitFor("graph", "addedge", func(p map[string]any) bool { return p["graph"] == "system" })
			if e["src"].(map[string]any)["node"] != src || e["tgt"].(map[string]any)["node"] != dst {
				t.Fatalf("inferred edge %v", e)
			}
			c.flowhubSend("component", "getsource", map[string]any{"name": "system", "secret": testSecret})
			code := c.waitFor("component", "source", nil)["code"].(string)
			if !strings.Contains(code, src) || !strings.Contains(code, dst) {
				t.Fatalf("source of the live graph: %s", code)
			}
			// Auto-save has it (the save follows the change; wait for it).
			deadline := time.Now().Add(30 * time.Second)
			for {
				data, _ := os.ReadFile(saved)
				g := &graph.Graph{}
				if g.UnmarshalJSON(data) == nil && g.Node(src) != nil && g.Node(dst) != nil && len(g.Edges) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the graph file does not hold the live graph:\n%s", data)
				}
				time.Sleep(20 * time.Millisecond) // polling the file the runtime writes
			}
		})
	}
}

// A node that keeps a packet waiting is named in network:processerror to
// each client when it introduces itself and whenever it asks for the
// graph's status, while the problem lasts.
func TestNodeProblemsAreReportedToEachClient(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "waits.fbp", "'x' -> IN nowhere(ext/Nowhere)\n")
	p := start(t, nil, "--port", "0", "--graph", path)
	ws, _ := p.ready(t)
	for range 2 {
		c, _ := connectAsFlowhub(t, ws)
		c.flowhubSend("runtime", "getruntime", map[string]any{"secret": testSecret})
		c.waitFor("runtime", "runtime", nil)
		if pe := c.waitFor("network", "processerror", nil); pe["id"] != "nowhere" || pe["graph"] != "waits" {
			t.Fatalf("processerror after getruntime: %v", pe)
		}
		c.flowhubSend("network", "getstatus", map[string]any{"graph": "waits", "secret": testSecret})
		if st := c.waitFor("network", "status", nil); st["running"] != false || st["started"] != true {
			t.Fatalf("status while everything waits: %v", st)
		}
		if pe := c.waitFor("network", "processerror", nil); pe["id"] != "nowhere" {
			t.Fatalf("processerror after getstatus: %v", pe)
		}
	}
}

// A runtime started without --graph in front of a running msgflo system (a
// msgflo-nodejs Repeat between two Go participants whose queues are the
// Repeat's, as msgflo-setup would name them) shows it as its main graph,
// with both edges, to a client that opens it as Flowhub does.
func TestLiveMainGraphShowsARunningMsgfloSystem(t *testing.T) {
	dir := nodeDir(t)
	eachExternalBroker(t, func(t *testing.T, bk externalBroker) {
		s := uuid.New()[:8]
		nj, src, dst := "sysnj"+s, "syssrc"+s, "sysdst"+s
		if bk.name == "amqp" {
			t.Cleanup(func() { deleteQueues(bk.url, nj, src, dst) })
		}
		startNode(t, dir, []string{"MSGFLO_DISCOVERY_PERIOD=2"}, "msgflo-nodejs", "--name", nj, "--broker", bk.url,
			filepath.Join(dir, "node_modules", "msgflo-nodejs", "examples", "Repeat.coffee"))
		b, err := dial.Open(context.Background(), bk.url, dial.Options{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		for _, role := range []string{src, dst} {
			comp := participant.Component{Name: "ext/Go", Process: func(context.Context, participant.Input, participant.Output) error { return nil }}
			if role == src {
				comp.Outports = []participant.Port{{ID: "out", Queue: nj + ".IN"}}
			} else {
				comp.Inports = []participant.Port{{ID: "in", Queue: nj + ".OUT"}}
			}
			defer serveParticipant(t, b, comp, role, participant.Options{DiscoveryPeriod: 2 * time.Second})()
		}

		p := start(t, []string{"MSGFLO_BROKER=" + bk.url}, "--port", "0")
		ws, _ := p.ready(t)
		c := openMainGraphAsFlowhub(t, ws, "default/main")
		// Every participant announces itself again within a few
		// seconds; the graph then holds all three and both edges.
		want := map[string]bool{src + ".out>" + nj + ".in": true, nj + ".out>" + dst + ".in": true}
		for len(want) > 0 {
			e := c.waitFor("graph", "addedge", func(p map[string]any) bool { return p["graph"] == "default/main" })
			key := fmt.Sprint(e["src"].(map[string]any)["node"], ".", e["src"].(map[string]any)["port"], ">", e["tgt"].(map[string]any)["node"], ".", e["tgt"].(map[string]any)["port"])
			delete(want, strings.ToLower(key))
		}
		c.flowhubSend("component", "getsource", map[string]any{"name": "default/main", "secret": testSecret})
		source := c.waitFor("component", "source", nil)
		if source["name"] != "main" || source["library"] != "default" || !strings.Contains(source["code"].(string), nj) {
			t.Fatalf("source of default/main: %v", source)
		}
	})
}
