package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
	"github.com/msgflo/msgflo-runtime/participant"
)

const demoFBP = `# @runtime msgflo
INPORT=first.IN:IN
OUTPORT=last.OUT:OUT
first(core/Repeat) OUT -> IN last(core/Repeat)
'not sent until wired' -> IN waiting(core/Repeat) OUT -> IN absent(ext/Absent)
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (c *fbpClient) packetThrough(graphID string, v any) any {
	c.t.Helper()
	c.send("runtime", "packet", map[string]any{"graph": graphID, "port": "in", "event": "data", "payload": v})
	return c.waitFor("runtime", "packet", func(p map[string]any) bool { return p["graph"] == graphID })["payload"]
}

// --graph loads a .fbp file as the main graph and starts it: built-in
// components run in-process, the graph is complete in getsource (also the
// node whose participant is not there), and data flows.
func TestGraphFileIsLoadedAndStarted(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "demo.fbp", demoFBP)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path)
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	c.send("runtime", "getruntime", map[string]any{})
	rt := c.waitFor("runtime", "runtime", nil)
	if rt["graph"] != "demo" {
		t.Fatalf("main graph %v", rt["graph"])
	}
	ports := c.waitFor("runtime", "ports", nil)
	if in := ports["inPorts"].([]any); len(in) != 1 || in[0].(map[string]any)["id"] != "in" {
		t.Fatalf("ports %v", ports)
	}
	c.send("component", "getsource", map[string]any{"name": "demo"})
	src := c.waitFor("component", "source", nil)
	if src["language"] != "json" {
		t.Fatalf("source %v", src)
	}
	g := &graph.Graph{}
	if err := g.UnmarshalJSON([]byte(src["code"].(string))); err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 4 || len(g.Edges) != 2 || len(g.IIPs) != 1 || len(g.Inports) != 1 || len(g.Outports) != 1 || g.Node("absent") == nil {
		t.Fatalf("getsource lost something: %s", src["code"])
	}
	if got := c.packetThrough("demo", map[string]any{"n": 1.0}); got.(map[string]any)["n"] != 1.0 {
		t.Fatalf("packet came out as %v", got)
	}
	p.signalAndWait(t, syscall.SIGTERM)
	log := p.stderrText()
	for _, want := range []string{"node=absent", "expecting a participant with this role to be running", "main graph loaded and started"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestBadGraphFilesStopTheStart(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ file, text, want string }{
		"fbp syntax":   {"bad.fbp", "a(core/Repeat) OUT -> IN b(core/Drop)\nc(core/Repeat) => IN d\n", "line 2, column 16"},
		"fbp contents": {"bad.fbp", "a(core/Repeat) OUT -> IN b\n", `undefined target node "b"`},
		"json syntax":  {"bad.json", "{\n  \"processes\": {\n    \"a\": {\"component\": \"x\"},,\n  }\n}\n", "line 3, column"},
		"missing":      {"", "", "no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "absent.fbp")
			if tc.file != "" {
				path = writeFile(t, tc.file, tc.text)
			}
			cmd := exec.Command(runtimeBinary(t), "--port", "0", "--graph", path)
			cmd.Env = append(os.Environ(), "MSGFLO_BROKER=")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err == nil {
				t.Fatal("started with a bad graph file")
			}
			if !strings.Contains(stderr.String(), path) || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q should name %s and say %q", stderr.String(), path, tc.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("printed %q", stdout.String())
			}
		})
	}
}

// With --auto-save, an acknowledged edit is already in the file, which is
// deterministic JSON; network:persist saves on request; a failed save
// reaches clients.
func TestAutoSave(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "demo.fbp", demoFBP)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path, "--auto-save", "true")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	load := func() *graph.Graph {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		g := &graph.Graph{}
		if err := g.UnmarshalJSON(data); err != nil {
			t.Fatalf("saved file does not load: %v\n%s", err, data)
		}
		again, _ := json.MarshalIndent(g, "", "  ")
		if string(again)+"\n" != string(data) {
			t.Fatalf("saved JSON is not in its deterministic form:\n%s\nvs\n%s", data, again)
		}
		return g
	}
	c.edit("addnode", map[string]any{"id": "extra", "component": "core/Drop", "graph": "demo", "metadata": map[string]any{"x": 10}})
	if g := load(); g.Node("extra") == nil || g.Node("absent") == nil {
		t.Fatal("acknowledged addnode is not in the file")
	}
	c.edit("addedge", map[string]any{"src": map[string]any{"node": "last", "port": "out"}, "tgt": map[string]any{"node": "extra", "port": "in"}, "graph": "demo"})
	c.edit("addgroup", map[string]any{"name": "grp", "nodes": []any{"first", "last"}, "graph": "demo"})
	c.edit("renamenode", map[string]any{"from": "extra", "to": "sink", "graph": "demo"})
	g := load()
	if g.Node("sink") == nil || len(g.Edges) != 3 || len(g.Groups) != 1 || len(g.IIPs) != 1 {
		t.Fatalf("file after edits: nodes %d edges %d groups %d", len(g.Nodes), len(g.Edges), len(g.Groups))
	}
	c.send("runtime", "getruntime", map[string]any{})
	caps := c.waitFor("runtime", "runtime", nil)["capabilities"].([]any)
	found := false
	for _, cp := range caps {
		found = found || cp == "network:persist"
	}
	if !found {
		t.Fatalf("network:persist not offered with a graph file: %v", caps)
	}
	c.send("network", "persist", map[string]any{})
	c.waitFor("network", "persist", nil)

	// Make the next save fail: the file's place is taken by a directory.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Remove(path))
	must(os.Mkdir(path, 0o755))
	must(os.WriteFile(filepath.Join(path, "keep"), nil, 0o644))
	c.send("graph", "addnode", map[string]any{"id": "late", "component": "core/Drop", "graph": "demo"})
	c.waitFor("graph", "addnode", nil) // the edit stands
	errMsg := c.waitFor("network", "error", func(p map[string]any) bool {
		return strings.Contains(p["message"].(string), "Could not save the graph")
	})
	if errMsg["graph"] != "demo" {
		t.Fatalf("network:error %v", errMsg)
	}
	p.signalAndWait(t, syscall.SIGTERM)
	if !strings.Contains(p.stderrText(), "saving the graph failed") {
		t.Fatal("failed save not logged")
	}
}

// --ignore leaves a role to a participant started elsewhere.
func TestIgnoreLeavesTheRoleAlone(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "demo.fbp", demoFBP)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path, "--ignore", "first")
	ws, brokerURL := p.ready(t)
	c := connectFBP(t, ws)
	ctx := context.Background()
	b, err := mqtt.Dial(ctx, brokerURL, mqtt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mark := participant.Component{
		Name:     "core/Repeat",
		Inports:  []participant.Port{{ID: "in"}},
		Outports: []participant.Port{{ID: "out"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			return out.Send("out", json.RawMessage(`{"marked":`+string(in.Data)+`}`))
		},
	}
	defer serveParticipant(t, b, mark, "first", participant.Options{})()
	// If the runtime ran its own "first" as well, every packet would come
	// out twice, once unmarked.
	for i := range 3 {
		got := c.packetThrough("demo", float64(i))
		if m, ok := got.(map[string]any); !ok || m["marked"] != float64(i) {
			t.Fatalf("packet %d came out as %v", i, got)
		}
	}
}
