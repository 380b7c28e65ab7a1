package runtime

import (
	"sync"
	"testing"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// lockCheckingSink records events, and whether the runtime's lock was free
// when each came (nothing else runs in the tests that use it).
type lockCheckingSink struct {
	rt     *Runtime
	mu     sync.Mutex
	got    []string
	locked int
}

func (s *lockCheckingSink) Broadcast(ev Event) {
	free := s.rt.mu.TryLock()
	if free {
		s.rt.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, ev.Protocol()+":"+ev.Command())
	if !free {
		s.locked++
	}
}

func (s *lockCheckingSink) events() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...), s.locked
}

// Events reach the sink with no lock of the runtime held, in the order of
// the changes, before the call that made them returns (contract 3 of the
// redesign: a reply the protocol sends after an edit never overtakes the
// edit's acknowledgement). Seen failing with the sink called under the
// lock (every event counted as locked).
func TestEventsReachTheSinkOutsideTheLockBeforeReturn(t *testing.T) {
	sink := &lockCheckingSink{}
	rt := libraryRuntime(t, Options{ID: "events", Sink: sink})
	sink.rt = rt
	must(t, rt.Clear(wire.Clear{ID: "g"}))
	must(t, rt.AddNode(wire.AddNode{ID: "a", Component: "ext/A", Graph: "g"}))
	if got, _ := sink.events(); len(got) != 2 || got[1] != "graph:addnode" {
		t.Fatalf("after AddNode returned the sink had %v", got)
	}
	must(t, rt.AddNode(wire.AddNode{ID: "b", Component: "ext/B", Graph: "g"}))
	must(t, rt.AddEdge(wire.AddEdge{Src: ref("a", "out"), Tgt: ref("b", "in"), Graph: "g"}))
	must(t, rt.RemoveNode(wire.RemoveNode{ID: "a", Graph: "g"}))
	must(t, rt.Start("g"))
	got, locked := sink.events()
	want := []string{"graph:clear", "graph:addnode", "graph:addnode", "graph:addedge", "graph:removeedge", "graph:removenode", "network:started"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if locked > 0 {
		t.Fatalf("%d of %d events reached the sink under the runtime's lock", locked, len(got))
	}
}
