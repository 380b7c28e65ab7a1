package spec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// Status is a case's outcome.
type Status int

const (
	Passed Status = iota
	Failed
	Skipped
)

func (s Status) String() string {
	return [...]string{"passed", "failed", "skipped"}[s]
}

// Result is one case's outcome.
type Result struct {
	Suite    *Suite
	Case     *Case
	Status   Status
	Err      error // why it failed (a *Failure for an expectation)
	Reason   string
	Duration time.Duration
}

// SuiteResult is a suite's outcome: its cases', and an error when the
// suite could not be set up or torn down.
type SuiteResult struct {
	Suite    *Suite
	Cases    []Result
	Err      error
	Duration time.Duration
}

// Run runs the suites in order, one fixture graph per suite, its cases in
// series; done (if not nil) is called after each case.
func (r *Runner) Run(ctx context.Context, suites []*Suite, done func(Result)) []SuiteResult {
	var out []SuiteResult
	for _, s := range suites {
		out = append(out, r.runSuite(ctx, s, done))
	}
	return out
}

func (r *Runner) runSuite(ctx context.Context, s *Suite, done func(Result)) SuiteResult {
	start := time.Now()
	res := SuiteResult{Suite: s}
	report := func(c *Case, st Status, err error, reason string, d time.Duration) {
		cr := Result{Suite: s, Case: c, Status: st, Err: err, Reason: reason, Duration: d}
		res.Cases = append(res.Cases, cr)
		if done != nil {
			done(cr)
		}
	}
	needsSetup := false
	for _, c := range s.Cases {
		needsSetup = needsSetup || c.Skip == ""
	}
	var setupErr error
	id := ""
	switch {
	case s.Skip != "":
		for _, c := range s.Cases {
			report(c, Skipped, nil, s.Skip, 0)
		}
		return res
	case s.Err != nil:
		setupErr = s.Err
	case r.broken != nil:
		setupErr = r.broken
	case needsSetup:
		id, setupErr = r.setup(ctx, s)
	}
	if setupErr != nil {
		res.Err = fmt.Errorf("setting up %q: %w", s.Name, setupErr)
	}
	for _, c := range s.Cases {
		cstart := time.Now()
		switch {
		case c.Skip != "":
			report(c, Skipped, nil, c.Skip, 0)
		case setupErr != nil:
			report(c, Failed, res.Err, "", 0)
		case c.Err != nil:
			report(c, Failed, c.Err, "", 0)
		case r.broken != nil:
			report(c, Failed, r.broken, "", 0)
		default:
			err := r.runCase(ctx, s, c, id)
			st := Passed
			if err != nil {
				st = Failed
			}
			report(c, st, err, "", time.Since(cstart))
		}
	}
	if id != "" && r.broken == nil {
		if err := r.teardown(ctx, id); err != nil {
			res.Err = fmt.Errorf("tearing down %q: %w", s.Name, err)
		}
	}
	res.Duration = time.Since(start)
	return res
}

// timeout is the case's limit: its own, else its suite's, else the
// runner's.
func (r *Runner) timeout(s *Suite, c *Case) time.Duration {
	switch {
	case c.Timeout > 0:
		return c.Timeout
	case s.Timeout > 0:
		return s.Timeout
	}
	return r.opts.CaseTimeout
}

// runCase runs the steps of a case in series within its timeout, then
// checks what each received, as fbp-spec's runTest and checkResults.
func (r *Runner) runCase(ctx context.Context, s *Suite, c *Case, id string) error {
	limit := r.timeout(s, c)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	received := make([]map[string]any, len(c.Inputs))
	for i := range c.Inputs {
		got, err := r.runStep(ctx, id, c.Inputs[i], c.Expect[i])
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %s waiting for %s", limit, waitingFor(c.Expect[i], got))
		}
		if err != nil {
			return err
		}
		received[i] = got
	}
	return checkSteps(c.Expect, received)
}

// waitingFor names the expected ports no packet came to.
func waitingFor(expect any, got map[string]any) string {
	o, _ := expect.(*Object)
	var missing []string
	if o != nil {
		for _, p := range o.jsKeys() {
			if _, ok := got[p]; !ok {
				missing = append(missing, p)
			}
		}
	}
	if len(missing) == 0 {
		return "output"
	}
	return "output on " + strings.Join(missing, ", ")
}

// checkSteps is fbp-spec's checkResults: one failure is the error; in a
// sequence it names its step, several are listed.
func checkSteps(expects []any, received []map[string]any) error {
	var errs []error
	failed := 0
	index := -1
	for i := range expects {
		err := checkStep(expects[i], received[i])
		errs = append(errs, err)
		if err != nil {
			failed++
			if index < 0 {
				index = i
			}
		}
	}
	switch {
	case failed == 0:
		return nil
	case len(expects) == 1:
		return errs[0]
	case failed == 1:
		return &stepError{index: index, err: errs[index]}
	}
	var texts []string
	for _, e := range errs {
		if e != nil {
			texts = append(texts, e.Error())
		} else {
			texts = append(texts, "")
		}
	}
	return fmt.Errorf("Multiple failures in sequence: %s", strings.Join(texts, ","))
}

