package spectest

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
	"github.com/msgflo/msgflo-runtime/spec"
)

// The project's suites, run from a Go test against the binary: each case
// is a subtest that passes.
func TestRunT(t *testing.T) {
	testenv.Needs(t, "the built binary")
	bin := filepath.Join(t.TempDir(), "msgflo-runtime")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/msgflo-runtime").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	results := RunT(t, spec.Config{Runtime: bin, RuntimeArgs: []string{"--broker", ""}}, "../chain.yaml", "../repeat.yaml")
	if passed, failed, _ := spec.Counts(results); passed != 11 || failed != 0 {
		t.Errorf("%d passed, %d failed; want 11 and 0", passed, failed)
	}
}
