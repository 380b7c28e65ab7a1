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
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/participant"
)

// msgflo's command-line tools, as subcommands with the same flags.

var subcommands = map[string]func(args []string, getenv func(string) string, stdout, stderr io.Writer) int{
	"participant": participantMain,
	"send":        sendMain,
	"dump":        dumpMain,
	"procfile":    procfileMain,
	"register":    registerMain,
	"setup":       setupMain,
}

// toolFlags is a flag set that takes flags before and after positional
// arguments, as msgflo's tools (commander) do.
type toolFlags struct {
	*flag.FlagSet
	name   string
	stderr io.Writer
}

func newToolFlags(name, usage string, stderr io.Writer) *toolFlags {
	fs := flag.NewFlagSet("msgflo-runtime "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: msgflo-runtime %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return &toolFlags{FlagSet: fs, name: name, stderr: stderr}
}

// parse returns the positional arguments; ok false means exit with code.
func (t *toolFlags) parse(args []string) (positional []string, code int, ok bool) {
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
	fmt.Fprintf(t.stderr, "msgflo-runtime %s: %s\n", t.name, fmt.Sprintf(format, args...))
	return code
}

func toolBroker(ctx context.Context, url string) (network.Broker, error) {
	return dial.Open(ctx, url, dial.Options{Logger: zerolog.Nop()})
}

// send --queue Q --json DATA: one message into a queue.
func sendMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags("send", "--queue QUEUE --json DATA", stderr)
	broker := t.String("broker", "", "broker URL (env MSGFLO_BROKER, then CLOUDAMQP_URL)")
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := toolBroker(ctx, participant.BrokerURL(*broker, getenv))
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer b.Close()
	if err := b.Send(ctx, *queue, []byte(*data)); err != nil {
		return t.fail(1, "%v", err)
	}
	return 0
}

// dump --queue Q [--amount N]: print messages taken from a queue (one as
// JSON, several as a JSON array), acknowledging them.
func dumpMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags("dump", "--queue QUEUE [--amount N]", stderr)
	broker := t.String("broker", "", "broker URL (env MSGFLO_BROKER, then CLOUDAMQP_URL)")
	queue := t.String("queue", "", "queue to take messages from")
	amount := t.Int("amount", 1, "how many messages to dump")
	if _, code, ok := t.parse(args); !ok {
		return code
	}
	if *queue == "" || *amount < 1 {
		return t.fail(2, "--queue is required and --amount must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b, err := toolBroker(ctx, participant.BrokerURL(*broker, getenv))
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer b.Close()
	got := make(chan json.RawMessage, *amount)
	var out []json.RawMessage
	sub, err := b.Consume(ctx, *queue, 1, func(d network.Delivery) {
		data := append(json.RawMessage(nil), d.Data()...)
		if !json.Valid(data) {
			s, _ := json.Marshal(string(data)) // as msgflo: not JSON, kept as text
			data = s
		}
		select {
		case got <- data:
			_ = d.Ack()
		default:
			_ = d.Nack() // more than asked for: not ours
		}
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
func procfileMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags("procfile", "[flags] GRAPH.fbp|GRAPH.json", stderr)
	lib := t.String("library", "package.json", "library definition")
	components := t.String("components", "participants", "directory of component files")
	var ignore, include listFlag
	t.Var(&ignore, "ignore", "node to leave out (repeatable)")
	t.Var(&include, "include", "line to include as-is (repeatable)")
	pos, code, ok := t.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		t.Usage()
		return 2
	}
	g, order, err := graphWithOrder(pos[0])
	if err != nil {
		return t.fail(1, "%v", err)
	}
	l, err := library.Load(*lib, *lib == "package.json", *components)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	var lines []string
	for _, name := range order {
		if containsString(ignore, name) {
			continue
		}
		n := g.Node(name)
		iips := map[string]any{}
		for _, iip := range g.IIPs {
			if iip.Tgt.Node == name {
				iips[iip.Tgt.Port] = iip.Data
			}
		}
		var cmd string
		if c, ok := l.Get(n.Component); ok {
			cmd = l.Command(c, name, iips)
		} else if _, builtin := participant.LookupCore(n.Component); builtin {
			cmd = "msgflo-runtime participant " + n.Component + " --role " + name
		} else {
			return t.fail(1, "No component %s defined for role %s", n.Component, name)
		}
		lines = append(lines, name+": "+cmd)
	}
	fmt.Fprintln(stdout, strings.Join(lines, "\n")+"\n"+strings.Join(include, "\n"))
	return 0
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// graphWithOrder loads a graph file and the order of its processes as the
// file gives them (msgflo's tools follow it).
func graphWithOrder(path string) (*graph.Graph, []string, error) {
	g, err := loadGraphFile(path)
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var order []string
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		order = jsonProcessOrder(data)
	} else {
		order = graph.FBPProcessOrder(string(data))
	}
	if len(order) != len(g.Nodes) {
		order = order[:0]
		for _, n := range g.Nodes {
			order = append(order, n.ID)
		}
		sort.Strings(order)
	}
	return g, order, nil
}

// jsonProcessOrder lists the keys of "processes" in file order.
func jsonProcessOrder(data []byte) []string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw["processes"]))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var order []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		order = append(order, tok.(string))
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return nil
		}
	}
	return order
}

