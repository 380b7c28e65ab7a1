package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
)

// status --address ws://… [--secret S] [--graph G] [--watch]: the runtime's
// identity, its graph's state and nodes (the participants serving them)
// and edges, once or refreshed every --interval with --watch.

func statusMain(_ string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags("status", "--address ws://HOST:PORT [--secret S] [--graph G] [--watch]", stderr)
	address := t.String("address", "ws://localhost:3569", "WebSocket address of the runtime")
	secret := t.String("secret", getenv("MSGFLO_SECRET"), "the runtime's secret (default $MSGFLO_SECRET)")
	graphID := t.String("graph", "", "graph to show (default: the runtime's main graph)")
	watch := t.Bool("watch", false, "refresh until interrupted")
	interval := t.Duration("interval", 2*time.Second, "refresh period with --watch")
	timeout := t.Duration("timeout", 10*time.Second, "how long to wait for the runtime's answers")
	pos, code, ok := t.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 0 || *interval <= 0 {
		t.Usage()
		return 2
	}
	c, err := dialRuntime(*address, *secret, *timeout)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer c.conn.Close()
	if !*watch {
		if err := printStatus(c, *address, *graphID, stdout); err != nil {
			return t.fail(1, "%v", err)
		}
		return 0
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		fmt.Fprint(stdout, "\x1b[H\x1b[2J") // clear the terminal
		if err := printStatus(c, *address, *graphID, stdout); err != nil {
			return t.fail(1, "%v", err)
		}
		select {
		case <-sigc:
			return 0
		case <-tick.C:
		}
	}
}

// statusGraph is the part of a JSON graph the status shows.
type statusGraph struct {
	Processes map[string]struct {
		Component string `json:"component"`
	} `json:"processes"`
	Connections []struct {
		Data any `json:"data"`
		Src  *struct {
			Process string `json:"process"`
			Port    string `json:"port"`
		} `json:"src"`
		Tgt struct {
			Process string `json:"process"`
			Port    string `json:"port"`
		} `json:"tgt"`
	} `json:"connections"`
}

func printStatus(c *runtimeClient, address, graphID string, out io.Writer) error {
	rt, err := c.ask("runtime", "getruntime", map[string]any{}, "runtime")
	if err != nil {
		return err
	}
	id, _ := rt["id"].(string)
	label, _ := rt["label"].(string)
	fmt.Fprintf(out, "runtime %s (%s) at %s\n", id, label, address)
	if graphID == "" {
		if graphID, _ = rt["graph"].(string); graphID == "" {
			fmt.Fprintln(out, "no main graph")
			return nil
		}
	}
	st, err := c.ask("network", "getstatus", map[string]any{"graph": graphID}, "status")
	if err != nil {
		return err
	}
	src, err := c.ask("component", "getsource", map[string]any{"name": graphID}, "source")
	if err != nil {
		return err
	}
	code, _ := src["code"].(string)
	var g statusGraph
	if err := json.Unmarshal([]byte(code), &g); err != nil {
		return fmt.Errorf("graph %s: %w", graphID, err)
	}
	edges, iips := 0, 0
	for _, e := range g.Connections {
		if e.Src != nil {
			edges++
		} else {
			iips++
		}
	}
	started, _ := st["started"].(bool)
	running, _ := st["running"].(bool)
	fmt.Fprintf(out, "graph %s: started %v, running %v; %d nodes, %d edges, %d initial packets\n", graphID, started, running, len(g.Processes), edges, iips)
	nodes := make([]string, 0, len(g.Processes))
	for n := range g.Processes {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	fmt.Fprintf(out, "\n%-30s %s\n", "NODE", "COMPONENT")
	for _, n := range nodes {
		fmt.Fprintf(out, "%-30s %s\n", n, g.Processes[n].Component)
	}
	if edges > 0 {
		fmt.Fprintln(out, "\nEDGES")
		for _, e := range g.Connections {
			if e.Src != nil {
				fmt.Fprintf(out, "%s.%s -> %s.%s\n", e.Src.Process, e.Src.Port, e.Tgt.Process, e.Tgt.Port)
			}
		}
	}
	return nil
}
