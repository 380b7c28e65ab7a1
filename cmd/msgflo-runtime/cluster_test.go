package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// Failover pacing: clusterMessages go in over about clusterPublishTime
// (50 a second); a node is stopped once clusterStopAt of them are
// confirmed, for clusterOutage.
const (
	clusterMessages    = 1000
	clusterPublishTime = 20 * time.Second
	clusterStopAt      = 200
	clusterOutage      = 7 * time.Second
	// clusterDrainTimeout bounds the wait for the last messages to come
	// out of the chain once all are published.
	clusterDrainTimeout = 2 * time.Minute
)

// clusterCase says which node of the cluster does what (indexes in
// Cluster.Nodes).
type clusterCase struct {
	runtime int // the node the runtime (and its participant process) connects to first
	leaders int // the node the queues are declared from first, holding their leaders; -1: the runtime declares them
	stop    int // the node stopped for clusterOutage
	publish int // the node the test publishes through and consumes from
}

// A graph on a RabbitMQ cluster (three URLs, --queue-type quorum) loses
// nothing when a node goes down: a chain of three in-process core/Repeat
// and a participant process, fed 1,000 confirmed messages at 50 a second
// through another node than the runtime's while a node is stopped for
// 7 s. Every message comes out at the end (some twice: at-least-once),
// none is dead-lettered, the runtime and the participant process carry on
// (on another node when theirs stopped, and FBP clients then hear of the
// outage: network:error, then network:output when the connection is
// back).
//
// While the node is down every publisher confirm the runtime and the
// process get is a refusal (the fault proxies they connect through turn
// them into basic.nack), as RabbitMQ refuses publishes to a quorum queue
// electing its leader: on a quiet machine the election is often over
// before anything is refused, and the refusals that lost 633 of 1,000
// messages on a busy one would go unseen.
func TestClusterNodeLoss(t *testing.T) {
	cluster := brokertest.SharedCluster(t)
	t.Run("runtime's node", func(t *testing.T) {
		clusterNodeLoss(t, cluster, clusterCase{runtime: 0, leaders: 2, stop: 0, publish: 1})
	})
	t.Run("quorum leaders' and runtime's node", func(t *testing.T) {
		clusterNodeLoss(t, cluster, clusterCase{runtime: 1, leaders: -1, stop: 1, publish: 2})
	})
	t.Run("quorum leaders' node", func(t *testing.T) {
		clusterNodeLoss(t, cluster, clusterCase{runtime: 0, leaders: 2, stop: 2, publish: 1})
	})
}

// clusterRun is one run of TestClusterNodeLoss.
type clusterRun struct {
	t       *testing.T
	cluster *brokertest.Cluster
	c       clusterCase
	roles   []string
	sink    string // the test's queue bound to the last outport
	dead    string // the test's queue bound to the inports' dead-letter exchanges
	queues  []string
	proxies []*brokertest.Proxy // one per node, the runtime's way to it
	p       *proc
	fbp     *fbpClient
	events  chan clusterEvent // the outage's network:error and network:output
	pub     *msgamqp.Broker
	got     chan string
}

func clusterNodeLoss(t *testing.T, cluster *brokertest.Cluster, c clusterCase) {
	r := &clusterRun{t: t, cluster: cluster, c: c, got: make(chan string, 10*clusterMessages)}
	s := uuid.New()[:6]
	r.roles = []string{"ra" + s, "rb" + s, "rc" + s, "rp" + s}
	r.sink, r.dead = "rsink"+s+".IN", "rdead"+s+".IN"
	r.queues = []string{r.sink, r.dead}
	for _, role := range r.roles {
		r.queues = append(r.queues, role+".IN", role+".OUT", "dead-"+role+".IN")
	}
	if c.leaders >= 0 {
		b := r.dialList(c.leaders)
		for _, role := range r.roles {
			noErr(t, b.DeclareInport(context.Background(), role+".IN", network.QueueOptions{}))
		}
		b.Close()
	}
	r.startRuntime()
	r.buildGraph()
	r.pub = r.dialList(c.publish)
	r.consumeSinks()
	r.probe()
	r.checkLeaders()
	r.publishThroughOutage()
	r.drain()
	r.checkStillRunning()
}

