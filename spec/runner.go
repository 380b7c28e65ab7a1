package spec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/backoff"
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// Defaults, as fbp-spec's: its CLI's --start-timeout and --command-timeout,
// and the timeout its suite schema and Mocha runner give a case.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultCommandTimeout = 3 * time.Second
	DefaultCaseTimeout    = 2 * time.Second
	// componentTimeout bounds the component protocol's commands, which
	// fbp-client lets run unbounded (they can do much I/O).
	componentTimeout = time.Minute
	// retryFirst and retryMost bound the delays between the tries of a
	// connection until ConnectTimeout (internal/backoff: doubling,
	// jittered).
	retryFirst = 50 * time.Millisecond
	retryMost  = 500 * time.Millisecond
)

// requiredCapabilities are what fbp-spec needs of a runtime.
var requiredCapabilities = []string{"protocol:graph", "protocol:network", "protocol:runtime"}

// Options say how to reach the runtime and how long to wait for it.
type Options struct {
	Address string // ws:// or wss://
	Secret  string
	// ConnectTimeout is how long connecting is retried (default 10 s).
	ConnectTimeout time.Duration
	// CommandTimeout bounds each protocol command (default 3 s).
	CommandTimeout time.Duration
	// CaseTimeout is a case's time limit when neither it nor its suite
	// gives one (default 2 s).
	CaseTimeout time.Duration
}

func (o *Options) defaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.CaseTimeout <= 0 {
		o.CaseTimeout = DefaultCaseTimeout
	}
}

// Runner runs suites over one connection to a runtime.
type Runner struct {
	opts       Options
	client     *fbpclient.Client
	runtime    fbpclient.Runtime
	namespace  any // the runtime's namespace as it sent it (nil: absent)
	components map[string]component
	broken     error // set when the connection is lost
}

// Connect connects to the runtime, retrying until ConnectTimeout, and
// checks that it offers what fbp-spec needs.
func Connect(ctx context.Context, o Options) (*Runner, error) {
	o.defaults()
	deadline := time.Now().Add(o.ConnectTimeout)
	delays := backoff.New(retryFirst, retryMost)
	for {
		r, err := connectOnce(ctx, o)
		if err == nil || ctx.Err() != nil {
			return r, err
		}
		delay := delays.Next()
		if time.Now().Add(delay).After(deadline) {
			return r, err
		}
		if backoff.Sleep(ctx, delay) != nil {
			return nil, err
		}
	}
}

func connectOnce(ctx context.Context, o Options) (*Runner, error) {
	dctx, cancel := context.WithTimeout(ctx, o.CommandTimeout)
	defer cancel()
	c, err := fbpclient.Dial(dctx, o.Address, fbpclient.Options{Secret: o.Secret, HandshakeTimeout: o.CommandTimeout})
	if err != nil {
		return nil, err
	}
	m, err := c.RequestMessage(dctx, wire.GetRuntime{})
	if err != nil {
		c.Close()
		return nil, err
	}
	r := &Runner{opts: o, client: c}
	var raw map[string]json.RawMessage
	if err := m.Decode(&r.runtime.Runtime); err != nil || m.Decode(&raw) != nil {
		c.Close()
		return nil, fmt.Errorf("runtime:runtime: %v", err)
	}
	if ns, ok := raw["namespace"]; ok {
		_ = json.Unmarshal(ns, &r.namespace)
	}
	if v, err := strconv.ParseFloat(r.runtime.Version, 64); err == nil && v > 0.9 {
		c.Close()
		return nil, fmt.Errorf("Unsupported FBP protocol version %s", r.runtime.Version)
	}
	if len(r.runtime.Capabilities) == 0 {
		c.Close()
		return nil, fmt.Errorf("Runtime provides no capabilities")
	}
	for _, want := range requiredCapabilities {
		if !r.runtime.Has(want) {
			c.Close()
			return nil, fmt.Errorf("Runtime doesn't provide %s", want)
		}
	}
	return r, nil
}

// Runtime is what the runtime said of itself.
func (r *Runner) Runtime() fbpclient.Runtime { return r.runtime }

// Close closes the connection.
func (r *Runner) Close() error { return r.client.Close() }

// request sends a command and waits for its reply within the command
// timeout (component commands: componentTimeout).
func (r *Runner) request(ctx context.Context, msg wire.Message) (fbpclient.Message, error) {
	protocol, cmd := msg.Protocol(), msg.Command()
	limit := r.opts.CommandTimeout
	if protocol == "component" {
		limit = componentTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	m, err := r.client.RequestMessage(ctx, msg)
	if err != nil {
		r.noteBroken(err)
		if errors.Is(err, context.DeadlineExceeded) {
			return m, fmt.Errorf("%s:%s timed out", protocol, cmd)
		}
	}
	return m, err
}

// noteBroken remembers a lost connection: the cases after it fail.
func (r *Runner) noteBroken(err error) {
	if errors.Is(err, fbpclient.ErrClosed) && r.broken == nil {
		r.broken = fmt.Errorf("Disconnected from runtime: %w", err)
	}
}

// listComponents asks for the component list once (fbp-spec does before
// the first fixture, whatever the fixture).
func (r *Runner) listComponents(ctx context.Context) error {
	if len(r.components) > 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, componentTimeout)
	defer cancel()
	list, err := r.client.Components(ctx)
	if err != nil {
		r.noteBroken(err)
		return err
	}
	r.components = componentsByName(list)
	return nil
}

// setup uploads the suite's fixture and starts it; it returns the graph id.
func (r *Runner) setup(ctx context.Context, s *Suite) (string, error) {
	if err := r.listComponents(ctx); err != nil {
		return "", err
	}
	g, err := fixtureGraph(s, r.components)
	if err != nil {
		return "", err
	}
	id := graphID(g)
	cmds, err := uploadCommands(g, id, r.namespace)
	if err != nil {
		return "", err
	}
	for _, c := range cmds {
		if _, err := r.request(ctx, c); err != nil {
			return "", err
		}
	}
	if _, err := r.request(ctx, wire.Start{Graph: id}); err != nil {
		return "", err
	}
	return id, nil
}

func (r *Runner) teardown(ctx context.Context, id string) error {
	_, err := r.request(ctx, wire.Stop{Graph: id})
	return err
}
