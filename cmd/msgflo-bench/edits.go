package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// edits measures graph edits as a graph grows: n graph:addnode of a
// component the runtime neither runs in-process nor finds in its library
// (served by external participants: nothing is started), then graph:clear
// of them. The client keeps window requests in flight, as an editor
// uploading a graph does. With autoSave the graph is the main graph, saved
// to a file after every edit (--graph --auto-save), each acknowledgement
// held until its save is on disk.
func edits(bin string, n, window int, autoSave bool, pprofAddr string) error {
	var flags []string
	if pprofAddr != "" {
		flags = append(flags, "--pprof", pprofAddr)
	}
	mode := "no graph file"
	if autoSave {
		dir, err := os.MkdirTemp("", "msgflo-bench-edits")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		file := filepath.Join(dir, "main.json")
		if err := os.WriteFile(file, []byte(`{"properties":{"name":"main"},"processes":{},"connections":[]}`+"\n"), 0o600); err != nil {
			return err
		}
		flags = append(flags, "--graph", file, "--auto-save")
		mode = "main graph, --auto-save"
	}
	addr, _, stop, err := startRuntime(bin, flags...)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := fbpclient.Dial(ctx, addr, fbpclient.Options{Secret: benchSecret, Placement: fbpclient.SecretTopLevel})
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	const g = "edits"
	if err := request(c, "graph", "clear", map[string]any{"id": g, "main": autoSave}); err != nil {
		return err
	}
	fmt.Printf("edits (embedded broker, %s): %d graph:addnode of an external component, %d in flight\n", mode, n, window)
	block := max(n/10, 1)
	start := time.Now()
	blockStart := start
	sent, acked := 0, 0
	slowest := 0.0
	for acked < n {
		for sent < n && sent-acked < window {
			if err := c.Send("graph", "addnode", map[string]any{"graph": g, "id": fmt.Sprintf("n%06d", sent), "component": "bench/External"}); err != nil {
				return err
			}
			sent++
		}
		if err := waitFor(c, "graph", "addnode", 60*time.Second); err != nil {
			return fmt.Errorf("addnode %d: %w", acked, err)
		}
		acked++
		if acked%block == 0 {
			rate := float64(block) / time.Since(blockStart).Seconds()
			if slowest == 0 || rate < slowest {
				slowest = rate
			}
			fmt.Printf("  nodes %6d..%6d: %8.0f edits/s\n", acked-block, acked, rate)
			blockStart = time.Now()
		}
	}
	total := time.Since(start)
	fmt.Printf("  %d addnodes in %v: %.0f edits/s overall, slowest tenth %.0f edits/s\n", n, total.Round(time.Millisecond), float64(n)/total.Seconds(), slowest)
	t := time.Now()
	if err := request(c, "graph", "clear", map[string]any{"id": g, "main": autoSave}); err != nil {
		return err
	}
	fmt.Printf("  graph:clear of %d nodes: %v\n", n, time.Since(t).Round(time.Microsecond))
	// The runtime still answers edits after the clear.
	if err := request(c, "graph", "addnode", map[string]any{"graph": g, "id": "after", "component": "bench/External"}); err != nil {
		return errors.New("addnode after clear: " + err.Error())
	}
	return nil
}
