package library

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPackageJSON(t *testing.T) {
	dir := t.TempDir()
	comps := filepath.Join(dir, "participants")
	if err := os.Mkdir(comps, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, comps, "Worker.py", "print('x')")
	write(t, comps, "Graph.fbp", "")
	write(t, comps, "notes.txt", "")
	pkg := write(t, dir, "package.json", `{
  "name": "myproject",
  "repository": {"type": "git", "url": "https://example.com/p.git"},
  "msgflo": {
    "components": {"myproject/Api": "node api.js --role #ROLE --var #PORT"},
    "handlers": {".py": "python3 #FILENAME #ROLE #COMPONENTNAME"},
    "variables": {"PORT": 8080}
  }
}`)
	l, err := Load(pkg, false, comps)
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Namespace != "myproject" || l.Config.Repository != "https://example.com/p.git" {
		t.Fatalf("config %+v", l.Config)
	}
	var names []string
	for _, c := range l.Components() {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "myproject/Api,myproject/Graph,myproject/Worker" {
		t.Fatalf("components %v", names)
	}
	api, _ := l.Get("Api") // without the namespace
	if got, _ := l.Command(api, "api1", nil); got != "node api.js --role api1 --var 8080" {
		t.Fatalf("command %q", got)
	}
	w, _ := l.Get("myproject/Worker")
	if got, _ := l.Command(w, "w1", nil); got != "python3 "+filepath.Join(comps, "Worker.py")+" w1 Worker" || w.Language != "python" {
		t.Fatalf("command %q (%s)", got, w.Language)
	}
	g, _ := l.Get("myproject/Graph")
	if got, _ := l.Command(g, "g1", map[string]any{"in": 5}); got != `noflo-runtime-msgflo --name g1 --graph Graph --iips '{"in":5}'` {
		t.Fatalf("command %q", got)
	}
}

func TestPlainFileAndDefaults(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "lib.json", `{"components": {"a/B": "run #COMPONENT #COMPONENTNAME #ROLE"}, "namespace": "ns"}`)
	l, err := Load(f, false, filepath.Join(dir, "none"))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := l.Get("a/B")
	if got, _ := l.Command(c, "r", nil); !ok || got != "run a/B B r" {
		t.Fatalf("%v %+v", ok, c)
	}
	if l.Config.Handlers[".js"] != DefaultHandlers[".js"] || l.Config.Handlers[".go"] == "" {
		t.Fatal("default handlers missing")
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(write(t, dir, "x.json", "nope"), false, ""); err == nil {
		t.Fatal("accepted a file that is not JSON")
	}
	if _, err := Load(filepath.Join(dir, "missing.json"), false, ""); err == nil {
		t.Fatal("accepted a missing file")
	}
	if _, err := Load(filepath.Join(dir, "missing.json"), true, ""); err != nil {
		t.Fatalf("optional missing file: %v", err)
	}
}
