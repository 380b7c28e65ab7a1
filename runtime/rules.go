package runtime

import (
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// DefaultLibraryFile is msgflo's default component library: the "msgflo"
// key of package.json in the working directory.
const DefaultLibraryFile = "package.json"

// LoadLibrary loads the component library of file (DefaultLibraryFile
// when empty) and the component files of componentDir. The default file
// may be missing (an empty library, as msgflo); a file named otherwise
// must exist.
func LoadLibrary(file, componentDir string) (*library.Library, error) {
	if file == "" {
		file = DefaultLibraryFile
	}
	return library.Load(file, file == DefaultLibraryFile, componentDir)
}

// NodeRuns says what the runtime does for each node of a graph, in graph
// order: runs it in-process, starts a participant process for it, or
// expects its participant from outside (ignored, observed, or a component
// it cannot start).
func (r *Runtime) NodeRuns(graphID string) ([]plan.NodeRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gs, err := r.graphLocked(graphID)
	if err != nil {
		return nil, err
	}
	rules := r.rules()
	out := make([]plan.NodeRun, 0, len(gs.g.Nodes))
	for _, n := range gs.g.Nodes {
		role := gs.roleOf(n.ID)
		out = append(out, plan.NodeRun{Node: n.ID, Role: role, Component: n.Component, Run: rules.Run(n.ID, role, n.Component, r.observedLocked(gs, n.ID))})
	}
	return out, nil
}

// observedLocked says a node of the graph shows a participant discovered
// on the broker (live.go).
func (r *Runtime) observedLocked(gs *graphState, node string) bool {
	n := gs.g.Node(node)
	return n != nil && observed(n.Metadata)
}
