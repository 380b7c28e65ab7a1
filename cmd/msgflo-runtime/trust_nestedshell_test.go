package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// #19 "Nested shells re-parse values": a library command sh -c 'echo
// #ROLE …' with the node id a$(touch${IFS}PWNED1), and bash -c "echo
// #IIPS" with the initial packet "$(touch PWNED2)", created both files:
// the values were quoted for the outer shell only. Now the runtime refuses
// to start with such a library, naming the component and the placeholder;
// quoted for both levels, the same id and packet reach the program as
// they are, and no file is created. Seen failing on the binary of main
// before the library read templates with a shell parser: it started, and
// PWNED1 and PWNED2 appeared.
func TestTrustNestedShellsDoNotReparseValues(t *testing.T) {
	for component, tmpl := range map[string]string{
		"x/Role": `sh -c 'echo #ROLE; exec sleep 600'`,
		"x/IIPs": `bash -c "echo #IIPS; exec sleep 600"`,
	} {
		lib := writeFile(t, "lib.json", mustJSON(map[string]any{"components": map[string]string{component: tmpl}}))
		out, err := runBinary(t, "--port", "0", "--library", lib)
		if err == nil || !strings.Contains(out, "component "+component+": #") || !strings.Contains(out, "nested shell") {
			t.Errorf("%s: %v, output %q", tmpl, err, out)
		}
	}

	dir := t.TempDir()
	roleOut, iipsOut := filepath.Join(dir, "role.out"), filepath.Join(dir, "iips.out")
	lib := writeFile(t, "lib.json", mustJSON(map[string]any{"components": map[string]string{
		"x/Role": `sh -c "printf '%s' '#ROLE' > ` + roleOut + `.tmp; mv ` + roleOut + `.tmp ` + roleOut + `; exec sleep 600"`,
		"x/IIPs": `bash -c 'printf "%s" "#IIPS" > ` + iipsOut + `.tmp; mv ` + iipsOut + `.tmp ` + iipsOut + `; exec sleep 600'`,
	}}))
	const id, packet = "a$(touch${IFS}PWNED1)", "$(touch PWNED2)"
	gf := writeFile(t, "nested.json", mustJSON(map[string]any{
		"processes":   map[string]any{id: map[string]any{"component": "x/Role"}, "i": map[string]any{"component": "x/IIPs"}},
		"connections": []any{map[string]any{"data": packet, "tgt": map[string]any{"process": "i", "port": "in"}}},
	}))
	p := startIn(t, dir, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", "", "--graph", gf, "--wait-timeout", "600")
	p.ready(t)
	want := map[string]string{roleOut: "a__touch__IFS_PWNED1_", iipsOut: `{"in":"` + packet + `"}`}
	deadline := time.Now().Add(30 * time.Second)
	for path, w := range want {
		for {
			data, err := os.ReadFile(path)
			if err == nil {
				if string(data) != w {
					t.Errorf("%s: %q, want %q", filepath.Base(path), data, w)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 30 s\n%s", filepath.Base(path), p.stderrText())
			}
			time.Sleep(20 * time.Millisecond) // polling the file the participant writes
		}
	}
	p.signalAndWait(t, syscall.SIGTERM)
	for _, f := range []string{"PWNED1", "PWNED2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a nested shell ran a value: %s exists", f)
		}
	}
}
