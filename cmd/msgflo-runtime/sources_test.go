package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Without --allow-setsource, component:setsource is not offered and
// component:source is refused: nothing is written.
func TestSetSourceIsOptIn(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "components")
	lib := writeFile(t, "lib.json", `{"msgflo": {"handlers": {".py": "python3 #FILENAME #ROLE"}}}`)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", dir)
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	c.send("runtime", "getruntime", map[string]any{})
	rt := c.waitFor("runtime", "runtime", nil)
	for _, key := range []string{"capabilities", "allCapabilities"} {
		caps, _ := rt[key].([]any)
		if len(caps) == 0 || slices.Contains(caps, any("component:setsource")) {
			t.Fatalf("%s: %v", key, caps)
		}
	}
	c.send("component", "source", map[string]any{"name": "Evil", "language": "python", "code": "print(1)"})
	if m := <-c.in; m["command"] != "error" || !strings.Contains(m["payload"].(map[string]any)["message"].(string), "not permitted") {
		t.Fatalf("component:source without --allow-setsource: %v", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "Evil.py")); err == nil {
		t.Fatal("the upload was written")
	}
}

// --allow-setsource refuses, at start, a component directory that holds
// the library, a package.json or the graph file.
func TestAllowSetSourceRefusesConfigurationDirs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lib := write("lib.json", `{}`)
	graph := write("main.fbp", "a(core/Repeat)\n")
	other := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"library":              {"--library", lib, "--componentdir", dir},
		"library through link": {"--library", lib, "--componentdir", link},
		"graph":                {"--library", writeFile(t, "l.json", "{}"), "--componentdir", dir, "--graph", graph},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runBinary(t, append([]string{"--port", "0", "--allow-setsource"}, args...)...)
			if err == nil || !strings.Contains(out, "--allow-setsource: the component directory") || !strings.Contains(out, "use a directory of its own") {
				t.Fatalf("err %v, output %q", err, out)
			}
		})
	}
	t.Run("package.json", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(other, "package.json"), []byte(`{}`), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runBinary(t, "--port", "0", "--allow-setsource", "--library", lib, "--componentdir", other)
		if err == nil || !strings.Contains(out, "package.json") {
			t.Fatalf("err %v, output %q", err, out)
		}
	})
}

// With --componentdir sub/parts, a participant process runs in the
// runtime's working directory and #FILENAME names its file from there (as
// msgflo).
func TestNestedComponentDir(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	parts := filepath.Join(work, "sub", "parts")
	if err := os.MkdirAll(parts, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "where")
	script := "pwd > " + out + ".tmp; echo \"$0\" >> " + out + ".tmp; mv " + out + ".tmp " + out + "; exec sleep 600\n"
	if err := os.WriteFile(filepath.Join(parts, "Where.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := writeFile(t, "lib.json", `{"handlers": {".sh": "sh #FILENAME #ROLE"}}`)
	gf := writeFile(t, "g.fbp", "w(Where)\n")
	p := startIn(t, work, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", "sub/parts", "--graph", gf, "--wait-timeout", "600")
	p.ready(t)
	data := waitFile(t, out)
	if want := work + "\nsub/parts/Where.sh\n"; string(data) != want {
		t.Fatalf("the participant saw %q, want %q\n%s", data, want, p.stderrText())
	}
	p.signalAndWait(t, syscall.SIGTERM)
}

// waitFile waits for a participant to write path (it writes another name
// and renames it, so what exists is complete).
func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			return data
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written within 30 s", path)
		}
		time.Sleep(20 * time.Millisecond) // polling the file the participant writes
	}
}

// A library component's file goes only to clients with the secret, even
// when anonymous clients may use getsource.
func TestLibrarySourceNeedsFullAccess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Worker.py"), []byte("API_KEY = 's3cr3t'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := writeFile(t, "lib.json", `{"handlers": {".py": "python3 #FILENAME #ROLE"}}`)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", dir,
		"--secret", "S3", "--anonymous-capabilities", "protocol:runtime,protocol:component,component:getsource")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	ask := func(secret string) map[string]any {
		msg := map[string]any{"protocol": "component", "command": "getsource", "payload": map[string]any{"name": "Worker"}}
		if secret != "" {
			msg["secret"] = secret
		}
		c.writeJSON(msg)
		select {
		case m := <-c.in:
			return m
		case <-time.After(30 * time.Second):
			t.Fatal("no answer to getsource")
			return nil
		}
	}
	if m := ask(""); m["command"] != "error" || !strings.Contains(m["payload"].(map[string]any)["message"].(string), "full access") {
		t.Fatalf("anonymous getsource of a library file: %v", m)
	}
	if m := ask("S3"); m["command"] != "source" || m["payload"].(map[string]any)["code"] != "API_KEY = 's3cr3t'\n" {
		t.Fatalf("getsource with the secret: %v", m)
	}
}
