package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/msgflo/msgflo-runtime/runtime"
)

// status --address ws://… [--secret S] [--graph G] [--watch]: the runtime's
// identity, its graph's state and nodes (the participants serving them)
// and edges, and the participants table and last errors of the status
// page (GET /status.json), once or refreshed every --interval with --watch.

func statusMain(_ string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags("status", "--address ws://HOST:PORT [--secret S] [--graph G] [--watch]", getenv, stderr)
	rf := newRuntimeFlags(t, "graph to show", 10*time.Second)
	address, graphID := rf.address, rf.graph
	watch := t.Bool("watch", false, "refresh until interrupted")
	interval := t.Duration("interval", 2*time.Second, "refresh period with --watch")
	pos, code, ok := t.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 0 || *interval <= 0 {
		t.Usage()
		return 2
	}
	c, err := rf.dial()
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer c.Close()
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

// printStatus prints what the runtime tells of a graph. Names and messages
// come from clients and participants: oneLine keeps their control
// characters off the terminal.
func printStatus(c *runtimeClient, address, graphID string, out io.Writer) error {
	rt, err := c.ask("runtime", "getruntime", map[string]any{}, "runtime")
	if err != nil {
		return err
	}
	id, _ := rt["id"].(string)
	label, _ := rt["label"].(string)
	fmt.Fprintf(out, "runtime %s (%s) at %s\n", oneLine(id), oneLine(label), address)
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
	// What the FBP protocol does not tell: the status page's data. A
	// runtime without it (msgflo's coordinator) still gets the rest.
	ov, ovErr := fetchOverview(address, c.secret, c.timeout)
	states := map[string]string{}
	for _, og := range ov.Graphs {
		if og.ID == graphID {
			for _, n := range og.Nodes {
				states[n.ID] = n.State
			}
		}
	}
	started, _ := st["started"].(bool)
	running, _ := st["running"].(bool)
	fmt.Fprintf(out, "graph %s: started %v, running %v; %d nodes, %d edges, %d initial packets\n", oneLine(graphID), started, running, len(g.Processes), edges, iips)
	nodes := make([]string, 0, len(g.Processes))
	for n := range g.Processes {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	fmt.Fprintf(out, "\n%-30s %-30s %s\n", "NODE", "COMPONENT", "STATE")
	for _, n := range nodes {
		fmt.Fprintf(out, "%-30s %-30s %s\n", oneLine(n), oneLine(g.Processes[n].Component), states[n])
	}
	if edges > 0 {
		fmt.Fprintln(out, "\nEDGES")
		for _, e := range g.Connections {
			if e.Src != nil {
				fmt.Fprintf(out, "%s.%s -> %s.%s\n", oneLine(e.Src.Process), oneLine(e.Src.Port), oneLine(e.Tgt.Process), oneLine(e.Tgt.Port))
			}
		}
	}
	if ovErr != nil {
		fmt.Fprintf(out, "\nparticipants: not available (%v)\n", ovErr)
		return nil
	}
	printParticipants(ov, out)
	return nil
}

// fetchOverview gets the status page's data from the runtime at a ws://
// or wss:// address.
func fetchOverview(address, secret string, timeout time.Duration) (runtime.Overview, error) {
	var ov runtime.Overview
	u, err := url.Parse(address)
	if err != nil {
		return ov, fmt.Errorf("address %s: %w", address, err)
	}
	u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
	u.Path, u.RawQuery, u.Fragment = "/status.json", "", ""
	req, err := http.NewRequest("GET", u.String(), nil)
	if err != nil {
		return ov, err
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	res, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return ov, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return ov, fmt.Errorf("GET %s: %s", u.Path, res.Status)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<20)).Decode(&ov); err != nil {
		return ov, fmt.Errorf("GET %s: %w", u.Path, err)
	}
	return ov, nil
}

// printParticipants prints the participants table and the last errors.
func printParticipants(ov runtime.Overview, out io.Writer) {
	fmt.Fprintf(out, "\n%-24s %-24s %-10s %-10s %-9s %s\n", "ROLE", "COMPONENT", "STATE", "HEARD", "HEARTBEAT", "PROCESS")
	for _, p := range ov.Participants {
		heard, heartbeat, proc := "-", "-", "-"
		if p.LastHeard != nil {
			heard = ov.Now.Sub(*p.LastHeard).Round(time.Second).String() + " ago"
		}
		if p.Heartbeat > 0 {
			heartbeat = strconv.FormatFloat(p.Heartbeat, 'f', 1, 64) + "s"
		}
		switch {
		case p.InProcess:
			proc = "in-process"
		case p.PID != 0 && p.ExitCode != nil:
			proc = fmt.Sprintf("pid %d, exited with code %d", p.PID, *p.ExitCode)
		case p.PID != 0:
			proc = fmt.Sprintf("pid %d", p.PID)
		case p.ExitCode != nil:
			proc = "could not start"
		}
		fmt.Fprintf(out, "%-24s %-24s %-10s %-10s %-9s %s\n", oneLine(p.Role), oneLine(p.Component), p.State, heard, heartbeat, proc)
	}
	if len(ov.Errors) == 0 {
		return
	}
	fmt.Fprintln(out, "\nLAST ERRORS")
	for _, e := range ov.Errors[max(0, len(ov.Errors)-statusErrors):] {
		fmt.Fprintf(out, "%s %s %s: %s\n", e.Time.Local().Format(time.TimeOnly), oneLine(e.Graph), oneLine(e.Node), oneLine(e.Message))
	}
}

// statusErrors is how many of the last errors status prints.
const statusErrors = 5
