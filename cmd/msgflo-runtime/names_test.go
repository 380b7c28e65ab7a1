package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/dial"
)

// msgfloNames links the test binary under msgflo's program names, as make
// install does, and returns the folder of the links.
func msgfloNames(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"msgflo", "msgflo-setup", "msgflo-send-message", "msgflo-dump-message", "msgflo-procfile", "msgflo-register"} {
		if err := os.Symlink(runtimeBinary(t), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run runs a program in dir and returns its stdout and exit code.
func runCode(t *testing.T, dir string, env []string, name string, args ...string) (stdout string, code int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Logf("%s %v: exit %d, stderr:\n%s", name, args, exit.ExitCode(), errOut.String())
		return out.String(), exit.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), 0
}

func msgfloPackage(t *testing.T) string {
	return filepath.Join(nodeDir(t), "node_modules", "msgflo")
}

// msgflo-procfile, called by that name, prints what msgflo 0.12.3's prints
// for every graph and library file of msgflo's own tests, and exits with
// the same code (1 where msgflo refuses a graph).
func TestMsgfloProcfileOnMsgflosOwnFixtures(t *testing.T) {
	t.Parallel()
	pkg := msgfloPackage(t)
	names := msgfloNames(t)
	graphs, _ := filepath.Glob(filepath.Join(pkg, "spec", "fixtures", "*.fbp"))
	libs, _ := filepath.Glob(filepath.Join(pkg, "spec", "fixtures", "library-*.json"))
	if len(graphs) < 5 || len(libs) < 5 {
		t.Fatalf("msgflo's fixtures not found: %v %v", graphs, libs)
	}
	var same atomic.Int32
	t.Run("fixtures", func(t *testing.T) { // returns once its parallel subtests have
		for _, g := range graphs {
			for _, l := range libs {
				t.Run(filepath.Base(g)+"+"+filepath.Base(l), func(t *testing.T) {
					t.Parallel()
					args := []string{"--library", rel(pkg, l), rel(pkg, g), "--components", "spec/fixtures"}
					theirs, theirCode := runCode(t, pkg, nil, filepath.Join(pkg, "bin", "msgflo-procfile"), args...)
					ours, ourCode := runCode(t, pkg, nil, filepath.Join(names, "msgflo-procfile"), args...)
					if ours != theirs || ourCode != theirCode {
						t.Errorf("msgflo-procfile %v:\nours (exit %d):\n%s\ntheirs (exit %d):\n%s", args, ourCode, ours, theirCode, theirs)
					}
					if theirCode == 0 {
						same.Add(1)
					}
				})
			}
		}
	})
	if same := same.Load(); same < 3 {
		t.Fatalf("only %d procfiles were made: the comparison compared errors only", same)
	}
}

func rel(base, path string) string {
	r, err := filepath.Rel(base, path)
	if err != nil {
		return path
	}
	return r
}

// Under msgflo's names, errors exit 1 as msgflo's programs do (commander
// and thrown errors), and messages name the program.
func TestMsgfloProgramNamesExitCodes(t *testing.T) {
	t.Parallel()
	names := msgfloNames(t)
	for _, c := range []struct {
		prog string
		args []string
	}{
		{"msgflo-procfile", []string{"--no-such-flag", "g.fbp"}},
		{"msgflo-procfile", nil},
		{"msgflo-send-message", []string{"--queue", "q"}},
		{"msgflo-dump-message", []string{"--amount", "0"}},
		{"msgflo-register", nil},
		{"msgflo-setup", nil},
		{"msgflo", []string{"--port", "-1"}},
	} {
		cmd := exec.Command(filepath.Join(names, c.prog), c.args...)
		cmd.Env = append(os.Environ(), "MSGFLO_BROKER=mqtt://127.0.0.1:1")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s %v: %v, want exit 1\n%s", c.prog, c.args, err, out)
		}
		if c.prog != "msgflo" && !strings.Contains(string(out), c.prog) {
			t.Errorf("%s %v: the message does not name the program:\n%s", c.prog, c.args, out)
		}
	}
	// The subcommands keep 2 for usage errors.
	if _, code := runCode(t, ".", nil, runtimeBinary(t), "procfile"); code != 2 {
		t.Errorf("procfile without a graph: exit %d", code)
	}
}

// msgflo, called by that name, is the runtime and prints msgflo's first line.
func TestMsgfloNameRunsTheRuntime(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(filepath.Join(msgfloNames(t), "msgflo"), "--port", "0")
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line := firstLine(t, out); !strings.HasPrefix(line, "msgflo started on ws://localhost:") {
		t.Fatalf("first line %q", line)
	}
}

