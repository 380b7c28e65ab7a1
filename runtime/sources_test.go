package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// sourceRuntime is a runtime whose library reads the component directory
// dir (with a handler for .py files only).
func sourceRuntime(t *testing.T, dir string, allow bool) *Runtime {
	t.Helper()
	lib := filepath.Join(t.TempDir(), "lib.json")
	must(t, os.WriteFile(lib, []byte(`{"handlers": {".py": "python3 #FILENAME #ROLE"}}`), 0o644))
	l, err := library.Load(lib, false, dir)
	must(t, err)
	for ext := range l.Config.Handlers {
		if ext != ".py" {
			delete(l.Config.Handlers, ext)
		}
	}
	return libraryRuntime(t, Options{ID: "sources", Library: l, AllowSetSource: allow})
}

// libraryRuntime is a runtime made with opts (a library, typically) on an
// embedded broker of its own, closed when the test ends.
func libraryRuntime(t *testing.T, opts Options) *Runtime {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := embedded.Start(ctx, embedded.Options{Logger: zerolog.Nop()})
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	opts.Broker, opts.Logger = srv.Broker(), zerolog.Nop()
	rt, err := New(opts)
	must(t, err)
	return rt
}

// component:source is refused unless the runtime allows uploads.
func TestSetSourceNeedsAllowSetSource(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "parts")
	rt := sourceRuntime(t, dir, false)
	if _, err := rt.SetSource(wire.Source{Name: "X", Language: "python", Code: "print(1)"}); !errors.Is(err, ErrSetSourceDisabled) {
		t.Fatalf("upload without AllowSetSource: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the component directory was touched: %v", err)
	}
}

// Uploads and getsource stay inside the component directory: a symbolic
// link to a file outside is neither read nor written through; the handler is
// checked before anything is written; size and count are limited; a
// library file is given only to clients with full access.
func TestSourcesStayInTheComponentDirectory(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "parts")
	must(t, os.Mkdir(dir, 0o755))
	outside := filepath.Join(base, "secret.py")
	must(t, os.WriteFile(outside, []byte("outside"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(dir, "Link.py")))
	rt := sourceRuntime(t, dir, true)

	// getsource through the link: refused, the outside file is not shown.
	src, err := readSource(rt, "Link")
	if err == nil || strings.Contains(src.Code, "outside") {
		t.Fatalf("getsource followed a link out of the directory: %+v %v", src, err)
	}

	// An upload named like the link replaces the link, not the file.
	if _, err := rt.SetSource(wire.Source{Name: "Link", Language: "python", Code: "print('in')"}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(outside); string(data) != "outside" {
		t.Fatalf("an upload wrote through a link: %q", data)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "Link.py")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("Link.py after the upload: %v %v", fi, err)
	}
	src, err = readSource(rt, "Link")
	if err != nil || src.Code != "print('in')" {
		t.Fatalf("getsource after the upload: %+v %v", src, err)
	}
	// The runtime says it is a file, and gives no code by itself: who
	// may read it is the protocol's to decide (protocol's
	// TestLibraryFileOnlyWithFullAccess).
	if src, err := rt.SourceOf("Link"); err != nil || src.Kind != SourceFile || src.Code != "" || src.File == "" {
		t.Fatalf("source of a library file: %+v %v", src, err)
	}

	// A language no handler runs: refused before anything is written.
	if _, err := rt.SetSource(wire.Source{Name: "Prog", Language: "javascript", Code: "x"}); err == nil || !strings.Contains(err.Error(), "no handler runs .js files") {
		t.Fatalf("upload without a handler: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "Prog.js")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file without a handler was written: %v", err)
	}

	// Size.
	big := strings.Repeat("#", MaxSourceBytes+1)
	if _, err := rt.SetSource(wire.Source{Name: "Big", Language: "python", Code: big}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("oversized upload: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "Big.py")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an oversized upload was written: %v", err)
	}
	if _, err := rt.SetSource(wire.Source{Name: "BigTests", Language: "python", Code: "x", Tests: big}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("upload with oversized tests: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "BigTests.py")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the code of an upload with oversized tests was written: %v", err)
	}

	// Count: a full directory takes no new file, but an existing one may
	// be replaced.
	entries, _ := os.ReadDir(dir)
	for i := len(entries); i < MaxComponentFiles; i++ {
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.txt", i)), nil, 0o644))
	}
	if _, err := rt.SetSource(wire.Source{Name: "OneTooMany", Language: "python", Code: "x"}); err == nil || !strings.Contains(err.Error(), "the most allowed") {
		t.Fatalf("upload into a full directory: %v", err)
	}
	if _, err := rt.SetSource(wire.Source{Name: "Link", Language: "python", Code: "again"}); err != nil {
		t.Fatalf("replacing a file in a full directory: %v", err)
	}
}

// readSource is getsource as a client with full access gets it.
func readSource(rt *Runtime, name string) (wire.Source, error) {
	src, err := rt.SourceOf(name)
	if err != nil || src.Kind != SourceFile {
		return src.Source, err
	}
	code, err := rt.ReadSourceFile(src.File)
	src.Code = string(code)
	return src.Source, err
}

// A component's tests live in the directory's spec folder: a spec that is
// a link out of the directory is neither written through nor read.
func TestTestsStayInTheComponentDirectory(t *testing.T) {
	base := t.TempDir()
	dir, outside := filepath.Join(base, "parts"), filepath.Join(base, "elsewhere")
	must(t, os.Mkdir(dir, 0o755))
	must(t, os.Mkdir(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "Old.yaml"), []byte("outside"), 0o644))
	rt := sourceRuntime(t, dir, true)

	if _, err := rt.SetSource(wire.Source{Name: "Kept", Language: "python", Code: "x", Tests: "topic: Kept\n"}); err != nil {
		t.Fatal(err)
	}
	if tests, err := rt.ReadTests("Kept"); err != nil || tests != "topic: Kept\n" {
		t.Fatalf("tests of Kept: %q %v", tests, err)
	}
	if tests, err := rt.ReadTests("None"); err != nil || tests != "" {
		t.Fatalf("a component without tests: %q %v", tests, err)
	}

	must(t, os.RemoveAll(filepath.Join(dir, TestsDir)))
	must(t, os.Symlink(outside, filepath.Join(dir, TestsDir)))
	if _, err := rt.SetSource(wire.Source{Name: "New", Language: "python", Code: "x", Tests: "topic: New\n"}); err == nil {
		t.Fatal("tests written through a link out of the directory")
	}
	if _, err := os.Lstat(filepath.Join(outside, "New.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("New.yaml outside the directory: %v", err)
	}
	if tests, err := rt.ReadTests("Old"); err == nil || tests != "" {
		t.Fatalf("tests read through a link out of the directory: %q %v", tests, err)
	}
}
