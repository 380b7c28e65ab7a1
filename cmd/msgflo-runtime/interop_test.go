package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// Interop with the Node.js msgflo stack, installed from the npm registry
// at pinned versions by scripts/npm-interop.sh; make test passes its folder
// in MSGFLO_NODE_DIR.
func nodeDir(t *testing.T) string {
	t.Helper()
	testenv.Needs(t, "msgflo-nodejs from npm")
	dir := os.Getenv("MSGFLO_NODE_DIR")
	if dir == "" {
		brokertest.SkipOrFail(t, "MSGFLO_NODE_DIR is not set (make test sets it with scripts/npm-interop.sh): the Node.js interop tests need it")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "msgflo-nodejs")); err != nil {
		t.Fatalf("MSGFLO_NODE_DIR %s has no msgflo-nodejs: %v", dir, err)
	}
	return dir
}

// fbpClient is the tests' FBP client: a protocol/fbpclient connection
// whose messages arrive, decoded as maps, on in.
type fbpClient struct {
	t  *testing.T
	cl *fbpclient.Client
	in chan map[string]any
}

// newFBPClient reads cl's messages into a new fbpClient's in (until the
// connection closes, or a frame is not a JSON object), each seen by
// received first when given, and closes cl at the end of the test.
func newFBPClient(t *testing.T, cl *fbpclient.Client, received func(map[string]any)) *fbpClient {
	c := &fbpClient{t: t, cl: cl, in: make(chan map[string]any, 1000)}
	go func() {
		defer close(c.in)
		for {
			m, err := cl.Next(context.Background())
			if err != nil {
				return
			}
			var v map[string]any
			if err := json.Unmarshal(m.Raw, &v); err != nil {
				return
			}
			if received != nil {
				received(v)
			}
			c.in <- v
		}
	}()
	t.Cleanup(func() { cl.Close() })
	return c
}

func connectFBP(t *testing.T, ws string) *fbpClient {
	t.Helper()
	var cl *fbpclient.Client
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cl, err = fbpclient.Dial(ctx, ws, fbpclient.Options{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s: %v", ws, err)
		}
		time.Sleep(100 * time.Millisecond) // msgflo's coordinator prints nothing when it listens
	}
	c := newFBPClient(t, cl, nil)
	// As Flowhub does: present the secret first, so that the broadcasts
	// this connection may receive are those of a client with it.
	c.send("runtime", "getruntime", map[string]any{})
	c.waitFor("runtime", "runtime", nil)
	return c
}

// send presents testSecret at the top level, as Flowhub does (msgflo's
// coordinator ignores it).
func (c *fbpClient) send(protocol, command string, payload any) {
	c.t.Helper()
	c.writeJSON(map[string]any{"protocol": protocol, "command": command, "payload": payload, "secret": testSecret})
}

// writeJSON sends msg as it is.
func (c *fbpClient) writeJSON(msg any) {
	c.t.Helper()
	sendJSON(c.t, c.cl, msg)
}

// next returns the next message, failing the test when none comes within
// a minute or the connection is closed.
func (c *fbpClient) next() map[string]any {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatal("connection closed")
		}
		return m
	case <-time.After(60 * time.Second):
		c.t.Fatal("no message within 60 s")
	}
	return nil
}

func (c *fbpClient) waitFor(protocol, command string, match func(p map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatalf("connection closed waiting for %s:%s", protocol, command)
			}
			p, _ := m["payload"].(map[string]any)
			if m["protocol"] == protocol && m["command"] == command && (match == nil || match(p)) {
				return p
			}
			if m["command"] == "error" {
				c.t.Fatalf("error while waiting for %s:%s: %v", protocol, command, m)
			}
		case <-deadline:
			c.t.Fatalf("no %s:%s", protocol, command)
		}
	}
}

