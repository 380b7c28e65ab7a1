package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

func autoSaved(t *testing.T, path string) *fixture {
	t.Helper()
	return newFixture(t, func(o *Options) {
		o.GraphFile = path
		o.AutoSave = true
	})
}

// onlyFile requires dir to hold nothing but the file name (no temporary
// file left behind).
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("%s holds %v, want only %s", dir, names, name)
	}
}

// A save replaces the file, it never rewrites it in place: a reader that
// opened the file before the save still reads the whole old graph, and the
// name points at the whole new one.
func TestSaveReplacesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.json")
	f := autoSaved(t, path)
	must(t, f.rt.Clear(wire.Clear{ID: "g", Main: true}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "first", Component: "core/Drop", Graph: "g"}))
	before, err := os.ReadFile(path)
	must(t, err)
	if !strings.Contains(string(before), `"first"`) {
		t.Fatalf("the edit was acknowledged before it was on disk: %s", before)
	}
	old, err := os.Open(path)
	must(t, err)
	defer old.Close()
	must(t, f.rt.AddNode(wire.AddNode{ID: "second", Component: "core/Drop", Graph: "g"}))
	seen, err := io.ReadAll(old)
	must(t, err)
	if string(seen) != string(before) {
		t.Fatalf("the file was rewritten in place: a reader of the old one got\n%s\nwant\n%s", seen, before)
	}
	after, err := os.ReadFile(path)
	must(t, err)
	if !json.Valid(after) || !strings.Contains(string(after), `"second"`) {
		t.Fatalf("saved file %s", after)
	}
	onlyFile(t, dir, "g.json")
}

// However often the graph is saved, a reader polling the file only ever
// finds a whole graph.
func TestReaderNeverSeesAPartialSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.json")
	f := autoSaved(t, path)
	must(t, f.rt.Clear(wire.Clear{ID: "g", Main: true}))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []string
	reads := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(path)
			reads++
			if err != nil || !json.Valid(data) {
				bad = append(bad, fmt.Sprintf("%v %.60q", err, data))
			}
		}
	}()
	padding := strings.Repeat("x", 2048) // a save takes more than one write
	for i := range 50 {
		must(t, f.rt.AddNode(wire.AddNode{ID: fmt.Sprintf("n%d", i), Component: "core/Drop", Graph: "g", Metadata: map[string]any{"pad": padding}}))
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d reads found no whole graph, e.g. %s", len(bad), reads, bad[0])
	}
	onlyFile(t, dir, "g.json")
}

// A save that fails part way (here the file size limit, as a full disk
// would) leaves the old file as it was and no temporary file behind, and
// clients get a network:error naming the file.
func TestFailedSaveKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.json")
	f := autoSaved(t, path)
	must(t, f.rt.Clear(wire.Clear{ID: "g", Main: true}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "small", Component: "core/Drop", Graph: "g"}))
	before, err := os.ReadFile(path)
	must(t, err)

	// Writes beyond 64 KiB fail with EFBIG (Go ignores SIGXFSZ). The limit
	// is the process's: nothing else in this test writes files meanwhile.
	var limit syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &limit))
	small := limit
	small.Cur = 64 << 10
	must(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small))
	restored := false
	restore := func() {
		if !restored {
			restored = true
			must(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit))
		}
	}
	defer restore()
	big := strings.Repeat("y", 128<<10)
	must(t, f.rt.AddNode(wire.AddNode{ID: "big", Component: "core/Drop", Graph: "g", Metadata: map[string]any{"pad": big}}))
	restore()

	ev := f.waitEvent("network", "error", nil)
	if msg := ev.Message.(wire.NetworkError).Message; !strings.Contains(msg, "Could not save the graph to "+path) {
		t.Fatalf("network:error %q", msg)
	}
	after, err := os.ReadFile(path)
	must(t, err)
	if string(after) != string(before) {
		t.Fatalf("a failed save changed the file:\n%.200s\nwas\n%s", after, before)
	}
	onlyFile(t, dir, "g.json")
}

// A save that cannot be renamed into place (here a directory is in the
// way) removes its temporary file.
func TestFailedRenameLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.json")
	must(t, os.Mkdir(path, 0o755))
	must(t, os.WriteFile(filepath.Join(path, "keep"), []byte("x"), 0o644))
	f := autoSaved(t, path)
	must(t, f.rt.Clear(wire.Clear{ID: "g", Main: true}))
	ev := f.waitEvent("network", "error", nil)
	if msg := ev.Message.(wire.NetworkError).Message; !strings.Contains(msg, "Could not save the graph to "+path) {
		t.Fatalf("network:error %q", msg)
	}
	onlyFile(t, dir, "g.json")
	onlyFile(t, path, "keep")
}

// network:persist writes the main graph on request: it needs a graph file
// and a main graph; without --auto-save edits do not touch the file.
func TestPersistOnRequest(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.rt.Persist(); err == nil || !strings.Contains(err.Error(), "needs a graph file") {
		t.Fatalf("without a graph file: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "g.json")
	f = newFixture(t, func(o *Options) { o.GraphFile = path })
	if err := f.rt.Persist(); err == nil || !strings.Contains(err.Error(), "no main graph") {
		t.Fatalf("without a main graph: %v", err)
	}
	must(t, f.rt.Clear(wire.Clear{ID: "g", Main: true}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "kept", Component: "core/Drop", Graph: "g"}))
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("an edit without auto-save wrote the file: %v", err)
	}
	must(t, f.rt.Persist())
	data, err := os.ReadFile(path)
	must(t, err)
	if !json.Valid(data) || !strings.Contains(string(data), `"kept"`) || !strings.HasSuffix(string(data), "}\n") {
		t.Fatalf("persisted %s", data)
	}
	onlyFile(t, dir, "g.json")
}

// The graph file is indented JSON ending with a newline, its text not
// HTML-escaped.
func TestSavedFileIsIndentedJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.json")
	f := autoSaved(t, path)
	must(t, f.rt.Clear(wire.Clear{ID: "g", Main: true, Description: "a<b&c>"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "first", Component: "core/Drop", Graph: "g"}))
	data, err := os.ReadFile(path)
	must(t, err)
	if !json.Valid(data) || !strings.HasSuffix(string(data), "}\n") || !strings.Contains(string(data), "\n    \"description\": \"a<b&c>\"") {
		t.Fatalf("saved file:\n%s", data)
	}
}
