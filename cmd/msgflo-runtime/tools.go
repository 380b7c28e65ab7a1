package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/settings"
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/runtime"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// msgflo's command-line tools, as subcommands with the same flags.

// tool is the entry point of a subcommand; prog is how it names itself in
// messages ("msgflo-runtime setup", or "msgflo-setup" when called by
// msgflo's program name).
type tool func(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int

var subcommands = map[string]tool{
	"participant": participantMain,
	"send":        sendMain,
	"dump":        dumpMain,
	"procfile":    procfileMain,
	"register":    registerMain,
	"setup":       setupMain,
	"trace":       traceMain,
	"status":      statusMain,
	"test":        testMain,
}

// toolFlags is a flag set that takes flags before and after positional
// arguments, as msgflo's tools (commander) do. The flags of the settings
// table (internal/settings) not given take their environment variables'
// values after parsing.
type toolFlags struct {
	*flag.FlagSet
	name   string
	getenv func(string) string
	stderr io.Writer
}

func newToolFlags(prog, usage string, getenv func(string) string, stderr io.Writer) *toolFlags {
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	annotate := sync.OnceFunc(func() { settings.Annotate(fs) })
	fs.Usage = func() {
		annotate()
		fmt.Fprintf(stderr, "Usage: %s %s\n\nFlags:\n", prog, usage)
		fs.PrintDefaults()
	}
	return &toolFlags{FlagSet: fs, name: prog, getenv: getenv, stderr: stderr}
}

// brokerFlag defines --broker; brokerURL is the broker to use.
func (t *toolFlags) brokerFlag() {
	t.String("broker", "", "broker URL, or a comma-separated list for the nodes of a cluster (default amqp://localhost, as msgflo-nodejs)")
}

// brokerURL is the broker to use after parse: --broker, or its
// environment variables (participant.BrokerURL).
func (t *toolFlags) brokerURL() string {
	return participant.BrokerURL(t.Lookup("broker").Value.String(), t.getenv)
}

// parse returns the positional arguments, the environment applied to the
// flags not given; ok false means exit with code.
func (t *toolFlags) parse(args []string) (positional []string, code int, ok bool) {
	defer func() {
		if _, err := settings.Apply(t.FlagSet, t.getenv); ok && err != nil {
			positional, code, ok = nil, t.fail(2, "%v", err), false
		}
	}()
	rest := args
	for len(rest) > 0 {
		if err := t.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		rest = t.Args()
		if len(rest) > 0 {
			positional = append(positional, rest[0])
			rest = rest[1:]
		}
	}
	return positional, 0, true
}

func (t *toolFlags) fail(code int, format string, args ...any) int {
	fmt.Fprintf(t.stderr, "%s: %s\n", t.name, fmt.Sprintf(format, args...))
	return code
}

// graphArg parses the arguments of a tool that takes one graph file and
// loads it; ok false means exit with code.
func (t *toolFlags) graphArg(args []string) (g *graph.Graph, code int, ok bool) {
	pos, code, ok := t.parse(args)
	if !ok {
		return nil, code, false
	}
	if len(pos) != 1 {
		t.Usage()
		return nil, 2, false
	}
	g, err := loadGraphFile(pos[0])
	if err != nil {
		return nil, t.fail(1, "%v", err), false
	}
	return g, 0, true
}

// connect opens the broker at url for a tool, declaring durable queues of
// queueType ("" classic). ctx ends on SIGINT or SIGTERM; done disconnects.
func connect(url, queueType string) (ctx context.Context, b network.Broker, done func(), err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	b, err = dial.Open(ctx, url, dial.Options{Logger: zerolog.Nop(), QueueType: queueType})
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return ctx, b, func() { b.Close(); stop() }, nil
}

// send --queue Q --json DATA: one message into a queue.
func sendMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags(prog, "--queue QUEUE --json DATA", getenv, stderr)
	t.brokerFlag()
	queue := t.String("queue", "", "queue to send to")
	data := t.String("json", "", "data to send; must be valid JSON")
	if _, code, ok := t.parse(args); !ok {
		return code
	}
	if *queue == "" {
		return t.fail(2, "--queue is required")
	}
	if *data == "" || !json.Valid([]byte(*data)) {
		return t.fail(2, "--json must be valid JSON")
	}
	ctx, b, done, err := connect(t.brokerURL(), "")
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.Send(ctx, *queue, []byte(*data)); err != nil {
		return t.fail(1, "%v", err)
	}
	return 0
}

