// Package proxy reaches FBP-capable participants through their own queues:
// participants that speak the FBP protocol over the broker besides
// processing data (noflo-runtime-msgflo, Go participants made with
// participant.FBP). The coordinator uses it to forward trace (and other)
// commands to them and to collect their answers.
//
// A participant is FBP-capable when its discovery announces inqueue and
// outqueue (msgflo's README), or when it follows noflo-runtime-msgflo's
// convention: it consumes .fbp.<id>.receive and answers on .fbp.<id>.send.
// The convention is checked without ever slowing discovery down: a passive
// check on AMQP, a probe with a timeout on MQTT, both off the discovery
// path.
//
// The proxy listens on a participant's outqueue (a private queue bound to
// it) from the first request made of the participant (Lookup) until it is
// forgotten; an announcement alone makes it listen on nothing (#19).
// Messages nothing answers go out with Post, without listening.
//
// Replies carry no request id: a reply is matched to the oldest request to
// the same participant with the same protocol whose command it answers.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/jsontext"
	"github.com/msgflo/msgflo-runtime/network"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds the wait for a participant's answer.
	DefaultTimeout = 5 * time.Second
	// DefaultProbeTimeout bounds the wait for the answer to a probe (MQTT),
	// after which a participant counts as not FBP-capable.
	DefaultProbeTimeout = 3 * time.Second
)

// Message is one FBP protocol message on a participant's queues. The
// payload is kept as the bytes that came.
type Message struct {
	Protocol string          `json:"protocol"`
	Command  string          `json:"command"`
	Payload  json.RawMessage `json:"payload"`
}

// Endpoint is where an FBP-capable participant listens and answers.
type Endpoint struct {
	// Participant is the participant's id; Role and Component as announced.
	Participant, Role, Component string
	// Inqueue is where it takes FBP messages, Outqueue where it answers.
	Inqueue, Outqueue string
	// Announced is set when discovery named the queues (a full FBP
	// runtime, with Capabilities); otherwise they follow the convention.
	Announced    bool
	Capabilities []string
}

