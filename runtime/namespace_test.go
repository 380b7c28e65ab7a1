package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNamespaceIsAlwaysReported(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if ns := newFixture(t, nil).rt.Info().Namespace; ns != DefaultNamespace {
		t.Fatalf("without library or package.json: namespace %q", ns)
	}
	must(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"my-project","version":"1.0.0"}`), 0o644))
	if ns := newFixture(t, nil).rt.Info().Namespace; ns != "my-project" {
		t.Fatalf("with a package.json: namespace %q", ns)
	}
	if ns := newFixture(t, func(o *Options) { o.Namespace = "lib" }).rt.Info().Namespace; ns != "lib" {
		t.Fatalf("with a library namespace: %q", ns)
	}
}
