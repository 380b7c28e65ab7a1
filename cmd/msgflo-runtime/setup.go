package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/runtime"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
	"github.com/msgflo/msgflo-runtime/runtime/procs"
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
// announced, by role (plan.PortQueue, the runtime's rule).
func discoveredQueue(defs map[string]network.Definition) queueResolver {
	return func(node, port string, outport bool) (string, error) {
		def, ok := defs[node]
		if !ok {
			return "", fmt.Errorf("no participant with role %s was discovered", node)
		}
		return plan.PortQueue(def, port, outport)
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

// setupFlags are setup's flags (msgflo-setup's).
type setupFlags struct {
	participants, forever, discover       bool
	only, ignore, forward, timeout, shell string
	libFile, componentDir                 string
	queueType                             string
}

func defineSetupFlags(t *toolFlags) *setupFlags {
	f := &setupFlags{}
	t.brokerFlag()
	t.BoolVar(&f.participants, "participants", false, "also start the participants")
	t.StringVar(&f.only, "only", "", "start participants only for these roles (comma-separated)")
	t.StringVar(&f.ignore, "ignore", "", "do not start participants for these nodes, by id or role (comma-separated)")
	t.StringVar(&f.libFile, "library", runtime.DefaultLibraryFile, "library definition")
	t.StringVar(&f.componentDir, "componentdir", "", "directory of component files")
	t.StringVar(&f.forward, "forward", "", "forward participants' stdout and/or stderr")
	t.StringVar(&f.queueType, "queue-type", "", "RabbitMQ type of the inport queues it declares, and of the participants it starts: classic or quorum (default classic)")
	t.BoolVar(&f.forever, "forever", false, "keep running until killed")
	t.BoolVar(&f.discover, "discover", false, "bind the queues the participants announce (wait for their discovery messages) instead of ROLE.PORT")
	t.StringVar(&f.timeout, "timeout", "30", "seconds to wait for the discovery messages (--discover)")
	t.StringVar(&f.shell, "shell", "", "program that runs each participant command as SHELL -c COMMAND (default "+procs.DefaultShell+")")
	return f
}

// setup GRAPH: starts the graph's participants (--participants), then
// declares its queues and makes its bindings, named by convention or by
// discovery (--discover), and stays (--forever, or while it has
// participants; on MQTT the bindings are forwarded by this process). It
// prints what msgflo-setup prints.
func setupMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags(prog, "[flags] GRAPH.fbp|GRAPH.json", getenv, stderr)
	f := defineSetupFlags(t)
	g, code, ok := t.graphArg(msgfloBoolArgs(args, "participants", "forever", "discover"))
	if !ok {
		return code
	}
	timeout, err := seconds("timeout", f.timeout)
	if err != nil {
		return t.fail(2, "%v", err)
	}
	url := t.brokerURL()
	ctx, b, done, err := connect(url, f.queueType)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer done()

	var children setupChildren
	defer children.stop()
	if f.participants {
		if err := children.start(prog, g, f, url, stdout, stderr); err != nil {
			return t.fail(1, "%v", err)
		}
	}
	fmt.Fprintln(stdout, "Set up participants", nodeStringArray(children.roles))

	bindings, err := setupBindings(ctx, b, g, f.discover, timeout)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	fmt.Fprintln(stdout, "Set up bindings:\n", prettyBindings(bindings))
	if !f.forever && len(children.procs) == 0 {
		if !keepsBindings(b) && len(bindings) > 0 {
			fmt.Fprintf(stderr, "%s: on MQTT this process forwards the bindings itself: they end now that it exits. Run with --forever to keep them.\n", prog)
		}
		return 0
	}
	if f.forever {
		fmt.Fprintln(stdout, "--forever enabled, keeping alive")
	}
	return children.wait(ctx, prog, f.forever, stderr)
}

// wait stays until ctx ends (a signal), telling of each participant that
// exits. Without --forever it also ends when the participants are gone,
// or at the first that fails (exits with a non-zero status: the graph
// cannot run), with status 1 then; with --forever only ctx ends it.
func (c *setupChildren) wait(ctx context.Context, prog string, forever bool, stderr io.Writer) int {
	exits := make(chan int, len(c.procs))
	for i, p := range c.procs {
		go func() {
			select {
			case <-p.Done():
				exits <- i
			case <-ctx.Done():
			}
		}()
	}
	code := 0
	for left := len(c.procs); ; {
		select {
		case <-ctx.Done():
			return code
		case i := <-exits:
			left--
			exit := c.procs[i].Wait()
			fmt.Fprintf(stderr, "%s: participant %s exited with code %d\n", prog, c.roles[i], exit.Code)
			if exit.Code != 0 {
				code = 1
			}
			if !forever && (code != 0 || left == 0) {
				return code
			}
		}
	}
}

// setupChildren are the participants setup started, under the supervisor.
type setupChildren struct {
	procs []*procs.Process
	roles []string
}

// start starts the participants of the graph's nodes (--participants,
// --only, --ignore) with their library's command, or this program's
// participant subcommand for a built-in component.
func (c *setupChildren) start(prog string, g *graph.Graph, f *setupFlags, url string, stdout, stderr io.Writer) error {
	lib, err := runtime.LoadLibrary(f.libFile, f.componentDir)
	if err != nil {
		return err
	}
	roles := splitList(f.only)
	if f.only == "" {
		for _, n := range g.Nodes {
			roles = append(roles, n.ID)
		}
	}
	self, err := os.Executable()
	if err != nil {
		self = "msgflo-runtime"
	}
	ignore, fw := plan.IgnoreList(splitList(f.ignore)), splitList(f.forward)
	for _, role := range roles {
		n := g.Node(role)
		if ids := g.NodesOfRole(role); n == nil && len(ids) > 0 {
			n = g.Node(ids[0]) // --only names the role of a node whose id is not one
		}
		if !isSetupParticipant(n) || ignore.Matches(n.ID, g.Role(n.ID)) {
			continue
		}
		line, err := nodeCommand(lib, g, n, self)
		if err != nil {
			return err
		}
		spec := procs.Spec{Command: line, Shell: f.shell, Supervisor: supervisor(), Env: procs.Env{Broker: url, QueueType: f.queueType}.Environ(os.Environ())}
		if slices.Contains(fw, "stdout") {
			spec.Stdout = stdout
		}
		if slices.Contains(fw, "stderr") {
			spec.Stderr = stderr
		}
		child, err := procs.Start(spec)
		if err != nil {
			return fmt.Errorf("start %s: %w", role, err)
		}
		c.procs, c.roles = append(c.procs, child), append(c.roles, role)
		fmt.Fprintf(stderr, "%s: started %s (pid %d): %s\n", prog, role, child.Pid(), line)
	}
	return nil
}

// stop stops the participants: SIGTERM to each, SIGKILL after
// procs.StopGrace.
func (c *setupChildren) stop() {
	for _, p := range c.procs {
		p.Stop()
	}
	for _, p := range c.procs {
		<-p.Done()
	}
}

// setupBindings makes the graph's bindings on b, its queues named by
// convention, or as the participants announce them (discover).
func setupBindings(ctx context.Context, b network.Broker, g *graph.Graph, discover bool, timeout time.Duration) ([]setupBinding, error) {
	resolve := queueResolver(conventionQueue)
	if discover {
		var roles []string
		for _, n := range g.Nodes {
			if isSetupParticipant(n) {
				roles = append(roles, g.Role(n.ID))
			}
		}
		defs, err := discoverRoles(ctx, b, roles, timeout)
		if err != nil {
			return nil, err
		}
		resolve = discoveredQueue(defs)
	}
	bindings, err := graphBindings(g, resolve)
	if err != nil {
		return nil, err
	}
	for _, bd := range bindings {
		if err := applyBinding(ctx, b, bd); err != nil {
			return nil, err
		}
	}
	return bindings, nil
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
		if rr, ok := b.(network.RoundRobinBinder); ok {
			return rr.RoundRobin(ctx, bd.src, bd.tgt, bd.deadletter)
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

// keepsBindings says b's server keeps the bindings (RabbitMQ); otherwise
// this process forwards them (MQTT) and they end with it.
func keepsBindings(b network.Broker) bool {
	if network.KeepsBindings(b) {
		return true
	}
	_, rabbitMQ := b.(*amqp.Broker) // until amqp.Broker implements network.BindingKeeper
	return rabbitMQ
}
