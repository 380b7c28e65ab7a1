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

// queueResolver names the queue of a node's port: by msgflo's convention
// (ROLE.PORT), or as a discovered participant announced it (--discover).
type queueResolver func(node, port string, outport bool) (string, error)

func conventionQueue(node, port string, _ bool) (string, error) {
	return network.QueueName(node, port), nil
}

// discoveredQueue resolves ports by the definitions participants
// announced, by role.
func discoveredQueue(defs map[string]network.Definition) queueResolver {
	return func(node, port string, outport bool) (string, error) {
		def, ok := defs[node]
		if !ok {
			return "", fmt.Errorf("no participant with role %s was discovered", node)
		}
		find, kind := def.Inport, "inport"
		if outport {
			find, kind = def.Outport, "outport"
		}
		p, ok := find(port)
		if !ok || p.Queue == "" {
			return "", fmt.Errorf("participant %s (%s) announced no %s %s", node, def.Component, kind, port)
		}
		return p.Queue, nil
	}
}

// graphBindings follows msgflo-setup: an edge between two participants is
// a pubsub binding; a msgflo/RoundRobin node makes a roundrobin binding
// from what feeds it to what it feeds (its deadletter port to the
// deadletter queue). queue names the ports.
func graphBindings(g *graph.Graph, queue queueResolver) ([]setupBinding, error) {
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
		srcNode, tgtNode := g.Node(e.Src.Node), g.Node(e.Tgt.Node)
		var src, tgt string
		var err error
		if isSetupParticipant(srcNode) {
			if src, err = queue(g.Role(e.Src.Node), e.Src.Port, true); err != nil {
				return nil, err
			}
		}
		if isSetupParticipant(tgtNode) {
			if tgt, err = queue(g.Role(e.Tgt.Node), e.Tgt.Port, false); err != nil {
				return nil, err
			}
		}
		switch {
		case rr[e.Src.Node] != nil:
			if e.Src.Port == "deadletter" {
				rr[e.Src.Node].deadletter = tgt
			} else {
				rr[e.Src.Node].tgt = tgt
			}
		case rr[e.Tgt.Node] != nil:
			rr[e.Tgt.Node].src = src
		case isSetupParticipant(srcNode) && isSetupParticipant(tgtNode):
			out = append(out, setupBinding{kind: "pubsub", src: src, tgt: tgt})
		}
	}
	for _, id := range rrOrder {
		out = append(out, *rr[id])
	}
	return out, nil
}

// prettyBindings is msgflo-setup's listing of the bindings it made.
func prettyBindings(bindings []setupBinding) string {
	var lines []string
	for _, b := range bindings {
		switch b.kind {
		case "roundrobin":
			if b.tgt != "" && b.deadletter != "" {
				lines = append(lines, fmt.Sprintf("DEADLETTER:\t %s -> %s", b.tgt, b.deadletter))
			}
			if b.tgt != "" && b.src != "" {
				lines = append(lines, fmt.Sprintf("ROUNDROBIN:\t %s -> %s", b.src, b.tgt))
			}
		case "pubsub":
			lines = append(lines, fmt.Sprintf("PUBSUB: \t %s -> %s", b.src, b.tgt))
		}
	}
	return strings.Join(lines, "\n")
}

// discoverRoles waits for a discovery message of every role in roles and
// returns the last definition announced for each.
func discoverRoles(ctx context.Context, b network.Broker, roles []string, timeout time.Duration) (map[string]network.Definition, error) {
	want := map[string]bool{}
	for _, r := range roles {
		want[r] = true
	}
	found := map[string]network.Definition{}
	defs := make(chan network.Definition, 64)
	stop := make(chan struct{}) // closed when nobody reads defs any more
	sub, err := b.SubscribeDiscovery(ctx, func(_ string, data []byte) {
		def, err := network.DecodeDiscovery(data)
		if err != nil || !want[def.Role] {
			return
		}
		select {
		case defs <- def:
		case <-stop:
		}
	})
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	defer close(stop) // before Close, which waits for a handler in progress
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for len(found) < len(want) {
		select {
		case def := <-defs:
			found[def.Role] = def
		case <-deadline.C:
			var missing []string
			for _, r := range roles {
				if _, ok := found[r]; !ok {
					missing = append(missing, r)
				}
			}
			return nil, fmt.Errorf("Participant discovery timed out after %s: nothing heard from %s", timeout, strings.Join(missing, ", "))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return found, nil
}

// setup GRAPH: starts the graph's participants (--participants), then
// declares its queues and makes its bindings, named by convention or by
// discovery (--discover), and stays (--forever, or while it has
// participants; on MQTT the bindings are forwarded by this process). It
// prints what msgflo-setup prints.
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
	discover := t.Bool("discover", false, "bind the queues the participants announce (wait for their discovery messages) instead of ROLE.PORT")
	timeoutFlag := t.String("timeout", "30", "seconds to wait for the discovery messages (--discover)")
	shell := t.String("shell", "", "program that runs each participant command as SHELL -c COMMAND (default /bin/sh)")
	g, code, ok := t.graphArg(msgfloBoolArgs(args, "participants", "forever", "discover"))
	if !ok {
		return code
	}
	timeout, err := seconds("timeout", *timeoutFlag)
	if err != nil {
		return t.fail(2, "%v", err)
	}
	if *shell == "" {
		*shell = "/bin/sh"
	}
	url := participant.BrokerURL(*broker, getenv)
	ctx, b, done, err := connect(url)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer done()

	var children []*exec.Cmd
	stopChildren := func() {
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
	}
	defer stopChildren()
	started := []string{}
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
			cmd := exec.Command(*shell, "-c", line)
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
			started = append(started, role)
			fmt.Fprintf(stderr, "%s: started %s (pid %d): %s\n", prog, role, cmd.Process.Pid, line)
		}
	}
	fmt.Fprintln(stdout, "Set up participants", nodeStringArray(started))

	resolve := queueResolver(conventionQueue)
	if *discover {
		var roles []string
		for _, n := range g.Nodes {
			if isSetupParticipant(n) {
				roles = append(roles, g.Role(n.ID))
			}
		}
		defs, err := discoverRoles(ctx, b, roles, timeout)
		if err != nil {
			return t.fail(1, "%v", err)
		}
		resolve = discoveredQueue(defs)
	}
	bindings, err := graphBindings(g, resolve)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	for _, bd := range bindings {
		if err := applyBinding(ctx, b, bd); err != nil {
			return t.fail(1, "%v", err)
		}
	}
	fmt.Fprintln(stdout, "Set up bindings:\n", prettyBindings(bindings))

	_, onRabbitMQ := b.(*amqp.Broker)
	forwarded := !onRabbitMQ // see applyBinding
	if !*forever && len(children) == 0 {
		if forwarded && len(bindings) > 0 {
			fmt.Fprintf(stderr, "%s: on MQTT this process forwards the bindings itself: they end now that it exits. Run with --forever to keep them.\n", prog)
		}
		return 0
	}
	if *forever {
		fmt.Fprintln(stdout, "--forever enabled, keeping alive")
	}
	<-ctx.Done()
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
		if ab, ok := b.(*amqp.Broker); ok {
			return ab.RoundRobin(ctx, bd.src, bd.tgt, bd.deadletter)
		}
		// MQTT has neither competing consumers nor dead-lettering: as
		// msgflo's binder, forward the source to the target.
		if bd.src == "" || bd.tgt == "" {
			return nil
		}
		return b.Bind(ctx, bd.src, bd.tgt)
	}
	return fmt.Errorf("unknown binding type %q", bd.kind)
}
