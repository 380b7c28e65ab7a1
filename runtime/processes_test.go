package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network/memory"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// processRuntime is a runtime on an in-memory broker whose library starts
// lib/A and lib/B as processes that wait until they are stopped; its tests
// drive the reconcile passes themselves.
func processRuntime(t *testing.T) *Runtime {
	t.Helper()
	lib := filepath.Join(t.TempDir(), "lib.json")
	must(t, os.WriteFile(lib, []byte(`{"components": {"lib/A": "exec sleep 600", "lib/B": "exec sleep 600"}}`), 0o644))
	l, err := LoadLibrary(lib, "")
	must(t, err)
	srv := memory.NewServer()
	conn := srv.Connect()
	rt, err := New(Options{ID: "rt", Broker: conn, Library: l,
		Sink: &recorder{ch: make(chan Event, 1000)}, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	must(t, err)
	t.Cleanup(func() { rt.shutdown(); _ = conn.Close() })
	return rt
}

// A node whose library component changed gets the new component's process
// in the pass that stops the old one, as an in-process participant does:
// the loop is not woken again for it. Seen failing (no process for the
// role after the pass, until something else woke the loop) when a plan
// that only stopped processes was not followed by another.
func TestChangedComponentsProcessStartsInTheSamePass(t *testing.T) {
	rt := processRuntime(t)
	ctx := context.Background()
	must(t, rt.Clear(wire.Clear{ID: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "w", Component: "lib/A", Graph: "g"}))
	rt.wiring.reconcile(ctx)
	if got := rt.procs.components()["w"]; got != "lib/A" {
		t.Fatalf("process of w: %q, want lib/A", got)
	}
	must(t, rt.RemoveNode(wire.RemoveNode{ID: "w", Graph: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "w", Component: "lib/B", Graph: "g"}))
	rt.wiring.reconcile(ctx)
	if got := rt.procs.components()["w"]; got != "lib/B" {
		t.Fatalf("process of w after the pass: %q, want lib/B", got)
	}
}