type stepError struct {
	index int
	err   error
}

func (e *stepError) Error() string {
	return fmt.Sprintf("Expectation %d of sequence failed: %s", e.index, e.err)
}
func (e *stepError) Unwrap() error { return e.err }

// runStep sends a step's inputs and waits for its outputs, as fbp-spec's
// sendMessageAndWait: it returns the last value received on each port.
func (r *Runner) runStep(ctx context.Context, id string, inputs, expect any) (map[string]any, error) {
	in, ok := inputs.(*Object)
	if !ok {
		return nil, fmt.Errorf("Cannot convert undefined or null to object")
	}
	r.client.Pending() // what came before this step is not its output
	w := &stepWatch{graph: id, expect: expect, received: map[string]any{}}
	// The inputs are sent one at a time, each waiting for packetsent.
	// Packets for the graph arriving meanwhile count; errors only from
	// when the sending is done (fbp-spec starts watching for them then).
	for _, port := range in.jsKeys() {
		payload, err := encodeJSON(in.Values[port])
		if err != nil {
			return nil, err
		}
		if err := r.client.SendMessage(wire.Packet{Event: "data", Port: port, Payload: payload, Graph: id}); err != nil {
			return nil, err
		}
		if err := r.awaitPacketSent(ctx, w); err != nil {
			return w.received, err
		}
	}
	if w.done || w.err != nil {
		return w.received, w.err
	}
	for {
		m, err := r.client.Next(ctx)
		if err != nil {
			r.noteBroken(err)
			return w.received, err
		}
		if w.observe(m, true); w.done || w.err != nil {
			return w.received, w.err
		}
	}
}

func (r *Runner) awaitPacketSent(ctx context.Context, w *stepWatch) error {
	cctx, cancel := context.WithTimeout(ctx, r.opts.CommandTimeout)
	defer cancel()
	for {
		m, err := r.client.Next(cctx)
		if err != nil {
			r.noteBroken(err)
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("runtime:packet timed out")
			}
			return err
		}
		if fbpclient.IsReply(m, "runtime", "packet") {
			if m.Command == "error" {
				return &fbpclient.RemoteError{Protocol: "runtime", Command: "packet", Message: errorMessage(m)}
			}
			return nil
		}
		if !w.done && w.err == nil {
			w.observe(m, false)
		}
	}
}

// stepWatch decides, message by message, whether a step has received what
// it waits for (a data packet for the graph, once packets came to as many
// ports as it expects) or failed.
type stepWatch struct {
	graph    string
	expect   any
	received map[string]any
	done     bool
	err      error
}

func (w *stepWatch) observe(m fbpclient.Message, errorsCount bool) {
	if m.Is("runtime", "packet") {
		var p wire.Packet
		if m.Decode(&p) != nil || p.Graph != w.graph {
			return
		}
		v, err := decodeJSON(p.Payload)
		if err != nil || len(p.Payload) == 0 {
			v = nil
		}
		w.received[p.Port] = v
		if p.Event != "data" {
			return
		}
		if p.Port == "error" && !expects(w.expect, "error") {
			w.err = fmt.Errorf("%s", packetError(v))
			return
		}
		if len(w.received) == expectedPorts(w.expect) {
			w.done = true
		}
		return
	}
	if !errorsCount || m.Protocol != "network" || (m.Command != "error" && m.Command != "processerror") {
		return
	}
	var p struct { // wire.NetworkError and wire.ProcessError
		wire.NetworkError
		Error string `json:"error"`
	}
	if m.Decode(&p) != nil || (p.Graph != "" && p.Graph != w.graph) {
		return
	}
	text := p.Error
	if text == "" {
		text = p.Message
	}
	w.err = fmt.Errorf("network:%s: %s", m.Command, text)
}

func expects(expect any, port string) bool {
	o, isObj := expect.(*Object)
	if !isObj {
		return false
	}
	_, ok := o.Get(port)
	return ok
}

func expectedPorts(expect any) int {
	if o, ok := expect.(*Object); ok {
		return len(o.Keys)
	}
	return 0
}

// packetError is fbp-client's message for a packet on the error port.
func packetError(v any) string {
	if o, ok := v.(*Object); ok {
		if m, has := o.Get("message"); has && jsTruthy(m) {
			return jsString(m)
		}
	}
	return "Unexpected runtime:packet message"
}

func errorMessage(m fbpclient.Message) string {
	var p struct {
		Message string `json:"message"`
	}
	_ = m.Decode(&p)
	return p.Message
}
