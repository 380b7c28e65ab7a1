package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/dial"
)

// announceWhileRunning announces defs every 100 ms until the test ends,
// as participants whose queues follow no convention (msgflo's MQTT
// switch and lightbulb).
func announceWhileRunning(t *testing.T, url string, defs ...network.Definition) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := dial.Open(ctx, url, dial.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{})
	t.Cleanup(func() { cancel(); <-stopped; b.Close() })
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, d := range defs {
				msg, _ := network.EncodeDiscovery(d)
				_ = b.Announce(ctx, msg)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// switchAndBulb is msgflo's mqtt-switch.fbp with roles of this test, and
// the switch and lightbulb as msgflo's tests announce them.
func switchAndBulb(s string) (graphText string, defs []network.Definition) {
	sw, bulb := "myswitch"+s, "mybulb"+s
	graphText = fmt.Sprintf("# !runtime msgflo\n%s(my/ToggleSwitch) STATE -> ENABLE %s(LightBulb)\n", sw, bulb)
	defs = []network.Definition{
		{ID: sw, Role: sw, Component: "my/ToggleSwitch", Inports: []network.Port{},
			Outports: []network.Port{{ID: "state", Type: "boolean", Queue: "/myswitch/" + s + "/status"}}},
		{ID: bulb, Role: bulb, Component: "my/LightBulb",
			Inports:  []network.Port{{ID: "enable", Type: "boolean", Queue: "/mylightbulb/" + s + "/set-on"}},
			Outports: []network.Port{{ID: "confirm", Type: "boolean", Queue: "/mylightbulb/" + s + "/is-on"}}},
	}
	return graphText, defs
}

// setup --discover binds the queues the participants announce, as
// msgflo-setup --discover: the same output, and on RabbitMQ the same
// bindings; on MQTT (with --forever) the announced topics are forwarded.
func TestSetupDiscoverMatchesMsgflo(t *testing.T) {
	nodes := nodeDir(t)
	names := msgfloNames(t)
	eachExternalBroker(t, func(t *testing.T, bk externalBroker) {
		url := bk.url
		s := uuid.New()[:8]
		text, defs := switchAndBulb(s)
		path := writeFile(t, "mqtt-switch.fbp", text)
		announceWhileRunning(t, url, defs...)
		env := []string{"MSGFLO_BROKER=" + url}
		if bk.name == "amqp" {
			t.Cleanup(func() { deleteNames(t, url, s) })
		}
		var outs []string
		var bindings [][]string
		for _, tool := range []string{filepath.Join(nodes, "node_modules", ".bin", "msgflo-setup"), filepath.Join(names, "msgflo-setup")} {
			if bk.name == "amqp" { // what the participants declare when they start
				declareNames(t, url, defs)
			}
			out, code := runCode(t, nodes, env, tool, "--discover", "true", path)
			if code != 0 {
				t.Fatalf("%s --discover: exit %d\n%s", tool, code, out)
			}
			outs = append(outs, out)
			if bk.name == "amqp" {
				bindings = append(bindings, bindingsWith(t, s))
				deleteNames(t, url, s)
			}
		}
		want := "Set up participants []\nSet up bindings:\n PUBSUB: \t /myswitch/" + s + "/status -> /mylightbulb/" + s + "/set-on\n"
		if outs[0] != want || outs[1] != want {
			t.Fatalf("outputs:\n ours:\n%s\ntheirs:\n%s\nwant:\n%s", outs[1], outs[0], want)
		}
		if bk.name == "amqp" {
			if strings.Join(bindings[0], "\n") != strings.Join(bindings[1], "\n") || len(bindings[1]) == 0 {
				t.Fatalf("bindings differ\n ours:\n%s\ntheirs:\n%s", strings.Join(bindings[1], "\n"), strings.Join(bindings[0], "\n"))
			}
			return
		}
		// On MQTT: forwarded between the announced topics while it runs.
		cmd := exec.Command(filepath.Join(names, "msgflo-setup"), "--discover", "--forever", path)
		cmd.Env = append(os.Environ(), env...)
		startGroup(t, cmd)
		sendUntilArrives(t, url, "/mylightbulb/"+s+"/set-on", func(b network.Broker) error {
			return b.Publish(context.Background(), "/myswitch/"+s+"/status", []byte(`true`))
		}, func() string { return "nothing forwarded from the switch's topic to the lightbulb's" })
	})
}

// --timeout bounds the wait; the error names who was not heard from.
func TestSetupDiscoverTimeout(t *testing.T) {
	t.Parallel()
	url := mosquitto(t)
	s := uuid.New()[:8]
	text, defs := switchAndBulb(s)
	announceWhileRunning(t, url, defs[0]) // the lightbulb never announces itself
	path := writeFile(t, "mqtt-switch.fbp", text)
	cmd := exec.Command(filepath.Join(msgfloNames(t), "msgflo-setup"), "--discover", "--timeout", "0.5", path)
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "Participant discovery timed out") || !strings.Contains(string(out), "mybulb"+s) || strings.Contains(string(out), "myswitch"+s) {
		t.Fatalf("exit %d (%v):\n%s", code, err, out)
	}
}

