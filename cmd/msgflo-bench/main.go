// Command msgflo-bench measures a msgflo-runtime binary as clients use it
// (make bench): the getruntime round trip beside the smallest Go FBP
// server's, measured in interleaved rounds of the same run (reference.go),
// the time to build a 200-node chain of core/Repeat with 399 sequential
// edits, the time for a packet to cross the chain once it is started, and
// the runtime's memory with those 200 nodes; with --edits N, the rate of N
// graph:addnode as the graph grows and the time of graph:clear of them. It
// prints figures; it never fails on speed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

func main() {
	bin := flag.String("runtime", "bin/msgflo-runtime", "runtime binary")
	broker := flag.String("broker", "", "broker URL passed to the runtime (empty: embedded)")
	nodes := flag.Int("nodes", 200, "nodes in the chain")
	roundtrips := flag.Int("roundtrips", 5000, "getruntime round trips (and as many of the reference server)")
	runs := flag.Int("runs", 1, "measure this many times, each with a runtime of its own, and print the medians")
	amqpURL := flag.String("throughput", "", "RabbitMQ URL: measure a 3-hop chain of the runtime's core/Repeat nodes against plain amqp091-go relays instead")
	messages := flag.Int("messages", 20000, "messages through the 3-hop chain")
	rounds := flag.Int("rounds", 3, "measurements of each 3-hop chain")
	pprofAddr := flag.String("pprof", "", "start the runtime with --pprof ADDR (loopback) to profile it under load")
	editCount := flag.Int("edits", 0, "measure this many graph:addnode of an external component, then graph:clear, instead")
	editWindow := flag.Int("edit-window", 16, "edits in flight with --edits")
	editSave := flag.Bool("edit-autosave", false, "with --edits: the graph is the main graph, auto-saved to a file")
	reference := flag.Bool("serve-reference", false, "be the reference server the getruntime round trip is compared with (see reference.go)")
	flag.Parse()
	if min(*roundtrips, *nodes, *rounds, *messages) < 1 {
		fmt.Fprintln(os.Stderr, "msgflo-bench: --roundtrips, --nodes, --rounds and --messages must be at least 1")
		os.Exit(2)
	}
	if *reference {
		if err := serveReference(); err != nil {
			fmt.Fprintln(os.Stderr, "msgflo-bench:", err)
			os.Exit(1)
		}
		return
	}
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
	var all []figures
	for range max(*runs, 1) {
		f, err := run(*bin, *broker, *nodes, *roundtrips, *pprofAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "msgflo-bench:", err)
			os.Exit(1)
		}
		all = append(all, f)
	}
	if len(all) > 1 {
		printMedians(all)
	}
}

var ready = regexp.MustCompile(`ready on (ws://\S+)`)

// figures are one run's measurements.
type figures struct {
	// getruntime and reference are the p50 round trips of the runtime and
	// of the reference server, ratio the median of the rounds' ratios
	// (compareGetruntime).
	getruntime, reference time.Duration
	ratio                 float64
	// editMean is the chain's build time per edit; editP50 the median edit.
	editMean, editP50 time.Duration
	mem               memory
}

func run(bin, broker string, nodes, rounds int, pprofAddr string) (figures, error) {
	var f figures
	var flags []string
	if broker != "" {
		flags = append(flags, "--broker", broker)
	}
	if pprofAddr != "" {
		flags = append(flags, "--pprof", pprofAddr)
	}
	addr, pid, stop, err := startRuntime(bin, flags...)
	if err != nil {
		return f, err
	}
	defer func() {
		stop()
		cleanup(broker, nodes)
	}()
	where := "embedded broker"
	if broker != "" {
		where = broker
	}
	fmt.Printf("msgflo-runtime on %s\n", where)

	// What is timed goes through the raw client (see client), the rest
	// through fbpclient, on a connection of its own opened after: only one
	// client is connected at a time, as every acknowledgement goes to every
	// client.
	c, err := dial(addr)
	if err != nil {
		return f, err
	}
	cmp, err := compareGetruntime(c, rounds)
	if err != nil {
		c.conn.Close()
		return f, err
	}
	f.getruntime, f.reference, f.ratio = cmp.p50, cmp.refP50, cmp.ratio
	if f.editMean, f.editP50, err = buildChain(c, nodes); err != nil {
		c.conn.Close()
		return f, err
	}
	c.conn.Close()
	fmt.Printf("  per edit / getruntime round trip: %.2f (mean edit), %.2f (median edit)\n",
		float64(f.editMean)/float64(f.getruntime), float64(f.editP50)/float64(f.getruntime))
	if err := runChain(addr, nodes); err != nil {
		return f, err
	}
	if f.mem, err = memoryOf(pid); err == nil {
		fmt.Printf("  runtime RSS with %d nodes running: %.1f MiB (%.1f MiB its own memory, %.1f MiB pages of the binary)\n", nodes, mib(f.mem.rss), mib(f.mem.anon), mib(f.mem.file))
	}
	return f, nil
}

