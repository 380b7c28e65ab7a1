package runtime

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// NodeRuns says, per node, what the runtime does: what serve logs at
// start. --ignore names a node by id or by role.
func TestNodeRunsSayWhatTheRuntimeDoes(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib.json")
	must(t, os.WriteFile(lib, []byte(`{"components": {"lib/Worker": "worker --role #ROLE"}}`), 0o644))
	l, err := LoadLibrary(lib, "")
	must(t, err)
	rt := libraryRuntime(t, Options{ID: "runs", Library: l, Components: participant.CoreComponents(), Ignore: []string{"skipped", "core/Ignored_1"}})
	g := graph.New("g")
	for _, n := range [][2]string{
		{"repeat", "core/Repeat"}, {"worker", "lib/Worker"}, {"other", "ext/Other"},
		{"skipped", "core/Repeat"}, {"core/Ignored_1", "lib/Worker"},
	} {
		_, err := g.AddNode(n[0], n[1], nil)
		must(t, err)
	}
	rt.LoadGraph(g, true, false)
	runs, err := rt.NodeRuns("g")
	must(t, err)
	want := []plan.NodeRun{
		{Node: "repeat", Role: "repeat", Component: "core/Repeat", Run: plan.InProcess},
		{Node: "worker", Role: "worker", Component: "lib/Worker", Run: plan.LibraryProcess},
		{Node: "other", Role: "other", Component: "ext/Other", Run: plan.External},
		{Node: "skipped", Role: "skipped", Component: "core/Repeat", Run: plan.Ignored},
		{Node: "core/Ignored_1", Role: "core_Ignored_1", Component: "lib/Worker", Run: plan.Ignored},
	}
	if len(runs) != len(want) {
		t.Fatalf("runs %+v", runs)
	}
	for i := range want {
		if runs[i] != want[i] {
			t.Errorf("node %d: %+v, want %+v", i, runs[i], want[i])
		}
	}
	if _, err := rt.NodeRuns("nope"); err != ErrGraphNotFound {
		t.Errorf("unknown graph: %v", err)
	}
}

// The default library file may be missing; another must exist.
func TestLoadLibraryDefault(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := LoadLibrary("", ""); err != nil {
		t.Errorf("missing default library: %v", err)
	}
	if _, err := LoadLibrary(DefaultLibraryFile, ""); err != nil {
		t.Errorf("missing package.json: %v", err)
	}
	if _, err := LoadLibrary("other.json", ""); err == nil {
		t.Error("a missing library file named otherwise was accepted")
	}
}
