package main

import (
	"context"
	"fmt"
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

// Failover pacing: clusterMessages go in over about clusterPublishTime;
// the node goes down once clusterStopAt of them are confirmed and comes
// back at clusterStartAt.
const (
	clusterMessages    = 1000
	clusterPublishTime = 20 * time.Second
	clusterStopAt      = 200
	clusterStartAt     = 500
	// clusterDrainTimeout bounds the wait for the last messages to come
	// out of the chain once all are published.
	clusterDrainTimeout = 2 * time.Minute
)

// A graph on a RabbitMQ cluster (three URLs, --queue-type quorum) loses
// nothing when a node goes down: a chain of three in-process core/Repeat
// and a participant process, fed 1,000 confirmed messages while a node is
// stopped and started again. Every message comes out at the end (some
// twice: at-least-once), the runtime and the participant process carry on
// on another node, and FBP clients hear of the outage (network:error,
// then network:output when the connection is back).
func TestClusterNodeLoss(t *testing.T) {
	cluster := brokertest.SharedCluster(t)
	n := cluster.Nodes()
	list := func(nodes ...*brokertest.ClusterNode) string {
		var urls []string
		for _, n := range nodes {
			urls = append(urls, n.URL)
		}
		return strings.Join(urls, ",")
	}
	t.Run("runtime's node", func(t *testing.T) {
		// The queues' leaders are on the third node (declared from
		// there first); the runtime is on the first, which goes down.
		clusterNodeLoss(t, cluster, list(n[0], n[1], n[2]), n[2])
	})
	t.Run("quorum leaders' node", func(t *testing.T) {
		// The runtime and its participants declare the queues from the
		// second node, where their leaders then are; it goes down.
		clusterNodeLoss(t, cluster, list(n[1], n[2], n[0]), nil)
	})
}

// clusterNodeLoss runs the graph with the runtime given urls; leaders,
// when given, is the node from which the queues are declared first.
func clusterNodeLoss(t *testing.T, cluster *brokertest.Cluster, urls string, leaders *brokertest.ClusterNode) {
	ctx := context.Background()
	s := uuid.New()[:6]
	roles := []string{"ra" + s, "rb" + s, "rc" + s, "rp" + s}
	sink := "rsink" + s + ".IN"
	queues := []string{sink}
	for _, r := range roles {
		queues = append(queues, r+".IN")
	}
	dialList := func(urls string) *msgamqp.Broker {
		t.Helper()
		b, err := msgamqp.Dial(ctx, urls, msgamqp.Options{
			QueueType: msgamqp.QueueTypeQuorum,
			Logger:    zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		})
		noErr(t, err)
		t.Cleanup(func() { b.Close() })
		return b
	}
	if leaders != nil {
		b := dialList(leaders.URL)
		for _, q := range queues {
			noErr(t, b.DeclareInport(ctx, q, network.QueueOptions{}))
		}
		b.Close()
	}

	lib := writeFile(t, "library.json", mustJSON(map[string]any{
		"components": map[string]string{"procs/GoRepeat": binary + " participant core/Repeat --role #ROLE"},
	}))
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_QUEUE_TYPE="},
		"--port", "0", "--broker", urls, "--queue-type", "quorum", "--library", lib, "--componentdir", "")
	ws, brokerNode := p.ready(t)
	if strings.Contains(brokerNode, ",") || !strings.Contains(urls, strings.Replace(brokerNode, "xxxxx", "guest", 1)) {
		t.Fatalf("ready line names broker %q, want the node in use of %s", brokerNode, urls)
	}
	node := cluster.Node(strings.Replace(brokerNode, "xxxxx", "guest", 1))
	if node != cluster.Node(network.SplitURLs(urls)[0]) {
		t.Fatalf("runtime connected to %s, want the first of %s", brokerNode, urls)
	}

	c := connectFBP(t, ws)
	c.edit("clear", map[string]any{"id": "g", "main": true})
	for i, r := range roles {
		comp := "core/Repeat"
		if i == len(roles)-1 {
			comp = "procs/GoRepeat"
		}
		c.edit("addnode", map[string]any{"id": r, "component": comp, "graph": "g"})
		if i > 0 {
			c.edit("addedge", map[string]any{"src": map[string]any{"node": roles[i-1], "port": "out"}, "tgt": map[string]any{"node": r, "port": "in"}, "graph": "g"})
		}
	}
	c.send("network", "start", map[string]any{"graph": "g"})
	c.waitFor("network", "started", nil)
	// From here on only the outage's messages matter.
	events := make(chan clusterEvent, 100)
	go func() {
		for m := range c.in {
			if m["protocol"] != "network" || (m["command"] != "error" && m["command"] != "output") {
				continue
			}
			pl, _ := m["payload"].(map[string]any)
			msg, _ := pl["message"].(string)
			select {
			case events <- clusterEvent{m["command"].(string), msg}:
			default:
			}
		}
	}()

	// The test's own clients, on the whole cluster too.
	pub := dialList(urls)
	out := dialList(urls)
	last := roles[len(roles)-1] + ".OUT"
	noErr(t, out.DeclareOutport(ctx, last, network.QueueOptions{}))
	noErr(t, out.DeclareInport(ctx, sink, network.QueueOptions{}))
	noErr(t, out.Bind(ctx, last, sink))
	got := make(chan string, 10*clusterMessages)
	sub, err := out.Consume(ctx, sink, 0, func(d network.Delivery) {
		got <- string(d.Data())
		_ = d.Ack()
	})
	noErr(t, err)
	defer sub.Close()
	first := roles[0] + ".IN"
	// The participants start in the background: probe until one message
	// has gone through the whole chain.
	deadline := time.Now().Add(brokertest.Timeout * 2)
probing:
	for {
		noErr(t, pub.Send(ctx, first, []byte(`"probe"`)))
		select {
		case <-got:
			break probing
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing came through the chain; runtime log:\n%s", p.stderrText())
		}
	}
	if leaders != nil {
		if l := cluster.QueueLeader(t, first); l != leaders {
			t.Fatalf("leader of %s is on %s, want %s", first, l.Name, leaders.Name)
		}
	} else if l := cluster.QueueLeader(t, first); l != node {
		t.Fatalf("leader of %s is on %s, want %s (where the runtime declared it)", first, l.Name, node.Name)
	}

	reachedStop, reachedStart := make(chan struct{}), make(chan struct{})
	published := make(chan error, 1)
	go func() {
		tick := time.NewTicker(clusterPublishTime / clusterMessages) // pacing, not synchronisation
		defer tick.Stop()
		for i := range clusterMessages {
			<-tick.C
			if err := pub.Send(ctx, first, fmt.Appendf(nil, `"m%d"`, i)); err != nil {
				published <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			switch i + 1 {
			case clusterStopAt:
				close(reachedStop)
			case clusterStartAt:
				close(reachedStart)
			}
		}
		published <- nil
	}()
	waitClosed(t, reachedStop, "the first messages confirmed")
	cluster.StopApp(t, node)
	waitEvent(t, events, "error")
	waitEvent(t, events, "output") // connected again, to another node
	waitClosed(t, reachedStart, "messages confirmed while the node is down")
	cluster.StartApp(t, node)
	select {
	case err := <-published:
		noErr(t, err)
	case <-time.After(clusterDrainTimeout):
		t.Fatal("publishing did not finish")
	}

	seen := map[string]bool{}
	timeout := time.After(clusterDrainTimeout)
	for len(seen) < clusterMessages {
		select {
		case v := <-got:
			if v != `"probe"` {
				seen[v] = true
			}
		case <-timeout:
			t.Fatalf("%d of %d messages came out of the chain; runtime log:\n%s", len(seen), clusterMessages, p.stderrText())
		}
	}
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the runtime exited: %v", err)
	default:
	}
	if log := p.stderrText(); strings.Contains(log, "participant process exited") {
		t.Fatalf("the participant process exited:\n%s", log)
	}
	// Both are still connected: a last message goes through the chain.
	noErr(t, pub.Send(ctx, first, []byte(`"last"`)))
	timeout = time.After(brokertest.Timeout)
	for {
		select {
		case v := <-got:
			if v == `"last"` {
				sub.Close()
				noErr(t, out.Delete(ctx, queues...))
				return
			}
		case <-timeout:
			t.Fatal("a message sent after the outage did not come through")
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
	cmd := exec.CommandContext(pctx, binary, "participant", "core/Repeat", "--role", role, "--broker", url, "--queue-type", "quorum")
	cmd.Env = append(os.Environ(), "MSGFLO_QUEUE_TYPE=", "MSGFLO_BROKER=")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), queue) || !strings.Contains(string(out), "--queue-type") {
		t.Fatalf("participant process: %v, output %s; want exit code 1 and an error naming %s and --queue-type", err, out, queue)
	}
}