// buildChain builds the chain with sequential edits, each waiting for its
// reply, and returns the build time per edit and the median edit.
func buildChain(c *client, nodes int) (mean, p50 time.Duration, err error) {
	if err := c.raw(fmt.Appendf(nil, `{"protocol":"graph","command":"clear","payload":{"id":"chain","main":true},"secret":"%s"}`, benchSecret), `{"protocol":"graph","command":"clear"`); err != nil {
		return 0, 0, err
	}
	// The messages are encoded up front, as a client uploading a graph has
	// them ready.
	type edit struct {
		frame []byte
		reply string
	}
	var script []edit
	for i := range nodes {
		script = append(script, edit{fmt.Appendf(nil, `{"protocol":"graph","command":"addnode","payload":{"id":"%s","component":"core/Repeat","graph":"chain"},"secret":"%s"}`, node(i), benchSecret), `{"protocol":"graph","command":"addnode"`})
		if i > 0 {
			script = append(script, edit{fmt.Appendf(nil, `{"protocol":"graph","command":"addedge","payload":{"src":{"node":"%s","port":"out"},"tgt":{"node":"%s","port":"in"},"graph":"chain"},"secret":"%s"}`, node(i-1), node(i), benchSecret), `{"protocol":"graph","command":"addedge"`})
		}
	}
	each := make([]time.Duration, 0, len(script))
	begin := time.Now()
	for _, e := range script {
		t0 := time.Now()
		if err := c.raw(e.frame, e.reply); err != nil {
			return 0, 0, err
		}
		each = append(each, time.Since(t0))
	}
	build := time.Since(begin)
	slices.Sort(each)
	mean, p50 = build/time.Duration(len(script)), each[len(each)/2]
	fmt.Printf("  %d-node chain built with %d sequential edits: %.4f s (%.1f µs per edit; median edit %.1f µs, p90 %.1f µs)\n",
		nodes, len(script), build.Seconds(), us(mean), us(p50), us(each[len(each)*9/10]))
	return mean, p50, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// runChain wires the chain's ends as graph ports, starts it and sends
// packets across.
func runChain(addr string, nodes int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := fbpclient.Dial(ctx, addr, fbpclient.Options{Secret: benchSecret, Placement: fbpclient.SecretTopLevel})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, x := range []struct{ cmd, node, port string }{{"addinport", node(0), "in"}, {"addoutport", node(nodes - 1), "out"}} {
		if err := request(c, "graph", x.cmd, map[string]any{"public": x.port, "node": x.node, "port": x.port, "graph": "chain"}); err != nil {
			return err
		}
	}
	if err := request(c, "network", "edges", map[string]any{"graph": "chain", "edges": []any{}}); err != nil {
		return err
	}
	begin := time.Now()
	if err := request(c, "network", "start", map[string]any{"graph": "chain"}); err != nil {
		return err
	}
	if err := request(c, "runtime", "packet", map[string]any{"graph": "chain", "port": "in", "event": "data", "payload": map[string]any{"hello": "chain"}}); err != nil {
		return err
	}
	if err := waitFor(c, "runtime", "packet", 2*time.Minute); err != nil {
		return fmt.Errorf("packet never crossed the chain: %w", err)
	}
	fmt.Printf("  start + first packet through %d hops: %.3f s (participants start and bindings are made meanwhile)\n", nodes, time.Since(begin).Seconds())
	begin = time.Now()
	const packets = 100
	for i := range packets {
		if err := c.Send("runtime", "packet", map[string]any{"graph": "chain", "port": "in", "event": "data", "payload": i}); err != nil {
			return err
		}
	}
	for range packets {
		if err := waitFor(c, "runtime", "packet", 2*time.Minute); err != nil {
			return err
		}
	}
	fmt.Printf("  %d packets through %d hops: %.3f s (%.0f hops/s)\n", packets, nodes, time.Since(begin).Seconds(), float64(packets*(nodes-1))/time.Since(begin).Seconds())
	return nil
}

// printMedians prints the medians of several runs' figures.
func printMedians(all []figures) {
	med := func(get func(figures) float64) float64 {
		v := make([]float64, len(all))
		for i, f := range all {
			v[i] = get(f)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	fmt.Printf("medians of %d runs:\n", len(all))
	fmt.Printf("  getruntime round trip p50 %.1f µs, reference %.1f µs, ratio (median of rounds) %.2f\n",
		med(func(f figures) float64 { return us(f.getruntime) }), med(func(f figures) float64 { return us(f.reference) }),
		med(func(f figures) float64 { return f.ratio }))
	fmt.Printf("  per edit %.1f µs (median edit %.1f µs): %.2f getruntime round trips (median edit: %.2f)\n",
		med(func(f figures) float64 { return us(f.editMean) }), med(func(f figures) float64 { return us(f.editP50) }),
		med(func(f figures) float64 { return float64(f.editMean) / float64(f.getruntime) }),
		med(func(f figures) float64 { return float64(f.editP50) / float64(f.getruntime) }))
	fmt.Printf("  RSS with the chain running %.1f MiB (%.1f MiB its own memory, %.1f MiB pages of the binary)\n",
		med(func(f figures) float64 { return mib(f.mem.rss) }), med(func(f figures) float64 { return mib(f.mem.anon) }), med(func(f figures) float64 { return mib(f.mem.file) }))
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

// client is the bench's raw WebSocket client: what is timed (getruntime
// round trips of the runtime and of the reference server, the chain's
// edits) is a ready-made frame written and replies read on the caller's
// goroutine. fbpclient reads on a goroutine of its own and hands messages
// over, a goroutine switch per reply that would be counted in every round
// trip, the reference server's too; everything else goes through fbpclient.
type client struct {
	conn *websocket.Conn
}

func dial(addr string) (*client, error) {
	d := websocket.Dialer{Subprotocols: []string{fbpclient.Subprotocol}}
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

// request sends protocol:command and waits for its reply (30 s at most).
func request(c *fbpclient.Client, protocol, command string, payload any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Request(ctx, protocol, command, payload)
	return err
}

// waitFor takes messages until protocol:command arrives; an error or a
// process error ends the wait.
func waitFor(c *fbpclient.Client, protocol, command string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return err
		}
		if m.Is(protocol, command) {
			return nil
		}
		if m.Command == "error" || m.Command == "processerror" {
			return errors.New(m.Protocol + ":" + m.Command + " " + string(m.Payload))
		}
	}
}

// memory is a process's resident memory in KiB: all of it (VmRSS), its
// anonymous memory (heap, stacks) and the pages of files it maps (its
// binary's code and data, shared with other processes running it).
type memory struct{ rss, anon, file int }

func mib(kib int) float64 { return float64(kib) / 1024 }

func memoryOf(pid int) (memory, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memory{}, err
	}
	var m memory
	fields := map[string]*int{"VmRSS:": &m.rss, "RssAnon:": &m.anon, "RssFile:": &m.file}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || fields[f[0]] == nil {
			continue
		}
		if *fields[f[0]], err = strconv.Atoi(f[1]); err != nil {
			return memory{}, err
		}
	}
	if m.rss == 0 {
		return memory{}, errors.New("no VmRSS")
	}
	return m, nil
}