// dialList connects to the cluster's nodes directly, first to node first.
func (r *clusterRun) dialList(first int) *msgamqp.Broker {
	r.t.Helper()
	b, err := msgamqp.Dial(context.Background(), r.nodeList(first, nil), msgamqp.Options{
		QueueType: msgamqp.QueueTypeQuorum,
		Logger:    zerolog.New(zerolog.NewTestWriter(r.t)).Level(zerolog.WarnLevel),
	})
	noErr(r.t, err)
	r.t.Cleanup(func() { b.Close() })
	return b
}

// nodeList is the comma-separated URLs of the nodes starting with first,
// in the cluster's order, through the proxies when given.
func (r *clusterRun) nodeList(first int, proxies []*brokertest.Proxy) string {
	nodes := r.cluster.Nodes()
	var urls []string
	for i := range nodes {
		n := (first + i) % len(nodes)
		urls = append(urls, r.nodeURL(n, proxies))
	}
	return strings.Join(urls, ",")
}

func (r *clusterRun) nodeURL(n int, proxies []*brokertest.Proxy) string {
	u := r.cluster.Nodes()[n].URL
	if proxies == nil {
		return u
	}
	v, err := url.Parse(u)
	noErr(r.t, err)
	v.Host = proxies[n].Addr()
	return v.String()
}

// startRuntime starts the runtime on the nodes, through a fault proxy to
// each, and checks it names the node it connected to.
func (r *clusterRun) startRuntime() {
	t := r.t
	for _, n := range r.cluster.Nodes() {
		u, err := url.Parse(n.URL)
		noErr(t, err)
		r.proxies = append(r.proxies, brokertest.NewProxy(t, u.Host))
	}
	urls := r.nodeList(r.c.runtime, r.proxies)
	lib := writeFile(t, "library.json", mustJSON(map[string]any{
		"components": map[string]string{"procs/GoRepeat": runtimeBinary(t) + " participant core/Repeat --role #ROLE"},
	}))
	r.p = start(t, []string{"MSGFLO_BROKER=", "MSGFLO_QUEUE_TYPE="},
		"--port", "0", "--broker", urls, "--queue-type", "quorum", "--library", lib, "--componentdir", "")
	ws, brokerNode := r.p.ready(t)
	named := strings.Replace(brokerNode, "xxxxx", "guest", 1)
	if strings.Contains(brokerNode, ",") || !strings.Contains(urls, named) {
		t.Fatalf("ready line names broker %q, want the node in use of %s", brokerNode, urls)
	}
	if named != r.nodeURL(r.c.runtime, r.proxies) {
		t.Fatalf("runtime connected to %s, want the first of %s", brokerNode, urls)
	}
	r.fbp = connectFBP(t, ws)
}

// buildGraph makes the chain over the FBP protocol and starts it; from
// then on the client's network:error and network:output messages go to
// r.events.
func (r *clusterRun) buildGraph() {
	c := r.fbp
	c.edit("clear", map[string]any{"id": "g", "main": true})
	for i, role := range r.roles {
		comp := "core/Repeat"
		if i == len(r.roles)-1 {
			comp = "procs/GoRepeat"
		}
		c.edit("addnode", map[string]any{"id": role, "component": comp, "graph": "g"})
		if i > 0 {
			c.edit("addedge", map[string]any{"src": map[string]any{"node": r.roles[i-1], "port": "out"}, "tgt": map[string]any{"node": role, "port": "in"}, "graph": "g"})
		}
	}
	c.send("network", "start", map[string]any{"graph": "g"})
	c.waitFor("network", "started", nil)
	r.events = make(chan clusterEvent, 100)
	go func() {
		for m := range c.in {
			if m["protocol"] != "network" || (m["command"] != "error" && m["command"] != "output") {
				continue
			}
			pl, _ := m["payload"].(map[string]any)
			msg, _ := pl["message"].(string)
			select {
			case r.events <- clusterEvent{m["command"].(string), msg}:
			default:
			}
		}
	}()
}

