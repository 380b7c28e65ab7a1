package plan

import (
	"fmt"
	"testing"
)

// chainSnapshot is a started graph of n nodes in a chain, every node's
// participant known and every edge bound: what each reconcile pass plans
// while a client edits a large graph.
func chainSnapshot(n int) *Snapshot {
	s := &Snapshot{Participants: map[string]Participant{}, Bound: map[Binding]bool{}, Local: map[string]Local{}}
	g := Graph{ID: "chain", Started: true}
	for i := range n {
		id := fmt.Sprintf("n%d", i)
		g.Nodes = append(g.Nodes, nd(id, "core/Repeat", InProcess))
		s.Participants[id] = pt(id, true, []string{"in"}, []string{"out"})
		s.Local[id] = Local{Component: "core/Repeat", Running: true, Open: true}
		if i > 0 {
			prev := fmt.Sprintf("n%d", i-1)
			g.Edges = append(g.Edges, ed(prev, "out", id, "in"))
			s.Bound[b(prev+".OUT", id+".IN")] = true
		}
	}
	s.Graphs = []Graph{g}
	return s
}

func BenchmarkMake200Chain(b *testing.B) {
	s := chainSnapshot(200)
	b.ReportAllocs()
	for b.Loop() {
		Make(s)
	}
}
