package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// The runtime is killed (SIGKILL) in the middle of a burst of graph edits
// and of a stream of messages through a chain on RabbitMQ, then started
// again with the same graph file. The file holds every acknowledged edit,
// and every message published arrives (at least once).
func TestRestartAfterSIGKILLLosesNothing(t *testing.T) {
	t.Parallel()
	url := brokertest.RabbitMQURL(t)
	s := uuid.New()[:8]
	a, b, c, collect := "ra"+s, "rb"+s, "rc"+s, "rcollect"+s
	var extras []string
	t.Cleanup(func() { deleteQueues(url, append([]string{a, b, c, collect}, extras...)...) })
	path := writeFile(t, "chain.fbp", fmt.Sprintf("INPORT=%s.IN:IN\n%s(core/Repeat) OUT -> IN %s(core/Repeat) OUT -> IN %s(core/Repeat)\n", a, a, b, c))
	ctx := context.Background()

	// The test's own connection: it feeds the chain and collects its output.
	bk, err := amqp.Dial(ctx, url, amqp.Options{Logger: zerolog.Nop(), DiscoveryQueue: "fbp-restart-" + s})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	for _, q := range []string{a + ".IN", collect + ".IN"} {
		if err := bk.DeclareInport(ctx, q, network.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bk.DeclareOutport(ctx, c+".OUT", network.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := bk.Bind(ctx, c+".OUT", collect+".IN"); err != nil {
		t.Fatal(err)
	}
	const total = 3000
	var mu sync.Mutex
	seen := map[int]bool{}
	all := make(chan struct{})
	sub, err := bk.Consume(ctx, collect+".IN", 100, func(d network.Delivery) {
		var m struct{ Seq int }
		if json.Unmarshal(d.Data(), &m) == nil {
			mu.Lock()
			seen[m.Seq] = true
			if len(seen) == total {
				close(all)
			}
			mu.Unlock()
		}
		_ = d.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	run := func() (*proc, *fbpClient) {
		p := start(t, []string{"MSGFLO_BROKER=" + url}, "--port", "0", "--graph", path, "--auto-save")
		ws, _ := p.ready(t)
		return p, connectFBP(t, ws)
	}
	p1, c1 := run()

	// The stream: published persistent and confirmed, throughout.
	produced := make(chan error, 1)
	half := make(chan struct{})
	go func() {
		for i := range total {
			if i == total/3 {
				close(half)
			}
			if err := bk.Send(ctx, a+".IN", fmt.Appendf(nil, `{"seq":%d}`, i)); err != nil {
				produced <- err
				return
			}
		}
		produced <- nil
	}()
	select {
	case <-half:
	case err := <-produced:
		t.Fatalf("producer stopped early: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the producer never got half way")
	}

	// The burst of edits; the runtime dies in the middle of it.
	acked := 0
	for i := 0; ; i++ {
		id := fmt.Sprintf("rx%s%d", s, i)
		extras = append(extras, id)
		c1.send("graph", "addnode", map[string]any{"id": id, "component": "core/Drop", "graph": "chain"})
		if i == 25 {
			_ = p1.cmd.Process.Signal(syscall.SIGKILL)
			break
		}
		c1.waitFor("graph", "addnode", func(p map[string]any) bool { return p["id"] == id })
		acked = i + 1
	}
	select {
	case <-p1.done:
		p1.done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("the runtime did not die of SIGKILL")
	}

	// The file is a valid graph holding every acknowledged edit.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := &graph.Graph{}
	if err := g.UnmarshalJSON(data); err != nil {
		t.Fatalf("graph file after SIGKILL: %v\n%s", err, data)
	}
	for i := range acked {
		if g.Node(fmt.Sprintf("rx%s%d", s, i)) == nil {
			t.Fatalf("acknowledged node %d of %d is not in the file", i, acked)
		}
	}
	if g.Node(a) == nil || len(g.Edges) != 2 || len(g.Inports) != 1 {
		t.Fatalf("the file lost the chain:\n%s", data)
	}

	// Started again, it picks up where it was.
	p2, c2 := run()
	c2.send("component", "getsource", map[string]any{"name": "chain"})
	src := c2.waitFor("component", "source", nil)
	g2 := &graph.Graph{}
	if err := g2.UnmarshalJSON([]byte(src["code"].(string))); err != nil || len(g2.Nodes) < 3+acked {
		t.Fatalf("restarted runtime has %d nodes, want at least %d (%v)", len(g2.Nodes), 3+acked, err)
	}
	select {
	case err := <-produced:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the producer never finished")
	}
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		t.Fatalf("%d of %d messages arrived", n, total)
	}
	p2.signalAndWait(t, syscall.SIGTERM)
}