// consumeSinks binds the test's sink queue to the last outport and its
// dead-letter queue to every inport's dead-letter exchange (as
// msgflo-setup arranges dead letters), and consumes the sink into r.got.
func (r *clusterRun) consumeSinks() {
	ctx := context.Background()
	out := r.dialList(r.c.publish)
	last := r.roles[len(r.roles)-1] + ".OUT"
	noErr(r.t, out.DeclareOutport(ctx, last, network.QueueOptions{}))
	noErr(r.t, out.DeclareInport(ctx, r.sink, network.QueueOptions{}))
	noErr(r.t, out.Bind(ctx, last, r.sink))
	noErr(r.t, out.DeclareInport(ctx, r.dead, network.QueueOptions{}))
	for _, role := range r.roles {
		noErr(r.t, out.DeclareOutport(ctx, "dead-"+role+".IN", network.QueueOptions{}))
		noErr(r.t, out.Bind(ctx, "dead-"+role+".IN", r.dead))
	}
	sub, err := out.Consume(ctx, r.sink, 0, func(d network.Delivery) {
		r.got <- string(d.Data())
		_ = d.Ack()
	})
	noErr(r.t, err)
	r.t.Cleanup(func() {
		sub.Close()
		_ = out.Delete(context.Background(), r.queues...)
	})
}

// probe waits until a message has gone through the whole chain (the
// participants start in the background).
func (r *clusterRun) probe() {
	first := r.roles[0] + ".IN"
	deadline := time.Now().Add(brokertest.Timeout * 2)
	for {
		noErr(r.t, r.pub.Send(context.Background(), first, []byte(`"probe"`)))
		select {
		case <-r.got:
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("nothing came through the chain; runtime log:\n%s", r.p.stderrText())
		}
	}
}

// checkLeaders checks the queues' leaders are where the case says.
func (r *clusterRun) checkLeaders() {
	want := r.c.leaders
	if want < 0 {
		want = r.c.runtime // where the runtime declared them
	}
	first := r.roles[0] + ".IN"
	if l, n := r.cluster.QueueLeader(r.t, first), r.cluster.Nodes()[want]; l != n {
		r.t.Fatalf("leader of %s is on %s, want %s", first, l.Name, n.Name)
	}
}

