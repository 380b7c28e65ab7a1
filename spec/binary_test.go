package spec

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
)

// runLimit guards a whole run against a hang; it is not a speed
// requirement.
const runLimit = 3 * time.Minute

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// runtimeBinary builds msgflo-runtime once for the package's tests; they
// skip under -short.
func runtimeBinary(t *testing.T) string {
	t.Helper()
	testenv.Needs(t, "the built binary")
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "msgflo-runtime-spec")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "msgflo-runtime")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/msgflo-runtime")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build msgflo-runtime: %v", buildErr)
	}
	return binPath
}

// ourSuites are the project's suites and the test suites written for this
// runtime's components.
func ourSuites(t *testing.T) []string {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("testdata/msgflo/*.yaml")
	return append(files, more...)
}

// wantStatus is what a case's assertion says will happen to it: the test
// suites say "fails ..." or "is not run"; every other case passes.
func wantStatus(c *Case) Status {
	switch {
	case strings.HasPrefix(c.Assertion, "fails"):
		return Failed
	case strings.HasPrefix(c.Assertion, "is not run"):
		return Skipped
	}
	return Passed
}

// Against the binary on the embedded broker, every case has the verdict
// its assertion announces, and the exit code is fbp-spec's.
func TestSuitesAgainstTheRuntime(t *testing.T) {
	bin := runtimeBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	var out bytes.Buffer
	rep, _ := NewReporter("human", &out, false)
	results, err := RunFiles(ctx, Config{Runtime: bin, RuntimeArgs: []string{"--broker", ""}}, ourSuites(t), rep)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	n := 0
	for _, s := range results {
		for _, c := range s.Cases {
			n++
			if want := wantStatus(c.Case); c.Status != want {
				t.Errorf("%s / %s: %s (%v), want %s", s.Suite.Name, c.Case.Name, c.Status, c.Err, want)
			}
		}
	}
	if n < 50 {
		t.Errorf("%d cases ran; the suites have more", n)
	}
	if code := ExitCode(results); code != 1 {
		t.Errorf("exit code %d, want 1 (fixtures that do not load stop fbp-spec with an error)", code)
	}
	if t.Failed() {
		t.Log(out.String())
	}
}

// runTool runs the binary's test subcommand and returns its output and
// exit code.
func runTool(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimeBinary(t), append([]string{"test"}, args...)...)
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String(), code
}

// announced counts the cases of files and those their assertions say fail
// or are skipped.
func announced(t *testing.T, files ...string) (total, failed, skipped int) {
	t.Helper()
	suites, err := LoadFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range suites {
		for _, c := range s.Cases {
			total++
			switch {
			case s.Skip != "" || wantStatus(c) == Skipped:
				skipped++
			case wantStatus(c) == Failed:
				failed++
			}
		}
	}
	return total, failed, skipped
}

// The TAP output is read by Perl's TAP harness (prove) with the counts the
// runner reports.
func TestTAPReadByProve(t *testing.T) {
	prove, err := exec.LookPath("prove")
	if err != nil {
		testenv.SkipOrFail(t, "prove (Perl's TAP harness) is not installed (.ci/run installs it)")
	}
	files := []string{"testdata/msgflo/expectations.yaml", "testdata/msgflo/skips.yaml"}
	total, failed, skipped := announced(t, files...)
	out, code := runTool(t, append([]string{"--format", "tap"}, files...)...)
	if code != 2 {
		t.Fatalf("exit code %d, want 2:\n%s", code, out)
	}
	file := filepath.Join(t.TempDir(), "run.tap")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	res, _ := exec.Command(prove, "--exec", "cat", file).CombinedOutput()
	text := string(res)
	for _, want := range []string{
		fmt.Sprintf("Tests=%d", total),
		fmt.Sprintf("Failed %d/%d subtests", failed, total),
		fmt.Sprintf("(less %d skipped subtests: %d okay)", skipped, total-failed-skipped),
		"Result: FAIL",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("prove's report lacks %q:\n%s\nTAP:\n%s", want, text, out)
		}
	}
}

// The JUnit XML validates against the JUnit XSD (Apache Ant's format, the
// one CI servers read) with xmllint.
func TestJUnitValidatesAgainstTheXSD(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		testenv.SkipOrFail(t, "xmllint is not installed (.ci/run installs libxml2-utils)")
	}
	out, code := runTool(t, "--format", "junit", "testdata/msgflo/skips.yaml", "testdata/msgflo/sequences.yaml", "testdata/msgflo/badfixture-json.yaml")
	if code != 1 {
		t.Fatalf("exit code %d, want 1:\n%s", code, out)
	}
	file := filepath.Join(t.TempDir(), "run.xml")
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(xmllint, "--noout", "--schema", "testdata/JUnit.xsd", file).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint: %v\n%s\n%s", err, res, out)
	}
	for _, want := range []string{`tests="5" failures="3"`, `<skipped message="the whole suite">`, `type="equals"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the XML lacks %q:\n%s", want, out)
		}
	}
}
