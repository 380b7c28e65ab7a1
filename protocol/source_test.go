package protocol

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// The runtime says a component's source is a library file; the protocol
// gives its code only to clients with full access, even when anonymous
// clients may use getsource. Graphs and definitions go to anyone allowed
// getsource.
func TestLibraryFileOnlyWithFullAccess(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Worker.py"), []byte("API_KEY = 's3cr3t'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	libFile := filepath.Join(t.TempDir(), "lib.json")
	if err := os.WriteFile(libFile, []byte(`{"handlers": {".py": "python3 #FILENAME #ROLE"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	lib, err := library.Load(libFile, false, dir)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(o *runtime.Options) { o.Library = lib }, withSecret("S3"), func(o *Options) {
		o.AnonymousCapabilities = []string{"protocol:runtime", "protocol:component", "component:getsource"}
	})
	anon := h.connect()
	anon.send("component", "getsource", obj(`{"name":"Worker"}`))
	wantError(t, anon.next(), "component", "the source of Worker is only given to clients with full access")
	src := anon.request("component", "getsource", obj(`{"name":"core/Repeat"}`), "source")
	if p := src.payloadMap(); p["language"] != "yaml" || p["name"] != "Repeat" {
		t.Errorf("anonymous getsource of a definition: %s", src.Text)
	}

	full := h.connect()
	src = full.request("component", "getsource", obj(`{"name":"Worker","secret":"S3"}`), "source")
	if p := src.payloadMap(); p["code"] != "API_KEY = 's3cr3t'\n" || p["language"] != "python" {
		t.Errorf("getsource with the secret: %s", src.Text)
	}
}
