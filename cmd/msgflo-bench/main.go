// Command msgflo-bench measures a msgflo-runtime binary as clients use it
// (make bench): the time to build a 200-node chain of core/Repeat with 399
// sequential edits, the getruntime round trip, the time for a packet to
// cross the chain once it is started, and the runtime's memory with those
// 200 nodes; with --edits N, the rate of N graph:addnode as the graph
// grows and the time of graph:clear of them. It prints figures; it never
// fails on speed.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
)

func main() {
	bin := flag.String("runtime", "bin/msgflo-runtime", "runtime binary")
	broker := flag.String("broker", "", "broker URL passed to the runtime (empty: embedded)")
	nodes := flag.Int("nodes", 200, "nodes in the chain")
	roundtrips := flag.Int("roundtrips", 5000, "getruntime round trips")
	amqpURL := flag.String("throughput", "", "RabbitMQ URL: measure a 3-hop chain of the runtime's core/Repeat nodes against plain amqp091-go relays instead")
	messages := flag.Int("messages", 20000, "messages through the 3-hop chain")
	rounds := flag.Int("rounds", 3, "measurements of each 3-hop chain")
	pprofAddr := flag.String("pprof", "", "start the runtime with --pprof ADDR (loopback) to profile it under load")
	editCount := flag.Int("edits", 0, "measure this many graph:addnode of an external component, then graph:clear, instead")
	editWindow := flag.Int("edit-window", 16, "edits in flight with --edits")
	editSave := flag.Bool("edit-autosave", false, "with --edits: the graph is the main graph, auto-saved to a file")
	flag.Parse()
	if *editCount > 0 {
		if err := edits(*bin, *editCount, *editWindow, *editSave, *pprofAddr); err != nil {
			fmt.Fprintln(os.Stderr, "msgflo-bench:", err)
			os.Exit(1)
		}
		return
	}
	if *amqpURL != "" {
		if err := throughput(*bin, *amqpURL, *messages, *rounds, *pprofAddr); err != nil {
			fmt.Fprintln(os.Stderr, "msgflo-bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*bin, *broker, *nodes, *roundtrips); err != nil {
		fmt.Fprintln(os.Stderr, "msgflo-bench:", err)
		os.Exit(1)
	}
}

var ready = regexp.MustCompile(`ready on (ws://\S+)`)

func run(bin, broker string, nodes, rounds int) error {
	var flags []string
	if broker != "" {
		flags = append(flags, "--broker", broker)
	}
	addr, pid, stop, err := startRuntime(bin, flags...)
	if err != nil {
		return err
	}
	defer func() {
		stop()
		cleanup(broker, nodes)
	}()
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.conn.Close()
	c.secret = benchSecret
	where := "embedded broker"
	if broker != "" {
		where = broker
	}
	fmt.Printf("msgflo-runtime on %s\n", where)

	// getruntime round trips, on raw frames so that the client's own JSON
	// work is not counted.
	lat := make([]time.Duration, 0, rounds)
	getruntime := []byte(`{"protocol":"runtime","command":"getruntime","payload":{},"secret":"` + benchSecret + `"}`)
	for range rounds {
		t0 := time.Now()
		if err := c.raw(getruntime, `{"protocol":"runtime","command":"runtime"`); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("  getruntime round trip over %d requests: p50 %d µs, p90 %d µs, p99 %d µs\n", rounds,
		lat[len(lat)/2].Microseconds(), lat[len(lat)*9/10].Microseconds(), lat[len(lat)*99/100].Microseconds())

	// Build the chain: clear, then 399 edits each waiting for its reply.
	if _, err := c.request("graph", "clear", map[string]any{"id": "chain", "main": true}, "clear"); err != nil {
		return err
	}
	edits := 0
	// The messages are encoded up front, as a client uploading a graph has
	// them ready.
	var script [][]byte
	for i := range nodes {
		script = append(script, fmt.Appendf(nil, `{"protocol":"graph","command":"addnode","payload":{"id":"%s","component":"core/Repeat","graph":"chain"},"secret":"%s"}`, node(i), benchSecret))
		if i > 0 {
			script = append(script, fmt.Appendf(nil, `{"protocol":"graph","command":"addedge","payload":{"src":{"node":"%s","port":"out"},"tgt":{"node":"%s","port":"in"},"graph":"chain"},"secret":"%s"}`, node(i-1), node(i), benchSecret))
		}
	}
	begin := time.Now()
	for _, m := range script {
		want := `{"protocol":"graph","command":"addnode"`
		if bytes.Contains(m, []byte(`"addedge"`)) {
			want = `{"protocol":"graph","command":"addedge"`
		}
		if err := c.raw(m, want); err != nil {
			return err
		}
		edits++
	}
	build := time.Since(begin)
	fmt.Printf("  %d-node chain built with %d sequential edits: %.4f s (%.1f µs per edit)\n", nodes, edits, build.Seconds(), float64(build.Microseconds())/float64(edits))

	// Wire it and send a packet across.
	for _, x := range []struct{ cmd, node, port string }{{"addinport", node(0), "in"}, {"addoutport", node(nodes - 1), "out"}} {
		c.send("graph", x.cmd, map[string]any{"public": x.port, "node": x.node, "port": x.port, "graph": "chain"})
	}
	if _, err := c.request("network", "edges", map[string]any{"graph": "chain", "edges": []any{}}, "edges"); err != nil {
		return err
	}
	begin = time.Now()
	if _, err := c.request("network", "start", map[string]any{"graph": "chain"}, "started"); err != nil {
		return err
	}
	if _, err := c.request("runtime", "packet", map[string]any{"graph": "chain", "port": "in", "event": "data", "payload": map[string]any{"hello": "chain"}}, "packetsent"); err != nil {
		return err
	}
	if _, err := c.wait("runtime", "packet", 120*time.Second); err != nil {
		return fmt.Errorf("packet never crossed the chain: %w", err)
	}
	fmt.Printf("  start + first packet through %d hops: %.3f s (participants start and bindings are made meanwhile)\n", nodes, time.Since(begin).Seconds())
	begin = time.Now()
	const packets = 100
	for i := range packets {
		c.send("runtime", "packet", map[string]any{"graph": "chain", "port": "in", "event": "data", "payload": i})
	}
	for range packets {
		if _, err := c.wait("runtime", "packet", 120*time.Second); err != nil {
			return err
		}
	}
	fmt.Printf("  %d packets through %d hops: %.3f s (%.0f hops/s)\n", packets, nodes, time.Since(begin).Seconds(), float64(packets*(nodes-1))/time.Since(begin).Seconds())

	rss, err := rssKiB(pid)
	if err == nil {
		fmt.Printf("  runtime RSS with %d nodes running: %.1f MiB\n", nodes, float64(rss)/1024)
	}

	return nil
}

// prefix makes this run's node names (queues on RabbitMQ) its own.
var prefix = "bench" + uuid.New()[:6] + "n"

func node(i int) string { return fmt.Sprintf("%s%03d", prefix, i) }

// cleanup deletes the durable queues and exchanges the chain left on
// RabbitMQ (its participants were stopped with the runtime).
func cleanup(broker string, nodes int) {
	if !strings.HasPrefix(broker, "amqp") {
		return
	}
	b, err := msgamqp.Dial(context.Background(), broker, msgamqp.Options{Logger: zerolog.Nop()})
	if err != nil {
		return
	}
	defer b.Close()
	var names []string
	for i := range nodes {
		names = append(names, node(i)+".IN", node(i)+".OUT")
	}
	_ = b.Delete(context.Background(), names...)
}

type client struct {
	conn    *websocket.Conn
	secret  string
	pending []msg
}

type msg struct {
	Protocol string          `json:"protocol"`
	Command  string          `json:"command"`
	Payload  json.RawMessage `json:"payload"`
}

func dial(addr string) (*client, error) {
	d := websocket.Dialer{Subprotocols: []string{"noflo"}}
	conn, _, err := d.Dial(addr, nil)
	if err != nil {
		return nil, err
	}
	return &client{conn: conn}, nil
}

// raw sends a ready-made frame and reads frames until one starts with
// prefix; an error reply ends it.
func (c *client) raw(frame []byte, prefix string) error {
	if err := c.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return err
	}
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(data, []byte(prefix)) {
			return nil
		}
		if bytes.Contains(data, []byte(`"command":"error"`)) {
			return errors.New(string(data))
		}
	}
}

func (c *client) send(protocol, command string, payload any) {
	_ = c.conn.WriteJSON(map[string]any{"protocol": protocol, "command": command, "payload": payload, "secret": c.secret})
}

func (c *client) request(protocol, command string, payload any, reply string) (msg, error) {
	c.send(protocol, command, payload)
	return c.wait(protocol, reply, 30*time.Second)
}

// wait reads until protocol:command arrives, keeping other messages except
// errors, which end the wait.
func (c *client) wait(protocol, command string, limit time.Duration) (msg, error) {
	for i, m := range c.pending {
		if m.Protocol == protocol && m.Command == command {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return m, nil
		}
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(limit))
	for {
		var m msg
		if err := c.conn.ReadJSON(&m); err != nil {
			return msg{}, err
		}
		if m.Protocol == protocol && m.Command == command {
			return m, nil
		}
		if m.Command == "error" || m.Command == "processerror" {
			return msg{}, errors.New(m.Protocol + ":" + m.Command + " " + string(m.Payload))
		}
		if m.Protocol == "runtime" && m.Command == "packet" || m.Protocol == "runtime" && m.Command == "ports" {
			c.pending = append(c.pending, m)
		}
	}
}

func rssKiB(pid int) (int, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strconv.Atoi(strings.Fields(line)[1])
		}
	}
	return 0, errors.New("no VmRSS")
}