// Can reports whether the participant announced capability c. A
// participant reached by convention announces none; it is known to handle
// the trace sub-protocol only.
func (e Endpoint) Can(c string) bool {
	if !e.Announced {
		return c == "protocol:trace"
	}
	for _, have := range e.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

func (e Endpoint) String() string {
	return fmt.Sprintf("participant %s (role %s)", e.Participant, e.Role)
}

// ConventionQueues are noflo-runtime-msgflo's FBP queues of a participant id.
func ConventionQueues(id string) (inqueue, outqueue string) {
	return ".fbp." + id + ".receive", ".fbp." + id + ".send"
}

// EndpointOf says where def's FBP queues are: the announced ones, or the
// convention's (announced false; they may not exist).
func EndpointOf(def network.Definition) Endpoint {
	ep := Endpoint{Participant: def.ID, Role: def.Role, Component: def.Component, Capabilities: def.Capabilities}
	if def.Inqueue != "" && def.Outqueue != "" {
		ep.Inqueue, ep.Outqueue, ep.Announced = def.Inqueue, def.Outqueue, true
		return ep
	}
	ep.Inqueue, ep.Outqueue = ConventionQueues(def.ID)
	return ep
}

// Errors of requests. The message of a request error always names the
// participant.
var (
	// ErrTimeout: the participant did not answer in time.
	ErrTimeout = errors.New("no answer in time")
	// ErrGone: the participant is gone (its queue was removed, it expired,
	// or the proxy closed).
	ErrGone = errors.New("participant is gone")
	// ErrNotCapable: the participant has no FBP queues, or lacks the
	// capability the request needs.
	ErrNotCapable = errors.New("participant is not FBP-capable")
)

// RemoteError is a <protocol>:error a participant answered.
type RemoteError struct {
	Endpoint Endpoint
	Message  string
}

func (e *RemoteError) Error() string { return fmt.Sprintf("%s: %s", e.Endpoint, e.Message) }

// Options configure a Proxy.
type Options struct {
	Broker network.Broker
	// Timeout bounds each request (default DefaultTimeout).
	Timeout time.Duration
	// ProbeTimeout bounds a probe on brokers without passive checks
	// (default DefaultProbeTimeout).
	ProbeTimeout time.Duration
	// OnEvent, when set, receives the messages a participant sends that
	// answer no request (its own events). It must not block.
	OnEvent func(ep Endpoint, msg Message)
	Logger  zerolog.Logger
}

// Proxy keeps a Channel per FBP-capable participant. Safe for concurrent use.
type Proxy struct {
	opts Options
	log  zerolog.Logger

	mu       sync.Mutex // guards the fields below
	channels map[string]*Channel
	// detecting are the detections under way, by participant id; done is
	// closed when the result is in channels (or known not to be).
	detecting map[string]chan struct{}
	// notCapable are the participants found without FBP queues.
	notCapable map[string]bool
	closed     bool
}

// New creates a proxy on broker.
func New(opts Options) *Proxy {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ProbeTimeout <= 0 {
		opts.ProbeTimeout = DefaultProbeTimeout
	}
	return &Proxy{
		opts: opts, log: opts.Logger,
		channels:   map[string]*Channel{},
		detecting:  map[string]chan struct{}{},
		notCapable: map[string]bool{},
	}
}

// Timeout is the bound on each request.
func (p *Proxy) Timeout() time.Duration { return p.opts.Timeout }

// Lookup returns the channel of def's participant, waiting (within ctx) for
// its detection; it fails with ErrNotCapable when the participant has no
// FBP queues. A participant found without them before is checked again
// (it may have created its queues after its first announcement).
func (p *Proxy) Lookup(ctx context.Context, def network.Definition) (*Channel, error) {
	return p.lookup(ctx, def, true)
}

// LookupCached is Lookup without checking again a participant already
// found without FBP queues (a dump must not wait for probes of plain
// participants every time).
func (p *Proxy) LookupCached(ctx context.Context, def network.Definition) (*Channel, error) {
	return p.lookup(ctx, def, false)
}

func (p *Proxy) lookup(ctx context.Context, def network.Definition, recheck bool) (*Channel, error) {
	p.mu.Lock()
	if c, ok := p.channels[def.ID]; ok {
		p.mu.Unlock()
		return c, nil
	}
	done := p.startDetectLocked(def, recheck)
	p.mu.Unlock()
	if done == nil {
		return nil, ErrGone
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", EndpointOf(def), ErrTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.channels[def.ID]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("%s: %w", EndpointOf(def), ErrNotCapable)
}

// Known returns the channel of a participant already found FBP-capable.
func (p *Proxy) Known(id string) (*Channel, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.channels[id]
	return c, ok
}

func (p *Proxy) startDetectLocked(def network.Definition, recheck bool) chan struct{} {
	if p.closed {
		return nil
	}
	if done, ok := p.detecting[def.ID]; ok {
		return done
	}
	if _, ok := p.channels[def.ID]; ok {
		return closedChan
	}
	if p.notCapable[def.ID] && !recheck {
		return closedChan
	}
	done := make(chan struct{})
	p.detecting[def.ID] = done
	go p.detect(def, done)
	return done
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (p *Proxy) detect(def network.Definition, done chan struct{}) {
	defer close(done)
	ep := EndpointOf(def)
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.Timeout+p.opts.ProbeTimeout)
	defer cancel()
	c, err := p.open(ctx, ep)
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.detecting, def.ID)
	if err != nil || p.closed {
		if c != nil {
			c.close(ErrGone)
		}
		p.notCapable[def.ID] = true
		if err != nil && !errors.Is(err, ErrNotCapable) {
			p.log.Warn().Err(err).Str("participant", def.ID).Msg("cannot reach the FBP queues of a participant")
		}
		return
	}
	delete(p.notCapable, def.ID)
	p.channels[def.ID] = c
	p.log.Info().Str("participant", def.ID).Str("role", def.Role).Str("inqueue", ep.Inqueue).Str("outqueue", ep.Outqueue).Msg("FBP-capable participant")
}

// open makes the channel of an endpoint: for a conventional one only when
// its queues exist (AMQP: passive check; MQTT: a probe answered in time).
func (p *Proxy) open(ctx context.Context, ep Endpoint) (*Channel, error) {
	b := p.opts.Broker
	probe := false
	if !ep.Announced {
		exists, err := b.ExchangeExists(ctx, ep.Outqueue)
		switch {
		case errors.Is(err, network.ErrNoPassiveCheck):
			probe = true
		case err != nil:
			return nil, err
		case !exists:
			return nil, ErrNotCapable
		}
	}
	c := &Channel{p: p, ep: ep}
	// The participant's outqueue is a non-persistent, auto-deleted
	// exchange: bound to our private queue it lives as long as we listen,
	// whatever else comes and goes.
	sub, err := b.TapExchange(ctx, ep.Outqueue, network.QueueOptions{NonPersistent: true}, c.onMessage)
	if err != nil && ep.Announced {
		// An announced outqueue may be declared with other options: bind
		// to it as it is.
		sub, err = b.Tap(ctx, ep.Outqueue, c.onMessage)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", ep, ep.Outqueue, err)
	}
	c.sub = sub
	if probe {
		// noflo-runtime-msgflo answers only trace messages; clear is
		// echoed and changes nothing on a participant not traced yet.
		pctx, cancel := context.WithTimeout(ctx, p.opts.ProbeTimeout)
		defer cancel()
		if _, err := c.request(pctx, "trace", "clear", map[string]string{"graph": "default"}); err != nil {
			c.close(ErrNotCapable)
			return nil, ErrNotCapable
		}
	}
	return c, nil
}

// Forget closes the channel of a participant that is gone: its requests
// fail with ErrGone, and a later Watch or Lookup detects it afresh.
func (p *Proxy) Forget(id string) {
	p.mu.Lock()
	c, ok := p.channels[id]
	delete(p.channels, id)
	delete(p.notCapable, id)
	p.mu.Unlock()
	if ok {
		c.close(ErrGone)
	}
}

// Close closes every channel.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	chans := p.channels
	p.channels = map[string]*Channel{}
	p.mu.Unlock()
	for _, c := range chans {
		c.close(ErrGone)
	}
}

