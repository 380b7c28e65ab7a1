package spec

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
)

// The differential tests run the same suites with this runner and with the
// pinned npm fbp-spec 0.8.0 (installed by scripts/npm-fbp-spec.sh into
// MSGFLO_FBP_SPEC_DIR) against the same runtime, and compare the verdict
// of every case.

// npmVerdict is what fbp-spec said of one case.
type npmVerdict struct {
	status Status
	text   string
}

// fbpSpecDir is where the pinned fbp-spec is installed; tests skip (or
// fail under MSGFLO_TEST_REQUIRE_BROKERS=1) without it.
func fbpSpecDir(t *testing.T) string {
	t.Helper()
	testenv.Needs(t, "npm's fbp-spec")
	dir := os.Getenv("MSGFLO_FBP_SPEC_DIR")
	if dir == "" {
		testenv.SkipOrFail(t, "MSGFLO_FBP_SPEC_DIR is not set (make test sets it): the differential test needs the npm fbp-spec")
	}
	return dir
}

func caseKey(suite, name, assertion string) string { return suite + " / " + name + " / " + assertion }

// npmCLI runs fbp-spec's CLI on one file and reads its report: a suite's
// name, then each case's name and "assertion: ✓", "✗ Error: ..." or
// "SKIP: ...". It returns the verdicts and the exit code.
func npmCLI(t *testing.T, dir, address, secret, file string) (map[string]npmVerdict, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "node_modules", ".bin", "fbp-spec"), "--address", address, "--secret", secret, file)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("fbp-spec: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("fbp-spec did not finish %s within %s:\n%s", file, runLimit, out.String())
	}
	verdicts := map[string]npmVerdict{}
	var suite, name string
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "    "):
			assertion, res, ok := strings.Cut(strings.TrimPrefix(line, "    "), ": ")
			if !ok {
				continue
			}
			v := npmVerdict{status: Failed, text: res}
			switch {
			case res == "✓":
				v.status = Passed
			case strings.HasPrefix(res, "SKIP: "):
				v.status = Skipped
			}
			verdicts[caseKey(suite, name, assertion)] = v
		case strings.HasPrefix(line, "  "):
			name = strings.TrimPrefix(line, "  ")
		case line != "" && !strings.HasPrefix(line, " "):
			suite = line
		}
	}
	return verdicts, code, out.String()
}

// mochaRun runs a file with fbp-spec's Mocha runner (which, unlike its
// CLI, has timeouts) and reads Mocha's JSON report.
func mochaRun(t *testing.T, dir, address, secret, file string) map[string]npmVerdict {
	t.Helper()
	work := t.TempDir()
	script := filepath.Join(work, "fbpspec.js")
	src := fmt.Sprintf(`require(%q).mocha.run({protocol: 'websocket', address: %q, secret: %q}, %q, {starttimeout: 10000});`,
		filepath.Join(dir, "node_modules", "fbp-spec"), address, secret, file)
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "node_modules", ".bin", "mocha"), "--reporter", "json", script)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	_ = cmd.Run() // non-zero when a case fails
	var report struct {
		Tests []struct {
			FullTitle string         `json:"fullTitle"`
			Err       map[string]any `json:"err"`
			Pending   bool
		} `json:"tests"`
		Pending []struct {
			FullTitle string `json:"fullTitle"`
		} `json:"pending"`
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("mocha's report: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	verdicts := map[string]npmVerdict{}
	for _, tc := range report.Tests {
		v := npmVerdict{status: Passed}
		if msg, failed := tc.Err["message"]; failed {
			v = npmVerdict{status: Failed, text: fmt.Sprint(msg)}
		}
		verdicts[tc.FullTitle] = v
	}
	for _, tc := range report.Pending {
		verdicts[tc.FullTitle] = npmVerdict{status: Skipped}
	}
	return verdicts
}

// goRun runs a file with this runner and returns its results.
func goRun(t *testing.T, address, secret, file string) []SuiteResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	var out bytes.Buffer
	rep, _ := NewReporter("human", &out, false)
	results, err := RunFiles(ctx, Config{Options: Options{Address: address, Secret: secret}}, []string{file}, rep)
	if err != nil {
		t.Fatalf("%s: %v\n%s", file, err, out.String())
	}
	return results
}

