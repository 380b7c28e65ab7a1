package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/participant"
)

// setupBinding is one binding msgflo-setup makes: pubsub (an edge) or
// roundrobin (a msgflo/RoundRobin node: its inputs go to one of its
// outputs' consumers, failures to the deadletter queue).
type setupBinding struct {
	kind                 string
	src, tgt, deadletter string
}

func isSetupParticipant(n *graph.Node) bool {
	return n != nil && n.Component != "" && n.Component != "msgflo/RoundRobin" && n.Component != "msgflo/PubSub"
}

// graphBindings follows msgflo-setup: queue names by convention (ROLE.PORT).
func graphBindings(g *graph.Graph) []setupBinding {
	var out []setupBinding
	rr := map[string]*setupBinding{}
	var rrOrder []string
	for _, n := range g.Nodes {
		if n.Component == "msgflo/RoundRobin" {
			rr[n.ID] = &setupBinding{kind: "roundrobin"}
			rrOrder = append(rrOrder, n.ID)
		}
	}
	for _, e := range g.Edges {
		src := network.QueueName(g.Role(e.Src.Node), e.Src.Port)
		tgt := network.QueueName(g.Role(e.Tgt.Node), e.Tgt.Port)
		switch {
		case rr[e.Src.Node] != nil:
			if e.Src.Port == "deadletter" {
				rr[e.Src.Node].deadletter = tgt
			} else {
				rr[e.Src.Node].tgt = tgt
			}
		case rr[e.Tgt.Node] != nil:
			rr[e.Tgt.Node].src = src
		case isSetupParticipant(g.Node(e.Src.Node)) && isSetupParticipant(g.Node(e.Tgt.Node)):
			out = append(out, setupBinding{kind: "pubsub", src: src, tgt: tgt})
		}
	}
	for _, id := range rrOrder {
		out = append(out, *rr[id])
	}
	return out
}

// setup GRAPH: declares the graph's queues and makes its bindings;
// optionally starts its participants (--participants) and stays (--forever;
// on MQTT the bindings are forwarded by this process, so it must stay).
func setupMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags(prog, "[flags] GRAPH.fbp|GRAPH.json", stderr)
	broker := t.String("broker", "", "broker URL (env MSGFLO_BROKER, then CLOUDAMQP_URL)")
	participants := t.Bool("participants", false, "also start the participants")
	only := t.String("only", "", "start participants only for these roles (comma-separated)")
	ignore := t.String("ignore", "", "do not start participants for these roles (comma-separated)")
	libFile := t.String("library", "package.json", "library definition")
	componentDir := t.String("componentdir", "", "directory of component files")
	forward := t.String("forward", "", "forward participants' stdout and/or stderr")
	forever := t.Bool("forever", false, "keep running until killed")
	g, code, ok := t.graphArg(msgfloBoolArgs(args, "participants", "forever"))
	if !ok {
		return code
	}
	url := participant.BrokerURL(*broker, getenv)
	ctx, b, done, err := connect(url)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer done()

	bindings := graphBindings(g)
	for _, bd := range bindings {
		if err := applyBinding(ctx, b, bd); err != nil {
			return t.fail(1, "%v", err)
		}
		if bd.kind == "pubsub" {
			fmt.Fprintf(stdout, "pubsub binding: %s -> %s\n", bd.src, bd.tgt)
		} else {
			fmt.Fprintf(stdout, "roundrobin binding: %s -> %s (deadletter %s)\n", bd.src, bd.tgt, bd.deadletter)
		}
	}

	var children []*exec.Cmd
	if *participants {
		lib, err := library.Load(*libFile, *libFile == "package.json", *componentDir)
		if err != nil {
			return t.fail(1, "%v", err)
		}
		var roles []string
		for _, n := range g.Nodes {
			roles = append(roles, n.ID)
		}
		if *only != "" {
			roles = splitList(*only)
		}
		self, err := os.Executable()
		if err != nil {
			self = "msgflo-runtime"
		}
		skip := splitList(*ignore)
		fw := splitList(*forward)
		for _, role := range roles {
			n := g.Node(role)
			if ids := g.NodesOfRole(role); n == nil && len(ids) > 0 {
				n = g.Node(ids[0]) // --only names the role of a node whose id is not one
			}
			if !isSetupParticipant(n) || containsString(skip, role) {
				continue
			}
			line, err := nodeCommand(lib, g, n, self)
			if err != nil {
				return t.fail(1, "%v", err)
			}
			cmd := exec.Command("/bin/sh", "-c", line)
			cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			if containsString(fw, "stdout") {
				cmd.Stdout = stdout
			}
			if containsString(fw, "stderr") {
				cmd.Stderr = stderr
			}
			if err := cmd.Start(); err != nil {
				return t.fail(1, "start %s: %v", role, err)
			}
			children = append(children, cmd)
			fmt.Fprintf(stdout, "started %s: %s (pid %d)\n", role, strings.Join(cmd.Args[2:], " "), cmd.Process.Pid)
		}
	}
	if !*forever && len(children) == 0 {
		return 0
	}
	<-ctx.Done()
	for _, c := range children {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	}
	for _, c := range children {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	return 0
}

func applyBinding(ctx context.Context, b network.Broker, bd setupBinding) error {
	switch bd.kind {
	case "pubsub":
		if err := b.DeclareOutport(ctx, bd.src, network.QueueOptions{}); err != nil {
			return err
		}
		if err := b.DeclareInport(ctx, bd.tgt, network.QueueOptions{}); err != nil {
			return err
		}
		return b.Bind(ctx, bd.src, bd.tgt)
	case "roundrobin":
		ab, ok := b.(*amqp.Broker)
		if !ok {
			return fmt.Errorf("msgflo/RoundRobin needs RabbitMQ (AMQP)")
		}
		return ab.RoundRobin(ctx, bd.src, bd.tgt, bd.deadletter)
	}
	return fmt.Errorf("unknown binding type %q", bd.kind)
}