// foreignDefinition is a foreign participant's YAML file, as msgflo reads it.
type foreignDefinition struct {
	ID        string                    `yaml:"id"`
	Role      string                    `yaml:"role"`
	Component string                    `yaml:"component"`
	Label     string                    `yaml:"label"`
	Icon      string                    `yaml:"icon"`
	Inports   map[string]map[string]any `yaml:"inports"`
	Outports  map[string]map[string]any `yaml:"outports"`
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
	ports := func(m map[string]map[string]any) ([]network.Port, error) {
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		out := []network.Port{}
		for _, id := range ids {
			spec := m[id]
			str := func(k string) string { s, _ := spec[k].(string); return s }
			q := strings.ReplaceAll(str("queue"), "#ROLE", role)
			if q == "" {
				return nil, fmt.Errorf("%s: port %s has no queue", path, id)
			}
			hidden, _ := spec["hidden"].(bool)
			out = append(out, network.Port{ID: id, Queue: q, Type: str("type"), Description: str("description"), Hidden: hidden})
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
func registerMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags("register", "--role ROLE:DEFINITION.yaml [--role ...]", stderr)
	broker := t.String("broker", "", "broker URL (env MSGFLO_BROKER, then CLOUDAMQP_URL)")
	var roles listFlag
	t.Var(&roles, "role", "ROLE:FILE.yaml, a role and its definition (repeatable)")
	interval := t.String("interval", "60", "seconds between discovery messages")
	forever := t.Bool("forever", true, "keep announcing until stopped")
	if _, code, ok := t.parse(msgfloBoolArgs(args, "forever")); !ok {
		return code
	}
	if len(roles) == 0 {
		return t.fail(2, "at least one --role ROLE:FILE is required")
	}
	every, err := seconds("interval", *interval)
	if err != nil {
		return t.fail(2, "%v", err)
	}
	var defs []network.Definition
	for _, r := range roles {
		role, file, ok := strings.Cut(r, ":")
		if !ok || role == "" || file == "" {
			return t.fail(2, "--role %q is not ROLE:FILE", r)
		}
		def, err := loadForeign(role, filepath.Clean(file))
		if err != nil {
			return t.fail(1, "%v", err)
		}
		defs = append(defs, def)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b, err := toolBroker(ctx, participant.BrokerURL(*broker, getenv))
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer b.Close()
	announce := func() error {
		for _, def := range defs {
			msg, err := network.EncodeDiscovery(def)
			if err != nil {
				return err
			}
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
				fmt.Fprintf(stderr, "msgflo-runtime register: %v\n", err)
			}
		}
	}
}
