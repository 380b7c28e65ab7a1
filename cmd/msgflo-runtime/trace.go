package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// trace start|stop|clear|dump --address ws://… [--graph G] [--secret S]:
// the trace sub-protocol from the command line; dump prints the graph's
// flowtrace (every participant's merged in). trace show FILE prints a
// flowtrace as readable lines.

const (
	// traceReadLimit bounds one message from the runtime (a flowtrace).
	traceReadLimit = 256 << 20
	// maxShownData bounds the data printed per event by trace show.
	maxShownData = 200
)

func traceMain(_ string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	usage := "start|stop|clear|dump --address ws://HOST:PORT [--graph G] [--secret S]\n       msgflo-runtime trace show FILE"
	if len(args) == 0 {
		fmt.Fprintf(stderr, "Usage: msgflo-runtime trace %s\n", usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	if cmd == "show" {
		return traceShow(args, getenv, stdout, stderr)
	}
	if cmd != "start" && cmd != "stop" && cmd != "clear" && cmd != "dump" {
		fmt.Fprintf(stderr, "msgflo-runtime trace: unknown command %q\nUsage: msgflo-runtime trace %s\n", cmd, usage)
		return 2
	}
	t := newToolFlags("trace "+cmd, "--address ws://HOST:PORT [--graph G] [--secret S]", getenv, stderr)
	rf := newRuntimeFlags(t, "graph to trace", 60*time.Second)
	address, graphID := rf.address, rf.graph
	buffersize := t.Int("buffersize", 0, "events kept (start; default the runtime's)")
	pos, code, ok := t.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		t.Usage()
		return 2
	}
	c, err := rf.dial()
	if err != nil {
		return t.fail(1, "%v", err)
	}
	defer c.Close()
	if *graphID == "" {
		rt, err := c.ask("runtime", "getruntime", map[string]any{}, "runtime")
		if err != nil {
			return t.fail(1, "%v", err)
		}
		if *graphID, _ = rt["graph"].(string); *graphID == "" {
			return t.fail(1, "the runtime at %s has no main graph: say which with --graph", *address)
		}
	}
	payload := map[string]any{"graph": *graphID}
	switch cmd {
	case "start":
		if *buffersize > 0 {
			payload["buffersize"] = *buffersize
		}
	case "dump":
		payload["type"] = "flowtrace.json"
	}
	answer, err := c.ask("trace", cmd, payload, cmd)
	if err != nil {
		return t.fail(1, "%v", err)
	}
	if cmd == "dump" {
		ft, _ := answer["flowtrace"].(string)
		fmt.Fprintln(stdout, ft)
	}
	return 0
}

// runtimeFlags are the flags of the subcommands that talk to a runtime
// over the FBP protocol (trace, status).
type runtimeFlags struct {
	address, secret, graph *string
	timeout                *time.Duration
}

// newRuntimeFlags defines them on t; graphUse says what --graph is for,
// timeout is --timeout's default.
func newRuntimeFlags(t *toolFlags, graphUse string, timeout time.Duration) runtimeFlags {
	return runtimeFlags{
		address: t.String("address", "ws://localhost:3569", "WebSocket address of the runtime"),
		secret:  t.String("secret", "", "the runtime's secret"),
		graph:   t.String("graph", "", graphUse+" (default: the runtime's main graph)"),
		timeout: t.Duration("timeout", timeout, "how long to wait for the runtime's answers"),
	}
}

func (f runtimeFlags) dial() (*runtimeClient, error) {
	return dialRuntime(*f.address, *f.secret, *f.timeout)
}

// runtimeClient is a connection to a runtime for one tool run
// (protocol/fbpclient), presenting the secret at the top level.
type runtimeClient struct {
	cl      *fbpclient.Client
	secret  string
	timeout time.Duration
}

func dialRuntime(address, secret string, timeout time.Duration) (*runtimeClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := fbpclient.Dial(ctx, address, fbpclient.Options{
		Secret: secret, Placement: fbpclient.SecretTopLevel,
		HandshakeTimeout: timeout, ReadLimit: traceReadLimit,
	})
	if err != nil {
		return nil, err // "connect to ADDRESS: ..."
	}
	return &runtimeClient{cl: cl, secret: secret, timeout: timeout}, nil
}

func (c *runtimeClient) Close() error { return c.cl.Close() }

// ask sends protocol:command and returns the payload of the first
// protocol:reply, skipping the other messages; <protocol>:error (or
// runtime:error) is an error.
func (c *runtimeClient) ask(protocol, command string, payload map[string]any, reply string) (map[string]any, error) {
	if err := c.cl.Send(protocol, command, payload); err != nil {
		return nil, fmt.Errorf("send %s:%s: %w", protocol, command, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	m, err := c.cl.WaitFor(ctx, func(m fbpclient.Message) bool {
		return m.Is(protocol, reply) || m.Command == "error" && (m.Protocol == protocol || m.Protocol == "runtime")
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for %s:%s: %w", protocol, reply, err)
	}
	var p map[string]any
	if len(m.Payload) > 0 {
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			return nil, fmt.Errorf("%s:%s: %w", m.Protocol, m.Command, err)
		}
	}
	if m.Command == "error" {
		text, _ := p["message"].(string)
		return nil, fmt.Errorf("%s:%s: %s", protocol, command, oneLine(text))
	}
	return p, nil
}

// showEvent is what trace show reads of an event.
type showEvent struct {
	Protocol    string `json:"protocol"`
	Command     string `json:"command"`
	Participant string `json:"participant"`
	Payload     struct {
		Time  string          `json:"time"`
		Graph string          `json:"graph"`
		Src   *showEnd        `json:"src"`
		Tgt   *showEnd        `json:"tgt"`
		Group string          `json:"group"`
		Data  json.RawMessage `json:"data"`
	} `json:"payload"`
}

type showEnd struct {
	Node string `json:"node"`
	Port string `json:"port"`
}

func traceShow(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags("trace show", "FILE", getenv, stderr)
	pos, code, ok := t.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		t.Usage()
		return 2
	}
	var in io.Reader = os.Stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return t.fail(1, "%v", err)
		}
		defer f.Close()
		in = f
	}
	var ft struct {
		Header struct {
			Participants []struct {
				Node        string `json:"node"`
				Participant string `json:"participant"`
				Error       string `json:"error"`
			} `json:"participants"`
		} `json:"header"`
		Events []showEvent `json:"events"`
	}
	if err := json.NewDecoder(in).Decode(&ft); err != nil {
		return t.fail(1, "%s is not a flowtrace: %v", pos[0], err)
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for _, p := range ft.Header.Participants {
		if p.Error != "" {
			fmt.Fprintf(w, "# %s (participant %s) gave no trace: %s\n", oneLine(p.Node), oneLine(p.Participant), oneLine(p.Error))
		}
	}
	for _, ev := range ft.Events {
		fmt.Fprintln(w, showLine(ev))
	}
	if err := w.Flush(); err != nil {
		if errors.Is(err, io.ErrClosedPipe) {
			return 0
		}
		return t.fail(1, "%v", err)
	}
	return 0
}

// showLine prints an event as flowtrace-show does: the connection, what
// happened on it, the data; plus when and who recorded it.
func showLine(ev showEvent) string {
	var b strings.Builder
	b.WriteString(oneLine(ev.Payload.Time))
	if ev.Payload.Graph != "" {
		b.WriteString(" " + oneLine(ev.Payload.Graph) + ":")
	}
	if s := ev.Payload.Src; s != nil && s.Node != "" {
		fmt.Fprintf(&b, " %s %s ->", oneLine(s.Node), strings.ToUpper(oneLine(s.Port)))
	}
	if t := ev.Payload.Tgt; t != nil && t.Node != "" {
		fmt.Fprintf(&b, " %s %s", strings.ToUpper(oneLine(t.Port)), oneLine(t.Node))
	}
	b.WriteString(" " + strings.ToUpper(oneLine(ev.Command)))
	switch {
	case len(ev.Payload.Data) > 0:
		data := []rune(oneLine(string(ev.Payload.Data)))
		if len(data) > maxShownData {
			data = append(data[:maxShownData], '…')
		}
		b.WriteString(" " + string(data))
	case ev.Payload.Group != "":
		b.WriteString(" " + oneLine(ev.Payload.Group))
	}
	if ev.Participant != "" {
		b.WriteString(" [" + oneLine(ev.Participant) + "]")
	}
	return b.String()
}

// oneLine keeps a value from a runtime, a participant or a file on its
// line and out of the terminal's control: control characters (C0, DEL and
// C1, such as ESC and CSI) become spaces, as do bidirectional overrides
// (which reorder what follows on the line) and bytes that are not UTF-8.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
}
