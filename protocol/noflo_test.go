package protocol

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// nofloDir finds noflo-runtime-msgflo as scripts/npm-noflo.sh installs it.
// Without it the test is skipped, or fails when brokers are required (CI).
func nofloDir(t *testing.T) string {
	t.Helper()
	testenv.Needs(t, "noflo-runtime-msgflo from npm")
	dir := os.Getenv("MSGFLO_NOFLO_DIR")
	if dir == "" {
		cache := os.Getenv("MSGFLO_CACHE_DIR")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatal(err)
			}
			cache = filepath.Join(home, ".cache", "msgflo-runtime")
		}
		dir = filepath.Join(cache, "noflo-participant-1")
	}
	_, errBin := os.Stat(filepath.Join(dir, "node_modules", ".bin", "noflo-runtime-msgflo"))
	_, errNode := exec.LookPath("node")
	if err := firstError(errBin, errNode); err != nil {
		msg := fmt.Sprintf("noflo-runtime-msgflo is not installed in %s (run scripts/npm-noflo.sh): %v", dir, err)
		brokertest.SkipOrFail(t, msg)
	}
	return dir
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// nofloBasedir makes a project folder for the participant: the test
// graph and component of testdata, the installed node_modules.
func nofloBasedir(t *testing.T, dir string) string {
	t.Helper()
	base := t.TempDir()
	src := filepath.Join("..", "proxy", "testdata", "noflo")
	for _, f := range []string{"package.json", "graphs/Relay.json", "components/KeepAlive.js"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(base, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "node_modules"), filepath.Join(base, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return base
}

// nofloParticipant is a running noflo-runtime-msgflo process.
type nofloParticipant struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  strings.Builder
}

func (p *nofloParticipant) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *nofloParticipant) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startNoflo(t *testing.T, dir, base, role, url string) *nofloParticipant {
	t.Helper()
	p := &nofloParticipant{done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(dir, "node_modules", ".bin", "noflo-runtime-msgflo"),
		"--name", role, "--graph", "tracetest/Relay", "--basedir", base, "--broker", url)
	p.cmd.Dir = base
	p.cmd.Env = append(os.Environ(), "NEW_RELIC_NO_CONFIG_FILE=true", "NEW_RELIC_ENABLED=false", "MSGFLO_DISCOVERY_PERIOD=2")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t, syscall.SIGKILL) })
	return p
}

func (p *nofloParticipant) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		_ = p.cmd.Process.Kill()
		t.Errorf("noflo-runtime-msgflo did not stop on %v; output:\n%s", sig, p.output())
	}
}