// publishThroughOutage publishes the messages, paced, and stops the
// case's node for clusterOutage once clusterStopAt are confirmed; while it
// is down the runtime's confirms are refused.
func (r *clusterRun) publishThroughOutage() {
	reachedStop := make(chan struct{})
	published := make(chan error, 1)
	first := r.roles[0] + ".IN"
	go func() {
		tick := time.NewTicker(clusterPublishTime / clusterMessages) // pacing, not synchronisation
		defer tick.Stop()
		for i := range clusterMessages {
			<-tick.C
			if err := r.pub.Send(context.Background(), first, fmt.Appendf(nil, `"m%d"`, i)); err != nil {
				published <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			if i+1 == clusterStopAt {
				close(reachedStop)
			}
		}
		published <- nil
	}()
	waitClosed(r.t, reachedStop, "the first messages confirmed")
	node := r.cluster.Nodes()[r.c.stop]
	r.refuseConfirms(-1)
	r.cluster.StopApp(r.t, node)
	outage := time.After(clusterOutage) // the fault's length, not synchronisation
	if r.c.stop == r.c.runtime {
		waitEvent(r.t, r.events, "error")
		waitEvent(r.t, r.events, "output") // connected again, to another node
	}
	<-outage
	r.cluster.StartApp(r.t, node)
	r.refuseConfirms(0)
	select {
	case err := <-published:
		noErr(r.t, err)
	case <-time.After(clusterDrainTimeout):
		r.t.Fatal("publishing did not finish")
	}
	refused := 0
	for _, p := range r.proxies {
		refused += p.RefusedConfirms()
	}
	if refused == 0 {
		r.t.Fatal("no confirm was refused during the outage: the test did not test refusals")
	}
	r.t.Logf("%d confirms refused during the outage", refused)
}

func (r *clusterRun) refuseConfirms(n int) {
	for _, p := range r.proxies {
		p.RefuseConfirms(n)
	}
}

// drain waits for every message to come out of the chain and checks none
// was dead-lettered.
func (r *clusterRun) drain() {
	seen := map[string]bool{}
	timeout := time.After(clusterDrainTimeout)
	for len(seen) < clusterMessages {
		select {
		case v := <-r.got:
			if v != `"probe"` {
				seen[v] = true
			}
		case <-timeout:
			r.t.Fatalf("%d of %d messages came out of the chain; runtime log:\n%s", len(seen), clusterMessages, r.p.stderrText())
		}
	}
	stats, err := r.pub.QueueStats(context.Background(), []string{r.dead})
	noErr(r.t, err)
	if n := stats[r.dead].Ready; n > 0 {
		r.t.Fatalf("%d messages dead-lettered; runtime log:\n%s", n, r.p.stderrText())
	}
}

// checkStillRunning checks the runtime and the participant process carry
// on: a last message goes through the chain.
func (r *clusterRun) checkStillRunning() {
	select {
	case err := <-r.p.done:
		r.p.done <- err
		r.t.Fatalf("the runtime exited: %v", err)
	default:
	}
	if log := r.p.stderrText(); strings.Contains(log, "participant process exited") {
		r.t.Fatalf("the participant process exited:\n%s", log)
	}
	noErr(r.t, r.pub.Send(context.Background(), r.roles[0]+".IN", []byte(`"last"`)))
	timeout := time.After(brokertest.Timeout)
	for {
		select {
		case v := <-r.got:
			if v == `"last"` {
				return
			}
		case <-timeout:
			r.t.Fatal("a message sent after the outage did not come through")
		}
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(clusterDrainTimeout):
		t.Fatalf("waiting for %s: timed out", what)
	}
}

// clusterEvent is a network:error or network:output message to clients.
type clusterEvent struct{ command, message string }

// waitEvent waits for the next network:command (the others are skipped).
func waitEvent(t *testing.T, events <-chan clusterEvent, command string) {
	t.Helper()
	timeout := time.After(brokertest.Timeout)
	for {
		select {
		case e := <-events:
			t.Logf("network:%s %s", e.command, e.message)
			if e.command == command {
				return
			}
		case <-timeout:
			t.Fatalf("no network:%s", command)
		}
	}
}

// A queue that exists with the other type is refused with an error naming
// the queue and --queue-type: the runtime reports it to its clients and
// carries on; a participant process exits with it.
func TestQueueTypeMismatch(t *testing.T) {
	cluster := brokertest.SharedCluster(t)
	url := cluster.Nodes()[0].URL
	ctx := context.Background()
	role := "rmis" + uuid.New()[:6]
	queue := role + ".IN"
	classic, err := msgamqp.Dial(ctx, url, msgamqp.Options{Logger: zerolog.Nop()})
	noErr(t, err)
	defer classic.Close()
	noErr(t, classic.DeclareInport(ctx, queue, network.QueueOptions{}))
	defer func() { _ = classic.Delete(ctx, queue, role+".OUT") }()

	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_QUEUE_TYPE="}, "--port", "0", "--broker", url, "--queue-type", "quorum")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	c.edit("clear", map[string]any{"id": "g", "main": true})
	c.edit("addnode", map[string]any{"id": role, "component": "core/Repeat", "graph": "g"})
	c.send("network", "start", map[string]any{"graph": "g"})
	timeout := time.After(brokertest.Timeout)
	for reported := false; !reported; {
		select {
		case m, ok := <-c.in:
			if !ok {
				t.Fatal("connection closed")
			}
			pl, _ := m["payload"].(map[string]any)
			msg, _ := pl["message"].(string)
			reported = m["protocol"] == "network" && m["command"] == "error" && strings.Contains(msg, queue)
			if reported && !strings.Contains(msg, "--queue-type") {
				t.Fatalf("network:error %q does not name --queue-type", msg)
			}
		case <-timeout:
			t.Fatalf("no network:error naming %s; runtime log:\n%s", queue, p.stderrText())
		}
	}
	getruntime(t, ws) // still serving
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the runtime exited: %v", err)
	default:
	}

	pctx, cancel := context.WithTimeout(ctx, brokertest.Timeout)
	defer cancel()
	cmd := exec.CommandContext(pctx, runtimeBinary(t), "participant", "core/Repeat", "--role", role, "--broker", url, "--queue-type", "quorum")
	cmd.Env = append(os.Environ(), "MSGFLO_QUEUE_TYPE=", "MSGFLO_BROKER=")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), queue) || !strings.Contains(string(out), "--queue-type") {
		t.Fatalf("participant process: %v, output %s; want exit code 1 and an error naming %s and --queue-type", err, out, queue)
	}
}