// make install PREFIX=... installs the binary and msgflo's names as links.
func TestMakeInstall(t *testing.T) {
	t.Parallel()
	testenv.Needs(t, "the built binary")
	prefix := t.TempDir()
	build := filepath.Join(t.TempDir(), "msgflo-runtime")
	cmd := exec.Command("make", "-C", "../..", "install", "PREFIX="+prefix, "BIN="+build)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, name := range []string{"msgflo", "msgflo-setup", "msgflo-send-message", "msgflo-dump-message", "msgflo-procfile", "msgflo-register"} {
		link, err := os.Readlink(filepath.Join(prefix, "bin", name))
		if err != nil || link != "msgflo-runtime" {
			t.Errorf("%s: %q %v", name, link, err)
		}
	}
	out, code := runCode(t, ".", nil, filepath.Join(prefix, "bin", "msgflo-procfile"), "--help")
	if code != 0 {
		t.Fatalf("installed msgflo-procfile --help: exit %d %s", code, out)
	}
}

// participant.Main takes msgflo-nodejs's --name as well as --role.
func TestGoParticipantMainTakesName(t *testing.T) {
	t.Parallel()
	url := mosquitto(t)
	exe := filepath.Join(t.TempDir(), "upper")
	if out, err := exec.Command("go", "build", "-o", exe, "../../examples/upper").CombinedOutput(); err != nil {
		t.Fatalf("build examples/upper: %v\n%s", err, out)
	}
	for _, flag := range []string{"--name", "--role"} {
		role := "upper" + strings.TrimPrefix(flag, "--")
		cmd := exec.Command(exe, flag, role, "--broker", url)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line := firstLine(t, out)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if !strings.HasPrefix(line, role+" connected to ") {
			t.Fatalf("%s %s: first line %q", flag, role, line)
		}
	}
}

// msgflo-register announces msgflo's own YAML definitions, whose ports are
// lists (toggleswitch.yaml, lightbulb.yaml): the same queues as msgflo's
// msgflo-register, each port under its own id (msgflo 0.12.3 numbers them).
func TestMsgfloRegisterTakesListStyleYAML(t *testing.T) {
	t.Parallel()
	pkg := msgfloPackage(t)
	url := mosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := dial.Open(ctx, url, dial.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	seen := make(chan network.Definition, 100)
	sub, err := b.SubscribeDiscovery(ctx, func(_ string, data []byte) {
		if def, err := network.DecodeDiscovery(data); err == nil {
			select {
			case seen <- def:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	await := func(role string) network.Definition {
		t.Helper()
		for {
			select {
			case def := <-seen:
				if def.Role == role {
					return def
				}
			case <-ctx.Done():
				t.Fatalf("no announcement of %s", role)
			}
		}
	}
	names := msgfloNames(t)
	s := uuid.New()[:8]
	// Announced every --interval / 2.2 seconds, as msgflo-register does,
	// and with that heartbeat, so that coordinators judge it by it.
	hb := "hb" + s
	cmd := exec.Command(filepath.Join(names, "msgflo-register"), "--role", hb+":spec/fixtures/toggleswitch.yaml", "--interval", "2.2")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	def := await(hb)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if def.Heartbeat != 1 {
		t.Errorf("heartbeat %v, want 1 (2.2 s / 2.2)", def.Heartbeat)
	}
	for _, c := range []struct {
		prog   string
		wantID string
	}{{filepath.Join(names, "msgflo-register"), "state"}, {filepath.Join(pkg, "bin", "msgflo-register"), "0"}} {
		sw, bulb := "sw"+s+c.wantID, "bulb"+s+c.wantID
		cmd := exec.Command(c.prog, "--role", sw+":spec/fixtures/toggleswitch.yaml", "--role", bulb+":spec/fixtures/lightbulb.yaml")
		cmd.Dir = pkg
		cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		def := await(sw)
		bd := await(bulb)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if def.Component != "my/ToggleSwitch" || len(def.Inports) != 0 || len(def.Outports) != 1 ||
			def.Outports[0].ID != c.wantID || def.Outports[0].Queue != "/myswitch/"+sw+"/status" || def.Outports[0].Type != "boolean" {
			t.Errorf("%s: toggleswitch announced as %+v", c.prog, def)
		}
		in, out := "enable", "confirm"
		if c.wantID == "0" {
			in, out = "0", "0"
		}
		if bd.Component != "my/LightBulb" || len(bd.Inports) != 1 || bd.Inports[0].ID != in || bd.Inports[0].Queue != "/mylightbulb/ffo/1/set-on" ||
			len(bd.Outports) != 1 || bd.Outports[0].ID != out || bd.Outports[0].Queue != "/mylightbulb/ffo/1/is-on" {
			t.Errorf("%s: lightbulb announced as %+v", c.prog, bd)
		}
	}
}

// firstLine reads the first line of r, waiting 30 s at most.
func firstLine(t *testing.T, r io.Reader) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		return line
	case <-time.After(30 * time.Second):
		t.Fatal("no line within 30 s")
		return ""
	}
}
