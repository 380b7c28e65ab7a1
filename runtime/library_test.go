package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/library"
)

// The component list shows no command line of the library, nor any of its
// variables (they hold API keys and passwords).
func TestComponentListShowsNoLibrarySecrets(t *testing.T) {
	dir := t.TempDir()
	comps := filepath.Join(dir, "parts")
	must(t, os.Mkdir(comps, 0o755))
	must(t, os.WriteFile(filepath.Join(comps, "Worker.py"), []byte("print(1)"), 0o644))
	lib := filepath.Join(dir, "package.json")
	must(t, os.WriteFile(lib, []byte(`{"msgflo": {
  "variables": {"KEY": "--api-key s3cr3t-api-key"},
  "components": {"Api": "node api.js #KEY --role #ROLE"},
  "handlers": {".py": "python3 #FILENAME #KEY"}}}`), 0o644))
	l, err := library.Load(lib, false, comps)
	must(t, err)
	rt := libraryRuntime(t, Options{ID: "secrets", Library: l})
	listed := 0
	for _, c := range rt.Components() {
		if c.Name != "Api" && c.Name != "Worker" {
			continue
		}
		listed++
		if strings.Contains(c.Description, "s3cr3t") || strings.Contains(c.Description, "api.js") || strings.Contains(c.Description, "python3") {
			t.Errorf("component %s shows its command: %q", c.Name, c.Description)
		}
	}
	if listed != 2 {
		t.Fatalf("library components listed: %d of 2", listed)
	}
}