// Channel is the coordinator's line to one FBP-capable participant.
type Channel struct {
	p   *Proxy
	ep  Endpoint
	sub network.Subscription

	mu      sync.Mutex // guards pending and gone
	pending []*call
	gone    error
	// sendMu keeps the requests published in the order of pending (replies
	// are matched to the oldest call): a call joins pending and is
	// published under it.
	sendMu sync.Mutex
}

type call struct {
	protocol string
	// final are the commands that complete the call; collect those that
	// are part of its answer before it completes (component:list).
	final, collect []string
	replies        []Message
	done           chan struct{}
	err            error
}

// Endpoint says where the channel goes.
func (c *Channel) Endpoint() Endpoint { return c.ep }

// replyCommands says which commands answer protocol:command.
func replyCommands(protocol, command string) (final, collect []string) {
	switch protocol + ":" + command {
	case "runtime:getruntime":
		return []string{"runtime"}, []string{"ports"}
	case "component:list":
		return []string{"componentsready"}, []string{"component"}
	case "component:getsource":
		return []string{"source"}, nil
	case "network:start":
		return []string{"started"}, nil
	case "network:stop":
		return []string{"stopped"}, nil
	case "network:getstatus":
		return []string{"status"}, nil
	}
	return []string{command}, nil
}

// Request sends protocol:command with payload to the participant and
// returns its answer: every message of it, the last one completing it. A
// <protocol>:error answer is a *RemoteError. It fails with ErrTimeout
// after the proxy's timeout (or ctx's end) and with ErrGone when the
// participant disappears; the error names the participant.
func (c *Channel) Request(ctx context.Context, protocol, command string, payload any) ([]Message, error) {
	ctx, cancel := context.WithTimeout(ctx, c.p.opts.Timeout)
	defer cancel()
	return c.request(ctx, protocol, command, payload)
}