func (c *fbpClient) edit(command string, payload map[string]any) {
	c.t.Helper()
	c.send("graph", command, payload)
	c.waitFor("graph", command, nil)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func startNode(t *testing.T, dir string, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(dir, "node_modules", ".bin", name), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	t.Cleanup(func() { // after startGroup's (cleanups run last first)
		if t.Failed() {
			t.Logf("%s output:\n%s", name, log.String())
		}
	})
	startGroup(t, cmd)
	return cmd
}

// startGroup starts cmd in a process group of its own, killed (with
// whatever the command started) and reaped when the test ends.
func startGroup(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
}

// A msgflo-nodejs participant (its bundled Repeat example) is discovered by
// our runtime, listed, wired between two of our Go participants, and data
// flows through all three.
func TestNodejsParticipantInOurRuntime(t *testing.T) {
	dir := nodeDir(t)
	eachExternalBroker(t, func(t *testing.T, bk externalBroker) {
		suffix := uuid.New()[:8]
		role := "njrepeat" + suffix
		if bk.name == "amqp" {
			// Registered first, so it runs last: after the processes
			// that would declare the queues again are gone.
			t.Cleanup(func() { deleteQueues(bk.url, role, "gofirst"+suffix, "golast"+suffix) })
		}
		p := start(t, []string{"MSGFLO_BROKER=" + bk.url}, "--port", "0")
		ws, _ := p.ready(t)
		c := connectFBP(t, ws)
		startNode(t, dir, nil, "msgflo-nodejs", "--name", role, "--broker", bk.url,
			filepath.Join(dir, "node_modules", "msgflo-nodejs", "examples", "Repeat.coffee"))
		c.waitFor("component", "component", func(p map[string]any) bool { return p["name"] == "Repeat" })

		c.send("component", "list", map[string]any{})
		found := false
		for {
			m := c.next()
			if m["command"] == "componentsready" {
				break
			}
			if p, _ := m["payload"].(map[string]any); m["command"] == "component" && p["name"] == "Repeat" {
				found = true
			}
		}
		if !found {
			t.Fatal("component:list does not list the msgflo-nodejs Repeat")
		}

		g := "interop" + suffix
		first, last := "gofirst"+suffix, "golast"+suffix
		c.edit("clear", map[string]any{"id": g})
		c.edit("addnode", map[string]any{"id": first, "component": "core/Repeat", "graph": g})
		c.edit("addnode", map[string]any{"id": role, "component": "Repeat", "graph": g})
		c.edit("addnode", map[string]any{"id": last, "component": "core/Repeat", "graph": g})
		c.edit("addedge", map[string]any{"src": map[string]any{"node": first, "port": "out"}, "tgt": map[string]any{"node": role, "port": "in"}, "graph": g})
		c.edit("addedge", map[string]any{"src": map[string]any{"node": role, "port": "out"}, "tgt": map[string]any{"node": last, "port": "in"}, "graph": g})
		c.send("graph", "addinport", map[string]any{"public": "in", "node": first, "port": "in", "graph": g})
		c.waitFor("runtime", "ports", nil)
		c.send("graph", "addoutport", map[string]any{"public": "out", "node": last, "port": "out", "graph": g})
		c.waitFor("runtime", "ports", nil)
		c.send("network", "start", map[string]any{"graph": g})
		c.waitFor("network", "started", nil)
		for i, v := range []any{map[string]any{"hello": "node"}, "ünïcode", 42.0} {
			c.send("runtime", "packet", map[string]any{"graph": g, "port": "in", "event": "data", "payload": v})
			out := c.waitFor("runtime", "packet", func(p map[string]any) bool { return p["graph"] == g })
			got, _ := json.Marshal(out["payload"])
			want, _ := json.Marshal(v)
			if string(got) != string(want) {
				t.Fatalf("packet %d came out as %s, want %s", i, got, want)
			}
		}
		p.signalAndWait(t, syscall.SIGTERM)
	})
}

// A Go participant is discovered by the original msgflo coordinator: the
// discovery message we publish is accepted by theirs.
func TestGoParticipantInMsgflo(t *testing.T) {
	dir := nodeDir(t)
	eachExternalBroker(t, func(t *testing.T, bk externalBroker) {
		gpRole := "goupper" + uuid.New()[:8]
		if bk.name == "amqp" {
			t.Cleanup(func() { deleteQueues(bk.url, gpRole) })
		}
		port := freePort(t)
		startNode(t, dir, nil, "msgflo", "--broker", bk.url, "--port", port, "--host", "127.0.0.1", "--library", filepath.Join(dir, "package.json"))
		c := connectFBP(t, "ws://127.0.0.1:"+port)

		ctx := context.Background()
		b, err := dial.Open(ctx, bk.url, dial.Options{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		name := "gointerop/Upper" + uuid.New()[:8]
		comp := participant.Component{
			Name: name, Label: "Go participant for msgflo", Icon: "arrow-up",
			Inports:  []participant.Port{{ID: "in", Type: "string", Description: "text"}},
			Outports: []participant.Port{{ID: "out", Type: "string"}},
			Process: func(_ context.Context, in participant.Input, out participant.Output) error {
				return out.Send("out", in.Data)
			},
		}
		defer serveParticipant(t, b, comp, gpRole, participant.Options{DiscoveryPeriod: 2 * time.Second})()
		// msgflo pushes the new component to its clients, with our ports.
		comp2 := c.waitFor("component", "component", func(p map[string]any) bool { return p["name"] == name })
		in, _ := comp2["inPorts"].([]any)
		if len(in) != 1 || in[0].(map[string]any)["id"] != "in" {
			t.Fatalf("msgflo sees our participant as %v", comp2)
		}
		// And lists it.
		c.send("component", "list", map[string]any{})
		c.waitFor("component", "component", func(p map[string]any) bool { return p["name"] == name })
		c.waitFor("component", "componentsready", nil)
	})
}

// deleteQueues removes the durable queues and exchanges of roles from
// RabbitMQ, which would otherwise keep them after the test.
func deleteQueues(url string, roles ...string) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return
	}
	defer conn.Close()
	for _, r := range roles {
		for _, n := range []string{r + ".IN", r + ".OUT"} {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(n, false, false, false)
				ch.Close()
			}
			if ch, err := conn.Channel(); err == nil {
				_ = ch.ExchangeDelete(n, false, false)
				ch.Close()
			}
		}
	}
}