// compareCLI checks that both runners gave every case of file the same
// verdict. A suite fbp-spec could not set up stops its run (exit 1, no
// line for the suite's cases); this runner fails those cases and exits 1
// too. A skipped suite's cases have no line from fbp-spec.
func compareCLI(t *testing.T, dir string, fresh freshRuntime, file string) int {
	t.Helper()
	var npm map[string]npmVerdict
	var npmCode int
	var npmOut string
	fresh(func(address, secret string) { npm, npmCode, npmOut = npmCLI(t, dir, address, secret, file) })
	var results []SuiteResult
	fresh(func(address, secret string) { results = goRun(t, address, secret, file) })
	n := 0
	for _, s := range results {
		for _, c := range s.Cases {
			n++
			key := caseKey(s.Suite.Name, c.Case.Name, c.Case.Assertion)
			if want := wantStatus(c.Case); c.Status != want {
				t.Errorf("%s: %s: %s (%v), but its assertion says %s", file, key, c.Status, c.Err, want)
			}
			v, reported := npm[key]
			switch {
			case reported && v.status != c.Status:
				t.Errorf("%s: %s: fbp-spec %s (%s), this runner %s (%v)", file, key, v.status, v.text, c.Status, c.Err)
			case !reported && s.Suite.Skip != "" && c.Status == Skipped:
			case !reported && s.Err != nil && c.Status == Failed && npmCode == 1:
			case !reported:
				t.Errorf("%s: %s: no verdict from fbp-spec (exit %d), this runner %s (%v)", file, key, npmCode, c.Status, c.Err)
			}
		}
	}
	if code := ExitCode(results); code != npmCode {
		t.Errorf("%s: exit code %d, fbp-spec's %d", file, code, npmCode)
	}
	if t.Failed() {
		t.Logf("fbp-spec's output:\n%s", npmOut)
	}
	return n
}

// compareMocha is compareCLI for the suites with timeouts, which only
// fbp-spec's Mocha runner has (its CLI waits for ever).
func compareMocha(t *testing.T, dir string, fresh freshRuntime, file string) int {
	t.Helper()
	var npm map[string]npmVerdict
	fresh(func(address, secret string) { npm = mochaRun(t, dir, address, secret, file) })
	var results []SuiteResult
	fresh(func(address, secret string) { results = goRun(t, address, secret, file) })
	n := 0
	for _, s := range results {
		for _, c := range s.Cases {
			n++
			key := s.Suite.Name + " " + c.Case.Name + " " + c.Case.Assertion
			if v, ok := npm[key]; !ok || v.status != c.Status {
				t.Errorf("%s: %s: fbp-spec (Mocha) %v, this runner %s (%v)", file, key, v, c.Status, c.Err)
			}
		}
	}
	return n
}

// freshRuntime calls run with the address and secret of a runtime started
// for it and stopped after. Each runner gets a runtime of its own: graphs
// share the participants of nodes of the same name, so a stateful
// component (core/Counter) would carry one runner's state into the
// other's run.
type freshRuntime func(run func(address, secret string))

// mochaOnly are the suites fbp-spec's CLI cannot finish (they time out).
var mochaOnly = map[string]bool{"timeouts.yaml": true}

// Every suite of spec/ and spec/testdata/msgflo gets the same verdicts
// from this runner and from fbp-spec 0.8.0, against this runtime.
func TestSameVerdictsAsFbpSpecOnThisRuntime(t *testing.T) {
	dir := fbpSpecDir(t)
	bin := runtimeBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	fresh := func(run func(address, secret string)) {
		p, address, secret, err := StartRuntime(ctx, bin, "--broker", "")
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := p.Stop(); err != nil {
				t.Errorf("the runtime did not stop cleanly: %v\n%s", err, p.Stderr())
			}
		}()
		run(address, secret)
	}
	n := 0
	for _, file := range ourSuites(t) {
		if mochaOnly[filepath.Base(file)] {
			n += compareMocha(t, dir, fresh, file)
		} else {
			n += compareCLI(t, dir, fresh, file)
		}
	}
	if n < 50 {
		t.Errorf("%d cases compared; the suites have more", n)
	}
}

// The same on noflo-nodejs with noflo-core (scripts/npm-noflo-nodejs.sh
// installs them into MSGFLO_NOFLO_NODEJS_DIR), with suites written for
// its components.
func TestSameVerdictsAsFbpSpecOnNofloNodejs(t *testing.T) {
	dir := fbpSpecDir(t)
	noflo := os.Getenv("MSGFLO_NOFLO_NODEJS_DIR")
	if noflo == "" {
		testenv.SkipOrFail(t, "MSGFLO_NOFLO_NODEJS_DIR is not set (make test sets it): the differential test runs noflo-nodejs")
	}
	// noflo-nodejs writes flowhub.json into its base directory (the
	// project whose components it loads): a fresh one, with the installed
	// packages linked in.
	base := t.TempDir()
	if err := os.Symlink(filepath.Join(noflo, "node_modules"), filepath.Join(base, "node_modules")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "package.json"), []byte(`{"name": "fbp-spec-differential", "private": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := func(run func(address, secret string)) {
		port := freePort(t)
		secret := "noflo-" + randomString(12)
		ctx, cancel := context.WithTimeout(context.Background(), runLimit)
		defer cancel()
		p, err := StartCommand(ctx, fmt.Sprintf("exec %s --host localhost --port %d --secret %s --open false --mdns false --base-dir %s",
			filepath.Join(noflo, "node_modules", ".bin", "noflo-nodejs"), port, secret, base))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop()
		run(fmt.Sprintf("ws://localhost:%d", port), secret)
	}
	files, _ := filepath.Glob("testdata/noflo/*.yaml")
	n := 0
	for _, file := range files {
		n += compareCLI(t, dir, fresh, file)
	}
	if n < 10 {
		t.Errorf("%d cases compared; the suites have more", n)
	}
}

// freePort is a port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
