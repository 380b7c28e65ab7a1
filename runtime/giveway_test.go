package runtime

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network/memory"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// slowBind is a memory broker connection whose first Bind waits for the
// test, after telling it that it began.
type slowBind struct {
	*memory.Conn
	once    sync.Once
	began   chan struct{}
	release chan struct{}
}

func (s *slowBind) Bind(ctx context.Context, src, tgt string) error {
	s.once.Do(func() {
		close(s.began)
		select {
		case <-s.release:
		case <-ctx.Done():
		}
	})
	return s.Conn.Bind(ctx, src, tgt)
}

// A reconcile pass gives way to the edits a client sends while it works
// (a graph uploaded edit by edit): it stops after the action under way,
// so that the next edits do not wait for the CPU or the broker while it
// starts participants and binds their edges, and the pass that follows
// the edits does the rest.
func TestPassGivesWayToEdits(t *testing.T) {
	srv := memory.NewServer()
	conn := &slowBind{Conn: srv.Connect(), began: make(chan struct{}), release: make(chan struct{})}
	ext := srv.Connect()
	var once sync.Once
	release := func() { once.Do(func() { close(conn.release) }) }
	f := startFixture(t, conn, ext, nil, func() { release(); _ = ext.Close(); _ = conn.Close() })
	// However slow the machine, the pass gives way.
	f.rt.wiring.giveWay = time.Hour

	g := graph.New("g")
	for _, id := range []string{"a", "b", "c"} {
		_, err := g.AddNode(id, "core/Repeat", nil)
		must(t, err)
	}
	_, err := g.AddEdge(graph.Endpoint{Node: "a", Port: "out"}, graph.Endpoint{Node: "b", Port: "in"}, nil)
	must(t, err)
	_, err = g.AddEdge(graph.Endpoint{Node: "b", Port: "out"}, graph.Endpoint{Node: "c", Port: "in"}, nil)
	must(t, err)
	f.rt.LoadGraph(g, false, false)
	select {
	case <-conn.began:
	case <-time.After(waitLimit):
		t.Fatalf("no edge bound within %s", waitLimit)
	}
	// Every pass before the one binding has ended.
	for len(f.passes) > 0 {
		<-f.passes
	}
	must(t, f.rt.AddNode(wire.AddNode{ID: "d", Component: "core/Repeat", Graph: "g"}))
	release()
	f.nextPass()
	if n := f.bound(); n != 1 {
		t.Fatalf("the pass an edit came in made %d bindings, want it to stop after the one under way", n)
	}
	for f.bound() != 2 || !f.rt.local.has("d") {
		f.nextPass()
	}
}

// bound is the number of bindings the runtime made.
func (f *fixture) bound() int {
	f.rt.wiring.mu.Lock()
	defer f.rt.wiring.mu.Unlock()
	return len(f.rt.wiring.bound)
}