// newHarnessOn is newHarness on a real broker, with the proxy's timeout.
func newHarnessOn(t *testing.T, url string, proxyTimeout time.Duration) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := dial.Open(ctx, url, dial.Options{ClientID: "trace-test-" + uuid.New()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	logger := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	hub, err := NewHub(HubOptions{Logger: logger, CheckOutput: func(protocol, command string, msg []byte, err error) {
		if err != nil {
			t.Errorf("runtime sent an invalid %s:%s: %v\n%s", protocol, command, err, msg)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.New(runtime.Options{
		ID: uuid.New(), Label: "trace test", Broker: b, Sink: hub,
		Components: participant.CoreComponents(), RetryDelay: 20 * time.Millisecond,
		ProxyTimeout: proxyTimeout, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(rt, hub, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = rt.Run(ctx) }()
	<-rt.Ready()
	go func() { defer wg.Done(); _ = srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = b.Close()
	})
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, addr: ln.Addr().String(), rt: rt, srv: srv, validator: v}
}

// participantOf returns the header entry of a node in a dump.
func participantOf(ft flowtraceDoc, node string) (id string, tracing bool, errText string, found bool) {
	for _, p := range ft.Header.Participants {
		if p.Node == node {
			return p.Participant, p.Tracing, p.Error, true
		}
	}
	return "", false, "", false
}

// waitTracing dumps until the node's participant (other than not) has
// acknowledged trace:start, and returns its id.
func waitTracing(t *testing.T, c *wsClient, graph, node, not string) string {
	t.Helper()
	deadline := time.Now().Add(6 * waitLimit) // noflo-runtime-msgflo takes seconds to start
	for {
		ft := c.dump(graph)
		if id, tracing, _, ok := participantOf(ft, node); ok && tracing && id != not {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("participant of %s does not trace; header %+v", node, ft.Header.Participants)
		}
	}
}

// sendThree sends three packets through the graph and waits for each to
// come out of the NoFlo graph.
func sendThree(t *testing.T, c *wsClient, from int) {
	t.Helper()
	for i := from; i < from+3; i++ {
		c.requestShared("runtime", "packet", obj(fmt.Sprintf(`{"port":"in","event":"data","payload":{"n":%d},"graph":"g"}`, i)), "packetsent")
	}
	for i := from; i < from+3; i++ {
		c.waitFor("runtime", "packet", func(m msg) bool { return m.payloadMap()["port"] == "out" })
	}
}

// checkPackets requires, for each packet from..from+2, the coordinator's
// event on go -> nf and the NoFlo participant's own relay1 -> relay2
// event recorded by participant id; and every event in time order.
func checkPackets(t *testing.T, ft flowtraceDoc, coordinator, nofloID string, from int) {
	t.Helper()
	times := make([]time.Time, len(ft.Events))
	for i, ev := range ft.Events {
		tm, err := time.Parse(time.RFC3339Nano, ev.Payload.Time)
		if err != nil {
			t.Fatalf("event %d has no time: %+v", i, ev)
		}
		times[i] = tm
	}
	if !sort.SliceIsSorted(times, func(i, j int) bool { return times[i].Before(times[j]) }) {
		t.Fatalf("events are not in time order: %v", times)
	}
	for n := from; n < from+3; n++ {
		data := fmt.Sprintf(`{"n":%d}`, n)
		var edge, inner bool
		for _, ev := range ft.Events {
			if ev.Command != "data" || ev.Payload.Src == nil || ev.Payload.Tgt == nil || compact(ev.Payload.Data) != data {
				continue
			}
			switch {
			case ev.Participant == coordinator && ev.Payload.Graph == "g" && ev.Payload.Src.Node == "go" && ev.Payload.Tgt.Node == "nf":
				edge = true
			case ev.Participant == nofloID && ev.Payload.Graph == "nf/Relay" && ev.Payload.Src.Node == "relay1" && ev.Payload.Tgt.Node == "relay2":
				inner = true
			}
		}
		if !edge || !inner {
			t.Fatalf("packet %s: coordinator's edge event %v, NoFlo's inner event (by %s) %v; events:\n%s", data, edge, nofloID, inner, eventsText(ft))
		}
	}
}

func compact(raw []byte) string { return strings.Join(strings.Fields(string(raw)), "") }

func eventsText(ft flowtraceDoc) string {
	var b strings.Builder
	for _, ev := range ft.Events {
		fmt.Fprintf(&b, "%s %s %s %s %+v %+v %s\n", ev.Payload.Time, ev.Participant, ev.Command, ev.Payload.Graph, ev.Payload.Src, ev.Payload.Tgt, ev.Payload.Data)
	}
	return b.String()
}

// The acceptance test of tracing a distributed graph: a Go participant
// (in-process core/Repeat) feeding a NoFlo graph run by the real
// noflo-runtime-msgflo, on RabbitMQ and on Mosquitto.
func TestTraceThroughNoFloParticipant(t *testing.T) {
	dir := nofloDir(t)
	for _, br := range []struct {
		name string
		url  func(testing.TB) string
	}{{"RabbitMQ", brokertest.RabbitMQURL}, {"Mosquitto", brokertest.MosquittoURL}} {
		t.Run(br.name, func(t *testing.T) {
			url := br.url(t)
			base := nofloBasedir(t, dir)
			const proxyTimeout = 2 * time.Second
			h := newHarnessOn(t, url, proxyTimeout)
			c := h.connect()
			coordinator := h.rt.Info().ID
			// Node ids are the participants' roles: unique on the shared broker.
			role := "nf" + uuid.New()[:8]
			nf := startNoflo(t, dir, base, role, url)

			c.requestShared("graph", "clear", map[string]any{"id": "g"}, "clear")
			c.requestShared("graph", "addnode", map[string]any{"id": "go", "component": "core/Repeat", "graph": "g"}, "addnode")
			c.requestShared("graph", "addnode", map[string]any{"id": role, "component": "tracetest/Relay", "graph": "g"}, "addnode")
			c.requestShared("graph", "addedge", obj(fmt.Sprintf(`{"src":{"node":"go","port":"out"},"tgt":{"node":%q,"port":"in"},"graph":"g"}`, role)), "addedge")
			c.requestShared("graph", "addinport", obj(`{"public":"in","node":"go","port":"in","graph":"g"}`), "addinport")
			c.waitFor("runtime", "ports", nil)
			c.requestShared("graph", "addoutport", obj(fmt.Sprintf(`{"public":"out","node":%q,"port":"out","graph":"g"}`, role)), "addoutport")
			c.waitFor("runtime", "ports", nil)
			c.requestShared("network", "edges", obj(`{"graph":"g","edges":[]}`), "edges")
			c.requestShared("network", "start", obj(`{"graph":"g"}`), "started")
			c.requestShared("trace", "start", obj(`{"graph":"g","buffersize":1000}`), "start")

			rename := func(ft flowtraceDoc) flowtraceDoc {
				// checkPackets knows the NoFlo node as "nf".
				for i := range ft.Events {
					ev := &ft.Events[i]
					if ev.Payload.Tgt != nil && ev.Payload.Tgt.Node == role {
						ev.Payload.Tgt.Node = "nf"
					}
					ev.Payload.Graph = strings.Replace(ev.Payload.Graph, role+"/", "nf/", 1)
				}
				return ft
			}
			first := waitTracing(t, c, "g", role, "")
			sendThree(t, c, 1)
			ft := rename(c.dumpUntilMatch("g", func(ft flowtraceDoc) bool { return countData(rename(ft), "nf/Relay") >= 3 && countData(ft, "g") >= 3 }))
			if _, ok := ft.Header.Graphs[role+"/Relay"]; !ok {
				t.Fatalf("header.graphs lacks the NoFlo graph as %s/Relay: %v", role, keys(ft.Header.Graphs))
			}
			checkPackets(t, ft, coordinator, first, 1)

			// The participant restarts with a new id: it is told to trace, once.
			nf.stop(t, syscall.SIGTERM)
			nf = startNoflo(t, dir, base, role, url)
			second := waitTracing(t, c, "g", role, first)
			// A client starting the trace again does not start it twice in
			// a participant (noflo-runtime-msgflo would attach its tracer again).
			c.requestShared("trace", "start", obj(`{"graph":"g","buffersize":1000}`), "start")
			sendThree(t, c, 4)
			ft = rename(c.dumpUntilMatch("g", func(ft flowtraceDoc) bool { return countDataBy(ft, second) >= 3 && countData(ft, "g") >= 6 }))
			checkPackets(t, ft, coordinator, second, 4)
			if n := countDataBy(ft, second); n != 3 {
				t.Fatalf("the restarted participant recorded %d data events for 3 packets (started twice?):\n%s", n, eventsText(ft))
			}

			// Killed mid-trace: the dump names it instead of hanging.
			nf.stop(t, syscall.SIGKILL)
			ft = c.dump("g")
			id, _, errText, ok := participantOf(ft, role)
			if !ok || id != second || errText == "" || !strings.Contains(errText, second) {
				t.Fatalf("dump after the participant was killed: header %+v, want an error naming %s", ft.Header.Participants, second)
			}
			if countData(ft, "g") < 6 {
				t.Fatalf("the coordinator's events are lost when a participant does not answer:\n%s", eventsText(ft))
			}
		})
	}
}

// requestShared is request on a broker shared with other tests: their
// participants' component messages may come in between.
func (c *wsClient) requestShared(protocol, command string, payload any, reply string) msg {
	c.t.Helper()
	c.send(protocol, command, payload)
	for {
		m := c.receive()
		if m.Protocol == protocol && m.Command == reply {
			return m
		}
		if asyncEvent(m) || m.Protocol == "component" && m.Command == "component" {
			c.stash = append(c.stash, m)
			continue
		}
		c.t.Fatalf("got %s:%s %s, want %s:%s", m.Protocol, m.Command, m.Text, protocol, reply)
	}
}

func (c *wsClient) dumpUntilMatch(graph string, ok func(flowtraceDoc) bool) flowtraceDoc {
	c.t.Helper()
	deadline := time.Now().Add(3 * waitLimit)
	for {
		ft := c.dump(graph)
		if ok(ft) {
			return ft
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("flowtrace incomplete after %s:\n%s", 3*waitLimit, eventsText(ft))
		}
	}
}

func countData(ft flowtraceDoc, graph string) int {
	n := 0
	for _, ev := range ft.Events {
		if ev.Command == "data" && ev.Payload.Graph == graph && len(ev.Payload.Data) > 0 {
			n++
		}
	}
	return n
}

func countDataBy(ft flowtraceDoc, participant string) int {
	n := 0
	for _, ev := range ft.Events {
		if ev.Command == "data" && ev.Participant == participant && len(ev.Payload.Data) > 0 {
			n++
		}
	}
	return n
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