// dump --queue Q [--amount N]: print messages taken from a queue (one as
// JSON, several as a JSON array), acknowledging them.
func dumpMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags(prog, "--queue QUEUE [--amount N]", getenv, stderr)
	t.brokerFlag()
	queue := t.String("queue", "", "queue to take messages from")
	amount := t.Int("amount", 1, "how many messages to dump")
	if _, code, ok := t.parse(args); !ok {
		return code
	}
	if *queue == "" || *amount < 1 {
		return t.fail(2, "--queue is required and --amount must be at least 1")
	}
	ctx, b, done, err := connect(t.brokerURL(), "")
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer done()
	got := make(chan json.RawMessage, *amount)
	var out []json.RawMessage
	taken := 0 // by the handler, whose calls never overlap
	sub, err := b.Consume(ctx, *queue, 1, func(d network.Delivery) {
		if taken == *amount {
			// The broker sent the next message once the last was
			// acknowledged: it stays in the queue, given back now (AMQP)
			// or, left unacknowledged, when the consumer closes.
			if r, ok := d.(network.Requeuer); ok {
				_ = r.Requeue()
			}
			return
		}
		taken++
		// As msgflo: a body that is not JSON is kept as its text.
		got <- append(json.RawMessage(nil), network.AsJSON(d.Data())...)
		_ = d.Ack()
	})
	if err != nil {
		return t.fail(1, "%v", err)
	}
	for len(out) < *amount {
		select {
		case m := <-got:
			out = append(out, m)
		case <-ctx.Done():
			sub.Close()
			return t.fail(1, "interrupted after %d of %d messages", len(out), *amount)
		}
	}
	sub.Close()
	var buf bytes.Buffer
	if *amount == 1 {
		_ = json.Compact(&buf, out[0])
	} else {
		data, _ := json.Marshal(out)
		_ = json.Compact(&buf, data)
	}
	fmt.Fprintln(stdout, buf.String())
	return 0
}

// procfile GRAPH: a Heroku/foreman Procfile with one line per participant.
func procfileMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags(prog, "[flags] GRAPH.fbp|GRAPH.json", getenv, stderr)
	lib := t.String("library", runtime.DefaultLibraryFile, "library definition")
	components := t.String("components", "participants", "directory of component files")
	var ignore, include listFlag
	t.Var(&ignore, "ignore", "node to leave out, by id or role (repeatable)")
	t.Var(&include, "include", "line to include as-is (repeatable)")
	g, code, ok := t.graphArg(args)
	if !ok {
		return code
	}
	l, err := runtime.LoadLibrary(*lib, *components)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	var lines []string
	for _, n := range g.Nodes {
		role := g.Role(n.ID)
		if plan.IgnoreList(ignore).Matches(n.ID, role) {
			continue
		}
		cmd, err := nodeCommand(l, g, n, "msgflo-runtime")
		if err != nil {
			return t.fail(1, "%v", err)
		}
		lines = append(lines, role+": "+cmd)
	}
	fmt.Fprintln(stdout, strings.Join(lines, "\n")+"\n"+strings.Join(include, "\n"))
	return 0
}

// nodeCommand is the command line that runs node's participant: the
// library's command, or, for a built-in component, this program's
// participant subcommand (self is how to call this program).
// The participant's role is the node's (graph.Graph.Role), as the runtime
// gives it.
func nodeCommand(l *library.Library, g *graph.Graph, n *graph.Node, self string) (string, error) {
	role := g.Role(n.ID)
	if c, ok := l.Get(n.Component); ok {
		return l.Command(c, role, g.InitialData(n.ID))
	}
	if _, builtin := participant.LookupCore(n.Component); builtin {
		if strings.HasPrefix(role, "-") {
			return "", fmt.Errorf("role %q: %w", role, library.ErrOptionValue)
		}
		return library.QuoteWord(self) + " participant " + library.QuoteWord(n.Component) + " --role " + library.QuoteWord(role), nil
	}
	return "", fmt.Errorf("No component %s defined for role %s", n.Component, role)
}

// foreignDefinition is a foreign participant's YAML file, as msgflo reads it.
type foreignDefinition struct {
	ID        string       `yaml:"id"`
	Role      string       `yaml:"role"`
	Component string       `yaml:"component"`
	Label     string       `yaml:"label"`
	Icon      string       `yaml:"icon"`
	Inports   foreignPorts `yaml:"inports"`
	Outports  foreignPorts `yaml:"outports"`
}

// foreignPort is one port of a foreign definition, before #ROLE is replaced.
type foreignPort struct {
	id   string
	spec map[string]any
}

// foreignPorts are a definition's ports in either of the forms msgflo's
// files use: a map from port id to port (msgflo's documented form), or a
// list of ports (msgflo's own test files, e.g. toggleswitch.yaml). A
// listed port keeps its own id; one without an id gets its position
// ("0", "1", ...), which is the id msgflo 0.12.3 gives every listed port.
type foreignPorts []foreignPort

