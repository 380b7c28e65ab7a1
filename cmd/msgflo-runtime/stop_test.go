package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Clearing a graph stops its participant processes: SIGTERM to each, and
// SIGKILL (after the 5 s grace) for one that ignores SIGTERM.
func TestClearStopsProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+text), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// Ignored signals stay ignored across exec: sleep ignores SIGTERM too.
	// (exec: the shell running the command is the participant itself.)
	stubborn := script("stubborn.sh", "trap '' TERM\nexec sleep 600\n")
	polite := script("polite.sh", "exec sleep 600\n")
	lib := writeFile(t, "library.json", mustJSON(map[string]any{
		"components": map[string]string{
			"procs/Stubborn": "exec " + stubborn + " #ROLE",
			"procs/Polite":   "exec " + polite + " #ROLE",
		},
	}))
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", "", "--wait-timeout", "1")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	c.edit("clear", map[string]any{"id": "g", "main": true})
	c.edit("addnode", map[string]any{"id": "stubborn", "component": "procs/Stubborn", "graph": "g"})
	c.edit("addnode", map[string]any{"id": "polite", "component": "procs/Polite", "graph": "g"})
	// Neither announces itself: once both are reported, both run.
	reported := map[any]bool{}
	c.waitFor("network", "processerror", func(m map[string]any) bool {
		reported[m["id"]] = true
		return reported["stubborn"] && reported["polite"]
	})
	pids := pidsOf(p)
	for _, role := range []string{"stubborn", "polite"} {
		if pids[role] == 0 || !alive(pids[role]) {
			t.Fatalf("process of %s not running: %v", role, pids)
		}
	}
	c.edit("clear", map[string]any{"id": "g", "main": true})
	// Each process leads its own group: the whole group goes.
	waitGone(t, -pids["polite"])
	waitGone(t, -pids["stubborn"])
}
