package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	graphmodel "github.com/msgflo/msgflo-runtime/graph"
)

// Node ids (as their roles) and initial packets from a graph file reach the participant
// process as the literal words they are: no shell runs any of them, and an
// id that would be an option of the program starts nothing.
func TestHostileIdsAndPacketsReachParticipantsLiterally(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwned := filepath.Join(dir, "PWNED")
	out := filepath.Join(dir, "args")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// The participant writes its arguments, NUL-terminated, to a new file.
	lib := writeFile(t, "lib.json", mustJSON(map[string]any{"components": map[string]string{
		"Args": `sh -c 'f=$(mktemp -p ` + out + `); printf "%s\0" "$@" > "$f"; mv "$f" "$f.done"; exec sleep 600' argv0 --role #ROLE --iips #IIPS`,
	}}))
	touch := "touch " + pwned
	ids := []string{
		"a$(" + touch + ")", "b`" + touch + "`", "c;" + touch, "d && " + touch, "e\n" + touch,
		"f' ; " + touch + " ; echo '", `g" ; ` + touch + ` ; echo "`, "h | " + touch, "ünï ☃ 'x'", "#IIPS",
	}
	graph := map[string]any{"processes": map[string]any{}, "connections": []any{}}
	// Ids that are not safe queue names run under escaped roles.
	roles := graphmodel.New("hostile")
	for _, id := range ids {
		if _, err := roles.AddNode(id, "Args", nil); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{} // role -> its IIPs as JSON
	for i, id := range ids {
		graph["processes"].(map[string]any)[id] = map[string]any{"component": "Args"}
		data := "x' ; " + touch + " ; echo '" + ids[(i+1)%len(ids)]
		graph["connections"] = append(graph["connections"].([]any), map[string]any{"data": data, "tgt": map[string]any{"process": id, "port": "in"}})
		js, _ := json.Marshal(map[string]any{"in": data})
		want[roles.Role(id)] = string(js)
	}
	graph["processes"].(map[string]any)["-x"] = map[string]any{"component": "Args"}
	gf := writeFile(t, "hostile.json", mustJSON(graph))
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", "", "--graph", gf, "--wait-timeout", "600")
	p.ready(t)

	got := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(ids) {
		if time.Now().After(deadline) {
			t.Fatalf("participants started: %d of %d: %v\n%s", len(got), len(ids), got, p.stderrText())
		}
		time.Sleep(20 * time.Millisecond) // polling the files the participants write
		files, _ := os.ReadDir(out)
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".done") {
				continue // not written yet
			}
			data, err := os.ReadFile(filepath.Join(out, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			args := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
			if len(args) != 4 || args[0] != "--role" || args[2] != "--iips" {
				t.Fatalf("participant arguments %q", args)
			}
			got[args[1]] = args[3]
		}
	}
	for _, id := range ids {
		if role := roles.Role(id); got[role] != want[role] {
			t.Errorf("role %q (node %q) got initial packets %q, want %q", role, id, got[role], want[role])
		}
	}
	if !strings.Contains(p.stderrText(), `#ROLE \"-x\": a value may not start with '-'`) {
		t.Errorf("the id -x was not refused:\n%s", p.stderrText())
	}
	p.signalAndWait(t, syscall.SIGTERM)
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a shell ran a node id or an initial packet")
	}
}