func (f *foreignPorts) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]map[string]any
		if err := n.Decode(&m); err != nil {
			return err
		}
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			*f = append(*f, foreignPort{id: id, spec: m[id]})
		}
	case yaml.SequenceNode:
		var l []map[string]any
		if err := n.Decode(&l); err != nil {
			return err
		}
		for i, spec := range l {
			id, _ := spec["id"].(string)
			if id == "" {
				id = strconv.Itoa(i)
			}
			*f = append(*f, foreignPort{id: id, spec: spec})
		}
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			return fmt.Errorf("line %d: ports must be a map or a list, not %q", n.Line, n.Value)
		}
	default:
		return fmt.Errorf("line %d: ports must be a map or a list", n.Line)
	}
	return nil
}

// loadForeign reads a foreign participant definition for role.
func loadForeign(role, path string) (network.Definition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return network.Definition{}, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return network.Definition{}, fmt.Errorf("No definition found in %s", path)
	}
	var fd foreignDefinition
	if err := yaml.Unmarshal(data, &fd); err != nil {
		return network.Definition{}, fmt.Errorf("%s: %w", path, err)
	}
	if fd.Component == "" {
		return network.Definition{}, fmt.Errorf("%s: .component is not defined", path)
	}
	def := network.Definition{ID: fd.ID, Role: role, Component: fd.Component, Label: fd.Label, Icon: fd.Icon}
	if def.ID == "" {
		def.ID = role
	}
	ports := func(in foreignPorts) ([]network.Port, error) {
		out := []network.Port{}
		for _, fp := range in {
			str := func(k string) string { s, _ := fp.spec[k].(string); return s }
			q := strings.ReplaceAll(str("queue"), "#ROLE", role)
			if q == "" {
				return nil, fmt.Errorf("%s: port %s has no queue", path, fp.id)
			}
			hidden, _ := fp.spec["hidden"].(bool)
			out = append(out, network.Port{ID: fp.id, Queue: q, Type: str("type"), Description: str("description"), Hidden: hidden})
		}
		return out, nil
	}
	if def.Inports, err = ports(fd.Inports); err != nil {
		return network.Definition{}, err
	}
	if def.Outports, err = ports(fd.Outports); err != nil {
		return network.Definition{}, err
	}
	return def, nil
}

// register --role ROLE:FILE.yaml ...: announce foreign participants (that
// know nothing of msgflo) on their behalf, every --interval seconds.
func registerMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags(prog, "--role ROLE:DEFINITION.yaml [--role ...]", getenv, stderr)
	t.brokerFlag()
	var roles listFlag
	t.Var(&roles, "role", "ROLE:FILE.yaml, a role and its definition (repeatable)")
	interval := t.String("interval", "60", "discovery period in seconds: the definitions are announced every interval/2.2, as msgflo-register")
	forever := t.Bool("forever", true, "keep announcing until stopped")
	if _, code, ok := t.parse(msgfloBoolArgs(args, "forever")); !ok {
		return code
	}
	if len(roles) == 0 {
		return t.fail(2, "at least one --role ROLE:FILE is required")
	}
	period, err := seconds("interval", *interval)
	if err != nil {
		return t.fail(2, "%v", err)
	}
	every := time.Duration(float64(period) / 2.2)
	var defs []network.Definition
	var msgs [][]byte // the announcements, encoded once
	for _, r := range roles {
		role, file, ok := strings.Cut(r, ":")
		if !ok || role == "" || file == "" {
			return t.fail(2, "--role %q is not ROLE:FILE", r)
		}
		def, err := loadForeign(role, filepath.Clean(file))
		if err != nil {
			return t.fail(1, "%v", err)
		}
		if *forever { // coordinators judge the participant by how often it is announced
			def.Heartbeat = every.Round(time.Millisecond).Seconds()
		}
		msg, err := network.EncodeDiscovery(def)
		if err != nil {
			return t.fail(1, "%s: %v", file, err)
		}
		defs, msgs = append(defs, def), append(msgs, msg)
	}
	ctx, b, done, err := connect(t.brokerURL(), "")
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer done()
	announce := func() error {
		for _, msg := range msgs {
			if err := b.Announce(ctx, msg); err != nil {
				return err
			}
		}
		return nil
	}
	if err := announce(); err != nil {
		return t.fail(1, "%v", err)
	}
	for _, def := range defs {
		fmt.Fprintln(stdout, "Sent discovery message for", def.ID)
	}
	if !*forever {
		return 0
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
			if err := announce(); err != nil && ctx.Err() == nil {
				fmt.Fprintf(stderr, "%s: %v\n", prog, err)
			}
		}
	}
}