func (c *Channel) request(ctx context.Context, protocol, command string, payload any) ([]Message, error) {
	if !c.ep.Can("protocol:"+protocol) && !(protocol == "runtime" && command == "getruntime") && c.ep.Announced {
		return nil, fmt.Errorf("%s lacks protocol:%s: %w", c.ep, protocol, ErrNotCapable)
	}
	msg, err := c.encode(protocol, command, payload)
	if err != nil {
		return nil, err
	}
	final, collect := replyCommands(protocol, command)
	cl := &call{protocol: protocol, final: final, collect: collect, done: make(chan struct{})}
	c.sendMu.Lock()
	c.mu.Lock()
	if c.gone != nil {
		c.mu.Unlock()
		c.sendMu.Unlock()
		return nil, fmt.Errorf("%s: %w", c.ep, c.gone)
	}
	c.pending = append(c.pending, cl)
	c.mu.Unlock()
	err = c.p.opts.Broker.Publish(ctx, c.ep.Inqueue, msg)
	c.sendMu.Unlock()
	if err != nil {
		c.drop(cl)
		if exists, xerr := c.p.opts.Broker.ExchangeExists(context.Background(), c.ep.Inqueue); xerr == nil && !exists {
			c.p.Forget(c.ep.Participant)
			return nil, fmt.Errorf("%s: its queue %s no longer exists: %w", c.ep, c.ep.Inqueue, ErrGone)
		}
		return nil, fmt.Errorf("%s:%s to %s: %w", protocol, command, c.ep, err)
	}
	select {
	case <-cl.done:
	case <-ctx.Done():
		c.drop(cl)
		select {
		case <-cl.done: // answered meanwhile
		default:
			return nil, fmt.Errorf("%s did not answer %s:%s within %s: %w", c.ep, protocol, command, c.p.opts.Timeout, ErrTimeout)
		}
	}
	if cl.err != nil {
		return cl.replies, cl.err
	}
	return cl.replies, nil
}

// encode is the FBP message protocol:command with payload, as sent to
// the participant's inqueue.
func (c *Channel) encode(protocol, command string, payload any) ([]byte, error) {
	return encode(c.ep, protocol, command, payload)
}

// The payload's text is kept (internal/jsontext): a packet's <, > and &
// reach the participant as the client wrote them.
func encode(ep Endpoint, protocol, command string, payload any) ([]byte, error) {
	raw, err := jsontext.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%s:%s to %s: %w", protocol, command, ep, err)
	}
	return jsontext.Marshal(Message{Protocol: protocol, Command: command, Payload: raw})
}

// Post sends protocol:command with payload to a participant's inqueue
// without waiting for an answer and without listening on its outqueue
// (for messages nothing answers).
func (p *Proxy) Post(ctx context.Context, ep Endpoint, protocol, command string, payload any) error {
	msg, err := encode(ep, protocol, command, payload)
	if err != nil {
		return err
	}
	if err := p.opts.Broker.Publish(ctx, ep.Inqueue, msg); err != nil {
		return fmt.Errorf("%s:%s to %s: %w", protocol, command, ep, err)
	}
	return nil
}

func (c *Channel) drop(cl *call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pending {
		if p == cl {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return
		}
	}
}

func (c *Channel) onMessage(_ string, data []byte) {
	var msg Message
	if err := json.Unmarshal(data, &msg); err != nil || msg.Protocol == "" || msg.Command == "" {
		c.p.log.Warn().Str("participant", c.ep.Participant).Str("queue", c.ep.Outqueue).Msg("dropped a message that is not an FBP message")
		return
	}
	msg.Payload = append(json.RawMessage(nil), msg.Payload...)
	c.mu.Lock()
	for i, cl := range c.pending {
		if cl.protocol != msg.Protocol {
			continue
		}
		switch {
		case contains(cl.collect, msg.Command):
			cl.replies = append(cl.replies, msg)
			c.mu.Unlock()
			return
		case contains(cl.final, msg.Command), msg.Command == "error":
			cl.replies = append(cl.replies, msg)
			if msg.Command == "error" {
				var e struct {
					Message string `json:"message"`
				}
				_ = json.Unmarshal(msg.Payload, &e)
				cl.err = &RemoteError{Endpoint: c.ep, Message: e.Message}
			}
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			close(cl.done)
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	if c.p.opts.OnEvent != nil {
		c.p.opts.OnEvent(c.ep, msg)
	}
}

// close fails every pending request with why and stops listening.
func (c *Channel) close(why error) {
	c.mu.Lock()
	if c.gone != nil {
		c.mu.Unlock()
		return
	}
	c.gone = why
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, cl := range pending {
		cl.err = fmt.Errorf("%s: %w", c.ep, why)
		close(cl.done)
	}
	if c.sub != nil {
		if err := c.sub.Close(); err != nil {
			c.p.log.Debug().Err(err).Str("queue", c.ep.Outqueue).Msg("close FBP channel")
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
