package runtime

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// BenchmarkChainWired is the coordinator's whole work for a graph a client
// uploads, without the protocol: a 200-node chain of core/Repeat built
// with 399 edits through the runtime's API on the embedded broker, then
// the wait until it is wired (every in-process participant consuming,
// every edge bound). The runtime logs at its default level (info) through
// a console writer, as the binary does. Each op clears the graph after
// (not timed).
func BenchmarkChainWired(b *testing.B) {
	const nodes = 200
	rt, passes := benchRuntime(b)
	wired := func() bool { return chainWired(rt, nodes) }
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	round := 0
	b.ReportAllocs()
	var edits time.Duration
	for b.Loop() {
		g := fmt.Sprintf("chain%d", round)
		node := func(i int) string { return fmt.Sprintf("c%dn%03d", round, i) }
		must(rt.Clear(wire.Clear{ID: g}))
		begin := time.Now()
		for i := range nodes {
			must(rt.AddNode(wire.AddNode{ID: node(i), Component: "core/Repeat", Graph: g}))
			if i > 0 {
				must(rt.AddEdge(wire.AddEdge{Src: ref(node(i-1), "out"), Tgt: ref(node(i), "in"), Graph: g}))
			}
		}
		edits += time.Since(begin)
		deadline := time.After(time.Minute)
		for !wired() {
			select {
			case <-passes:
			case <-deadline:
				b.Fatal("the chain was not wired within a minute")
			}
		}
		b.StopTimer()
		must(rt.Clear(wire.Clear{ID: g}))
		for rt.local.has(node(0)) {
			select {
			case <-passes:
			case <-deadline:
				b.Fatal("the chain was not unwired within a minute")
			}
		}
		round++
		b.StartTimer()
	}
	b.ReportMetric(float64(edits.Microseconds())/float64(round*(2*nodes-1)), "µs-edit-calls/edit")
}

// benchRuntime runs a runtime on the embedded broker for a benchmark, with
// the binary's default log level written through a console writer; passes
// gets a value after each reconcile pass (when not full).
func benchRuntime(b *testing.B) (*Runtime, chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	emb, err := embedded.Start(ctx, embedded.Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: io.Discard, NoColor: true, TimeFormat: time.RFC3339}).Level(zerolog.InfoLevel).With().Timestamp().Logger()
	rt, err := New(Options{ID: "bench", Broker: emb.Broker(), Components: participant.CoreComponents(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	passes := make(chan struct{}, 1)
	rt.wiring.reconciled = func() {
		select {
		case passes <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = rt.Run(ctx) }()
	waitReady(b, rt)
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = emb.Close()
	})
	return rt, passes
}

// chainWired says a chain of n in-process participants is wired: each
// consumes, and its n-1 edges are bound.
func chainWired(rt *Runtime, n int) bool {
	rt.wiring.mu.Lock()
	bound := len(rt.wiring.bound)
	rt.wiring.mu.Unlock()
	running := 0
	rt.local.mu.Lock()
	for _, lp := range rt.local.byRole {
		if lp.running {
			running++
		}
	}
	rt.local.mu.Unlock()
	return bound == n-1 && running == n
}

// BenchmarkPlanPass is a reconcile pass with nothing to do: the snapshot
// of a wired 200-node chain, taken under the lock, and its plan. A pass
// follows every edit, packet and announcement that changes something.
func BenchmarkPlanPass(b *testing.B) {
	const nodes = 200
	rt, passes := benchRuntime(b)
	if err := rt.Clear(wire.Clear{ID: "g"}); err != nil {
		b.Fatal(err)
	}
	for i := range nodes {
		if err := rt.AddNode(wire.AddNode{ID: fmt.Sprintf("n%03d", i), Component: "core/Repeat", Graph: "g"}); err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			if err := rt.AddEdge(wire.AddEdge{Src: ref(fmt.Sprintf("n%03d", i-1), "out"), Tgt: ref(fmt.Sprintf("n%03d", i), "in"), Graph: "g"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	deadline := time.After(time.Minute)
	for !chainWired(rt, nodes) {
		select {
		case <-passes:
		case <-deadline:
			b.Fatal("the chain was not wired within a minute")
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		rt.mu.Lock()
		s := rt.wiring.snapshotLocked()
		rt.mu.Unlock()
		if p := plan.Make(s); len(p.Bind)+len(p.StartLocal) > 0 {
			b.Fatal("the chain is not wired")
		}
	}
}
