package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// #19 "Participant processes inherit the secret": a process the runtime or
// setup starts gets the broker, never MSGFLO_SECRET. Seen failing before
// runtime/procs built their environment (the runtime appended MSGFLO_BROKER
// to its own environment).

// envLibrary writes a library whose component x/Env writes the environment
// its process sees to dir/env, then sleeps.
func envLibrary(t *testing.T, dir string) string {
	t.Helper()
	lib := filepath.Join(dir, "lib.json")
	command := "env > " + filepath.Join(dir, "env.tmp") + " && mv " + filepath.Join(dir, "env.tmp") + " " + filepath.Join(dir, "env") + " && exec sleep 600"
	if err := os.WriteFile(lib, []byte(mustJSON(map[string]any{"components": map[string]string{"x/Env": command}})), 0o644); err != nil {
		t.Fatal(err)
	}
	return lib
}

// readWhenThere reads file once another process has written it.
func readWhenThere(t *testing.T, file string, log func() string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, err := os.ReadFile(file); err == nil {
			return string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was never written; log:\n%s", file, log())
		}
		time.Sleep(20 * time.Millisecond) // written by another process: no event to wait on
	}
}

// checkEnviron fails when environ (NAME=VALUE entries, separated by sep)
// holds secret, or lacks MSGFLO_BROKER.
func checkEnviron(t *testing.T, what, environ, sep, secret string) {
	t.Helper()
	broker := false
	for _, kv := range strings.Split(environ, sep) {
		if strings.Contains(kv, secret) {
			t.Errorf("%s holds the secret: %q", what, kv)
		}
		broker = broker || strings.HasPrefix(kv, "MSGFLO_BROKER=")
	}
	if !broker {
		t.Errorf("%s has no MSGFLO_BROKER: %q", what, environ)
	}
}

func TestRuntimeParticipantProcessesDoNotInheritTheSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := "secret-" + uuid.New()
	graphFile := writeFile(t, "env.fbp", "envnode(x/Env)\n")
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET=" + secret}, "--port", "0", "--graph", graphFile, "--library", envLibrary(t, dir), "--componentdir", "")
	p.ready(t)
	checkEnviron(t, "the participant's environment", readWhenThere(t, filepath.Join(dir, "env"), p.stderrText), "\n", secret)
	pid := pidsOf(p)["envnode"]
	if pid == 0 {
		t.Fatalf("no pid logged for envnode:\n%s", p.stderrText())
	}
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	checkEnviron(t, fmt.Sprintf("/proc/%d/environ", pid), string(environ), "\x00", secret)
}

func TestSetupParticipantsDoNotInheritTheSecret(t *testing.T) {
	t.Parallel()
	url := brokertest.MosquittoURL(t)
	dir := t.TempDir()
	secret := "secret-" + uuid.New()
	graphFile := writeFile(t, "env.fbp", "envnode"+uuid.New()[:8]+"(x/Env)\n")
	cmd := exec.Command(runtimeBinary(t), "setup", "--participants", "--library", envLibrary(t, dir), graphFile)
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url, "MSGFLO_SECRET="+secret)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	checkEnviron(t, "the participant's environment", readWhenThere(t, filepath.Join(dir, "env"), out.String), "\n", secret)
	if !strings.Contains(out.String(), "started envnode") {
		t.Errorf("setup output %q", out.String())
	}
}
