package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// benchSecret is the secret the bench starts the runtime with and presents.
var benchSecret = "bench-" + uuid.New()

// startRuntime starts bin with the bench's secret and the given extra flags
// and returns the WebSocket address it serves. stop ends it.
func startRuntime(bin string, extra ...string) (addr string, pid int, stop func(), err error) {
	// The runtime's own log level (info): its log goes to a file, as a
	// service's log goes to a file or the journal, not into the figures'
	// output.
	args := append([]string{"--port", "0", "--secret", benchSecret}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER=", "CLOUDAMQP_URL=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	logFile, err := os.CreateTemp("", "msgflo-bench-runtime-*.log")
	if err != nil {
		return "", 0, nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = os.Remove(logFile.Name())
	}
	failed := func(why string) error {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		return fmt.Errorf("%s (its log: %s)", why, logFile.Name())
	}
	found := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		sent := false
		for {
			line, err := r.ReadString('\n')
			if m := ready.FindStringSubmatch(line); m != nil && !sent {
				found <- m[1]
				sent = true
			}
			if err != nil {
				if !sent {
					close(found)
				}
				_, _ = io.Copy(io.Discard, r)
				return
			}
		}
	}()
	select {
	case a, ok := <-found:
		if !ok {
			return "", 0, nil, failed("runtime exited before it was ready")
		}
		return a, cmd.Process.Pid, stop, nil
	case <-time.After(30 * time.Second):
		return "", 0, nil, failed("runtime not ready after 30 s")
	}
}

// runtimeHops builds a 3-node chain of core/Repeat in the runtime binary
// through the FBP protocol, as any client would (graph:clear, addnode,
// addedge, network:start, with an empty edge selection so that no edge is
// tapped), and a sink queue bound to the last node's outport. The producer
// publishes into the first node's inport queue.
func runtimeHops(bin string, persistent bool, pprofAddr string) hopsFunc {
	return func(ctx context.Context, url string, ch *amqp.Channel) (string, string, func(), error) {
		flags := []string{"--broker", url}
		if !persistent {
			flags = append(flags, "--persistent-messages=false")
		}
		if pprofAddr != "" {
			flags = append(flags, "--pprof", pprofAddr)
		}
		addr, _, stopRuntime, err := startRuntime(bin, flags...)
		if err != nil {
			return "", "", nil, err
		}
		prefix := "bench" + uuid.New()[:6] + "r"
		nodes := []string{prefix + "1", prefix + "2", prefix + "3"}
		sink := prefix + ".sink"
		stop := func() {
			stopRuntime()
			b, err := msgamqp.Dial(context.Background(), url, msgamqp.Options{Logger: zerolog.Nop()})
			if err != nil {
				return
			}
			defer b.Close()
			names := []string{sink}
			for _, n := range nodes {
				names = append(names, n+".IN", n+".OUT")
			}
			_ = b.Delete(context.Background(), names...)
		}
		fail := func(err error) (string, string, func(), error) {
			stop()
			return "", "", nil, err
		}
		c, err := fbpclient.Dial(ctx, addr, fbpclient.Options{Secret: benchSecret, Placement: fbpclient.SecretTopLevel})
		if err != nil {
			return fail(err)
		}
		defer c.Close()
		const g = "throughput"
		if err := request(c, "graph", "clear", map[string]any{"id": g, "main": true}); err != nil {
			return fail(err)
		}
		for i, n := range nodes {
			if err := request(c, "graph", "addnode", map[string]any{"id": n, "component": "core/Repeat", "graph": g}); err != nil {
				return fail(err)
			}
			if i > 0 {
				edge := map[string]any{"src": map[string]any{"node": nodes[i-1], "port": "out"}, "tgt": map[string]any{"node": n, "port": "in"}, "graph": g}
				if err := request(c, "graph", "addedge", edge); err != nil {
					return fail(err)
				}
			}
		}
		if err := request(c, "network", "edges", map[string]any{"graph": g, "edges": []any{}}); err != nil {
			return fail(err)
		}
		if err := request(c, "network", "start", map[string]any{"graph": g}); err != nil {
			return fail(err)
		}
		// The last outport's exchange as the participant declares it, and
		// our queue on it.
		last := nodes[2] + ".OUT"
		if err := ch.ExchangeDeclare(last, "fanout", true, false, false, false, nil); err != nil {
			return fail(err)
		}
		if _, err := ch.QueueDeclare(sink, true, false, false, false, nil); err != nil {
			return fail(err)
		}
		if err := ch.QueueBind(sink, "", last, false, nil); err != nil {
			return fail(err)
		}
		return nodes[0] + ".IN", sink, stop, nil
	}
}

// runtimeFlagsNote says how the runtime is started, for the report.
func runtimeFlagsNote(persistent bool) string {
	if persistent {
		return "default flags"
	}
	return "--persistent-messages=false"
}