// On MQTT, setup without --forever says that the forwarding ends with it,
// however the URL spells the scheme (it is case-insensitive).
func TestSetupOnMQTTSuggestsForever(t *testing.T) {
	t.Parallel()
	url := mosquitto(t)
	for _, broker := range []string{url, "MQTT" + strings.TrimPrefix(url, "mqtt")} {
		s := uuid.New()[:8]
		path := writeFile(t, "setup.fbp", fmt.Sprintf("a%[1]s(x/A) OUT -> IN b%[1]s(x/B)\n", s))
		cmd := exec.Command(runtimeBinary(t), "setup", path)
		cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+broker)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", broker, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "--forever") || strings.Contains(stdout.String(), "--forever") {
			t.Fatalf("%s: stdout %q\nstderr %q", broker, stdout.String(), stderr.String())
		}
	}
}

// --shell names the program that runs participant commands (SHELL -c CMD).
func TestSetupShell(t *testing.T) {
	t.Parallel()
	url := mosquitto(t)
	s := uuid.New()[:8]
	dir := t.TempDir()
	shell := filepath.Join(dir, "myshell")
	if err := os.WriteFile(shell, []byte("#!/bin/sh\necho \"myshell was given: $*\"\nexec /bin/sh \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "setup.fbp", fmt.Sprintf("a%[1]s(x/Repeat) OUT -> IN b%[1]s(x/B)\n", s))
	out := startSetup(t, url, "--participants", "--only", "a"+s, "--library", repeatLibrary(t), "--forward", "stdout", "--shell", shell, path).out
	// The participant runs under the shell, and works.
	sendUntilArrives(t, url, "b"+s+".IN", func(b network.Broker) error {
		return b.Send(context.Background(), "a"+s+".IN", []byte(`"x"`))
	}, func() string { return "the participant never passed data on; setup printed:\n" + out.String() })
	if want := "myshell was given: -c " + runtimeBinary(t) + " participant core/Repeat --role a" + s; !strings.Contains(out.String(), want) {
		t.Fatalf("output %q lacks %q", out.String(), want)
	}
}

// deleteNames deletes the switch's and the lightbulb's queues and exchanges
// from RabbitMQ.
func deleteNames(t *testing.T, url, s string) {
	b, err := amqp.Dial(context.Background(), url, amqp.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var names []string
	for _, n := range []string{"/myswitch/" + s + "/status", "/mylightbulb/" + s + "/set-on", "/mylightbulb/" + s + "/is-on"} {
		names = append(names, n, "dead-"+n, "out-"+n)
	}
	_ = b.Delete(context.Background(), names...)
}

// declareNames declares the announced ports on RabbitMQ, as the
// participants would.
func declareNames(t *testing.T, url string, defs []network.Definition) {
	b, err := amqp.Dial(context.Background(), url, amqp.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, d := range defs {
		for _, p := range d.Inports {
			if err := b.DeclareInport(context.Background(), p.Queue, network.QueueOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range d.Outports {
			if err := b.DeclareOutport(context.Background(), p.Queue, network.QueueOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// msgflo-setup, called by that name, does with every graph of msgflo's own
// tests what msgflo 0.12.3's does: the same output and exit code on
// RabbitMQ (with the participants' queues declared, as when they run) and
// MQTT, and on RabbitMQ the same bindings.
func TestMsgfloSetupOnMsgflosOwnFixtures(t *testing.T) {
	pkg := msgfloPackage(t)
	names := msgfloNames(t)
	graphs, _ := filepath.Glob(filepath.Join(pkg, "spec", "fixtures", "*.fbp"))
	if len(graphs) < 5 {
		t.Fatalf("msgflo's fixtures not found: %v", graphs)
	}
	eachExternalBroker(t, func(t *testing.T, bk externalBroker) {
		url := bk.url
		for _, path := range graphs {
			g, err := loadGraphFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bindings, err := graphBindings(g, conventionQueue)
			if err != nil {
				t.Fatal(err)
			}
			var queues, roles []string
			for _, b := range bindings {
				queues = append(queues, b.src, b.tgt, b.deadletter)
			}
			for _, n := range g.Nodes {
				roles = append(roles, n.ID)
			}
			var outs []string
			var codes []int
			var bound []string
			for _, tool := range []string{filepath.Join(pkg, "bin", "msgflo-setup"), filepath.Join(names, "msgflo-setup")} {
				if bk.name == "amqp" {
					resetQueues(t, url, bindings, queues)
				}
				out, code := runCode(t, pkg, []string{"MSGFLO_BROKER=" + url}, tool, rel(pkg, path))
				outs, codes = append(outs, out), append(codes, code)
				if bk.name == "amqp" {
					bound = append(bound, strings.Join(bindingsWith(t, roles[0]+".", roles[1:]...), "\n"))
				}
			}
			if outs[0] != outs[1] || codes[0] != codes[1] || codes[0] != 0 {
				t.Errorf("%s: ours (exit %d):\n%s\ntheirs (exit %d):\n%s", filepath.Base(path), codes[1], outs[1], codes[0], outs[0])
			}
			if bk.name == "amqp" && bound[0] != bound[1] {
				t.Errorf("%s: bindings differ\n ours:\n%s\ntheirs:\n%s", filepath.Base(path), bound[1], bound[0])
			}
		}
	})
}

// resetQueues deletes the queues and exchanges of bindings and declares
// them again as the participants would: outports (sources) and inports
// (targets, deadletter queues).
func resetQueues(t *testing.T, url string, bindings []setupBinding, queues []string) {
	t.Helper()
	b, err := amqp.Dial(context.Background(), url, amqp.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var names []string
	for _, q := range queues {
		if q != "" {
			names = append(names, q, "dead-"+q, "out-"+q)
		}
	}
	_ = b.Delete(context.Background(), names...)
	for _, bd := range bindings {
		if bd.src != "" {
			if err := b.DeclareOutport(context.Background(), bd.src, network.QueueOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []string{bd.tgt, bd.deadletter} {
			if q != "" {
				if err := b.DeclareInport(context.Background(), q, network.QueueOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// setup --participants --discover starts the participants first, then
// binds the queues they announce.
func TestSetupParticipantsThenDiscover(t *testing.T) {
	t.Parallel()
	url := mosquitto(t)
	s := uuid.New()[:8]
	path := writeFile(t, "setup.fbp", fmt.Sprintf("a%[1]s(x/Repeat) OUT -> IN b%[1]s(x/Repeat)\n", s))
	out := startSetup(t, url, "--participants", "--discover", "--library", repeatLibrary(t), path).out
	sendUntilArrives(t, url, "b"+s+".OUT", func(b network.Broker) error {
		return b.Send(context.Background(), "a"+s+".IN", []byte(`"through both"`))
	}, func() string { return "nothing came through a and b; setup printed:\n" + out.String() })
	want := "Set up participants [ 'a" + s + "', 'b" + s + "' ]\nSet up bindings:\n PUBSUB: \t a" + s + ".OUT -> b" + s + ".IN\n"
	if out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
}
