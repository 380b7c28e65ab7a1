package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

func runIn(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// procfile prints what msgflo-procfile prints for the same graph and
// library, for the FBP language and JSON graphs.
func TestProcfileMatchesMsgflo(t *testing.T) {
	t.Parallel()
	nodes := nodeDir(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{
  "name": "shop",
  "msgflo": {
    "components": {
      "shop/Api": "node api.js --role #ROLE --iips #IIPS",
      "shop/Worker": "python3 worker.py #ROLE #COMPONENTNAME",
      "Repeat": "msgflo-nodejs --name #ROLE Repeat.coffee"
    },
    "variables": {"HOST": "example.com"}
  }
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"service.fbp": "'{\"port\":80}' -> CONFIG api(shop/Api)\napi OUT -> IN worker(shop/Worker) OUT -> IN zrepeat(Repeat)\nworker ERR -> IN audit(shop/Worker)\n",
		"service.json": `{"processes": {"zeta": {"component": "shop/Worker"}, "alpha": {"component": "Repeat"}, "api": {"component": "shop/Api"}},
  "connections": [{"data": 5, "tgt": {"process": "api", "port": "in"}}, {"src": {"process": "api", "port": "out"}, "tgt": {"process": "zeta", "port": "in"}}]}`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, extra := range [][]string{nil, {"--ignore", "worker", "--include", "web: ./server"}} {
			sameProcfileAsMsgflo(t, nodes, dir, append([]string{name}, extra...)...)
		}
	}
}

// send and dump talk to msgflo's send and dump tools: what one sends the
// other dumps, on RabbitMQ and MQTT.
func TestSendAndDumpInteroperate(t *testing.T) {
	t.Parallel()
	nodes := nodeDir(t)
	bin := func(n string) string { return filepath.Join(nodes, "node_modules", ".bin", n) }
	for _, bk := range []struct{ name, url string }{{"amqp", rabbit(t)}, {"mqtt", mosquitto(t)}} {
		t.Run(bk.name, func(t *testing.T) {
			q := "tooltest" + uuid.New()[:8] + ".IN"
			if bk.name == "amqp" {
				t.Cleanup(func() { deleteQueues(bk.url, strings.TrimSuffix(q, ".IN")) })
			}
			env := []string{"MSGFLO_BROKER=" + bk.url}
			// msgflo 0.12.3's msgflo-send-message script requires a file
			// that is not in the package; run its send tool's code directly.
			sendJS := writeFile(t, "send.js", "require("+strconvQuote(filepath.Join(nodes, "node_modules", "msgflo", "lib", "utils", "send"))+").main()\n")
			pairs := []struct{ sender, dumper []string }{
				{[]string{runtimeBinary(t), "send"}, []string{bin("msgflo-dump-message")}},
				{[]string{"node", sendJS}, []string{runtimeBinary(t), "dump"}},
			}
			if bk.name == "amqp" {
				// The queue exists, as a participant's inport would.
				b, err := amqp.Dial(context.Background(), bk.url, amqp.Options{Logger: zerolog.Nop()})
				if err != nil {
					t.Fatal(err)
				}
				if err := b.DeclareInport(context.Background(), q, network.QueueOptions{}); err != nil {
					t.Fatal(err)
				}
				b.Close()
			}
			for _, pr := range pairs {
				dump := exec.Command(pr.dumper[0], append(pr.dumper[1:], "--queue", q, "--amount", "2")...)
				dump.Dir = nodes
				dump.Env = append(os.Environ(), env...)
				var out strings.Builder
				dump.Stdout = &out
				if err := dump.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- dump.Wait() }()
				// MQTT keeps nothing for a subscriber that is not there yet:
				// send until the dump has its two messages.
				deadline := time.Now().Add(60 * time.Second)
			sending:
				for i := 0; ; i++ {
					msg := `{"n":1,"text":"ünïcødé"}`
					if i%2 == 1 {
						msg = `[1,2,{"x":null}]`
					}
					if o, err := runIn(t, nodes, env, pr.sender[0], append(pr.sender[1:], "--queue", q, "--json", msg)...); err != nil {
						t.Fatalf("send: %v %s", err, o)
					}
					select {
					case err := <-done:
						if err != nil {
							t.Fatalf("dump: %v", err)
						}
						break sending
					default:
					}
					if time.Now().After(deadline) {
						dump.Process.Kill()
						t.Fatal("dump never got two messages")
					}
				}
				got := out.String()
				if got != "[{\"n\":1,\"text\":\"ünïcødé\"},[1,2,{\"x\":null}]]\n" && got != "[[1,2,{\"x\":null}],{\"n\":1,\"text\":\"ünïcødé\"}]\n" {
					t.Fatalf("%v dumped %q", pr.dumper, got)
				}
			}
		})
	}
}

// dump takes from the queue the messages it prints and no more: with the
// prefetch of one, the broker hands it the next message as soon as it
// acknowledges one, and that message stays in the queue for the next dump.
func TestDumpLeavesTheRestInTheQueue(t *testing.T) {
	t.Parallel()
	url := rabbit(t)
	role := "dumprest" + uuid.New()[:8]
	q := role + ".IN"
	t.Cleanup(func() { deleteQueues(url, role) })
	ctx := context.Background()
	b, err := amqp.Dial(ctx, url, amqp.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.DeclareInport(ctx, q, network.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		if err := b.Send(ctx, q, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	for _, step := range []struct{ amount, want string }{{"1", "1\n"}, {"1", "2\n"}, {"2", "[3,4]\n"}} {
		dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		cmd := exec.CommandContext(dctx, runtimeBinary(t), "dump", "--queue", q, "--amount", step.amount)
		cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
		out, err := cmd.Output()
		cancel()
		if err != nil || string(out) != step.want {
			t.Fatalf("dump --amount %s: %q (%v), want %q", step.amount, out, err, step.want)
		}
	}
}

// register announces a foreign participant exactly as msgflo-register
// does: our runtime sees the same component from both.
func TestRegisterMatchesMsgflo(t *testing.T) {
	for _, bk := range []struct {
		name string
		url  func(t *testing.T) string
	}{{"mqtt", mosquitto}, {"amqp", rabbit}} {
		t.Run(bk.name, func(t *testing.T) { registerMatchesMsgflo(t, bk.url(t)) })
	}
}

func registerMatchesMsgflo(t *testing.T, url string) {
	nodes := nodeDir(t)
	def := writeFile(t, "legacy.yml", `component: legacy/Mailer
label: Sends mail, knows nothing of msgflo
icon: envelope
inports:
  in:
    queue: mail.#ROLE.requests
    type: object
    description: mails to send
outports:
  sent:
    queue: mail.#ROLE.sent
    type: object
`)
	// Roles of this run only: the durable fbp queue may still hold
	// announcements of an earlier run's msgflo-register.
	s := uuid.New()[:8]
	p := start(t, []string{"MSGFLO_BROKER=" + url}, "--port", "0")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	c.send("component", "list", map[string]any{})
	c.waitFor("component", "componentsready", nil)
	for i, cmd := range [][]string{
		{runtimeBinary(t), "register", "--role", "mailer" + s + "1:" + def, "--forever", "false"},
		// msgflo-register keeps announcing whatever --forever says.
		{filepath.Join(nodes, "node_modules", ".bin", "msgflo-register"), "--role", "mailer" + s + "2:" + def},
	} {
		proc := exec.Command(cmd[0], cmd[1:]...)
		proc.Dir = nodes
		proc.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
		out, err := proc.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if !strings.HasPrefix(line, "Sent discovery message for mailer") {
			t.Fatalf("%v printed %q", cmd, line)
		}
		// The component's definition is the last one announced: it names
		// the queues with this role substituted.
		want := fmt.Sprintf("mail.mailer%s%d.requests", s, i+1)
		deadline := time.Now().Add(30 * time.Second)
		for {
			c.send("component", "getsource", map[string]any{"name": "legacy/Mailer"})
			m := c.next()
			if p, _ := m["payload"].(map[string]any); m["command"] == "source" && strings.Contains(p["code"].(string), want) {
				if !strings.Contains(p["code"].(string), "queue:") || !strings.Contains(p["code"].(string), "envelope") {
					t.Fatalf("definition %v", p["code"])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v: the runtime never saw %q", cmd, want)
			}
		}
		_ = proc.Process.Kill()
		_ = proc.Wait()
	}
}

func strconvQuote(s string) string { return strconv.Quote(s) }

func rabbit(t *testing.T) string    { return brokertest.RabbitMQURL(t) }
func mosquitto(t *testing.T) string { return brokertest.MosquittoURL(t) }

// A .yml file in the component directory is a foreign participant: adding
// a node of it registers the definition under the node's role.
func TestForeignComponentFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "components")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Printer.yml"), []byte("component: office/Printer\ninports:\n  job:\n    queue: print.#ROLE.jobs\n    type: object\noutports: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lib := writeFile(t, "lib.json", `{}`)
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--library", lib, "--componentdir", dir)
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	c.edit("clear", map[string]any{"id": "g"})
	c.edit("addnode", map[string]any{"id": "office1", "component": "Printer", "graph": "g"})
	comp := c.waitFor("component", "component", func(m map[string]any) bool { return m["name"] == "office/Printer" })
	in := comp["inPorts"].([]any)
	if len(in) != 1 || in[0].(map[string]any)["id"] != "job" {
		t.Fatalf("component %v", comp)
	}
	c.send("component", "getsource", map[string]any{"name": "Printer"})
	if src := c.waitFor("component", "source", nil); src["language"] != "yaml" || !strings.Contains(src["code"].(string), "#ROLE") {
		t.Fatalf("source %v", src)
	}
	p.signalAndWait(t, syscall.SIGTERM)
}
