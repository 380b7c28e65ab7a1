// Package participant is the Go SDK for msgflo participants: a component
// definition, a process function, and an instance of it with a role that
// consumes its inport queues, publishes on its outports and announces itself
// on the discovery queue, as msgflo-nodejs participants do.
package participant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/jsontext"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
)

// Port is an inport or outport of a component.
type Port struct {
	ID          string
	Type        string // "any", "string", "object", ...
	Description string
	// Hidden ports are announced but not shown in editors.
	Hidden bool
	// NonPersistent makes the queue non-durable and auto-deleted (msgflo's
	// persistent: false).
	NonPersistent bool
	// Queue overrides the queue name (default ROLE.PORT upper-cased).
	Queue string
}

// Input is one message taken from an inport. Data is the message body as
// it came from the broker, byte for byte, when it is JSON; a body that is
// not JSON is delivered as a JSON string of its text (as msgflo-nodejs
// does; see network.AsJSON), so Data is always valid JSON in UTF-8.
type Input struct {
	Port string
	Data json.RawMessage
}

// Output sends data on the participant's outports. Send publishes data
// exactly as given (it must be JSON in UTF-8); use SendValue to encode a Go
// value.
type Output interface {
	Send(port string, data json.RawMessage) error
}

// SendValue encodes v as JSON (without HTML escapes) and sends it on port.
// Data received on an inport is best passed on with Send as it is, which
// keeps its bytes (big integers, number spelling, key order).
func SendValue(out Output, port string, v any) error {
	data, err := jsontext.Marshal(v)
	if err != nil {
		return fmt.Errorf("send on %s: %w", port, err)
	}
	return out.Send(port, data)
}

// ProcessFunc handles one message. zerolog.Ctx(ctx) is the participant's
// logger. Returning an error (or panicking) nacks
// the message; returning nil acknowledges it.
type ProcessFunc func(ctx context.Context, in Input, out Output) error

// Component is what a participant is: its name as it appears in the
// component library, its ports and what it does with a message.
type Component struct {
	Name        string
	Label       string
	Icon        string
	Description string
	Inports     []Port
	Outports    []Port
	Process     ProcessFunc
	// Init, when set, makes the process function of each instance (for
	// components that keep state between messages); Process is then unused.
	Init func() ProcessFunc
}

// heartbeatEvery is how often a participant announces itself: every
// discovery period / 2.2, as msgflo-nodejs. It is announced as the
// definition's heartbeat.
func heartbeatEvery(period time.Duration) time.Duration {
	return time.Duration(float64(period) / 2.2)
}

// DefaultDiscoveryPeriod is msgflo's: participants re-announce every
// period/2.2 so that a coordinator expiring them after one period keeps them.
const DefaultDiscoveryPeriod = 60 * time.Second

// Options configure a participant instance.
type Options struct {
	// ID defaults to ROLE-UUID.
	ID string
	// DiscoveryPeriod defaults to MSGFLO_DISCOVERY_PERIOD or 60 s.
	DiscoveryPeriod time.Duration
	// Prefetch bounds unacknowledged messages per inport (default
	// DefaultPrefetch).
	Prefetch int
	// TransientMessages sends outputs as transient messages without
	// waiting for the broker to confirm them, and acknowledges an input
	// as soon as its outputs are handed to the connection, as
	// msgflo-nodejs does: faster, but messages the broker loses are gone.
	// Only brokers implementing network.TransientPublisher (AMQP) honour
	// it; on others outputs stay confirmed. The default (false) is
	// persistent, confirmed messages. See PersistentMessagesFromEnv.
	TransientMessages bool
	// FBP makes the participant FBP-capable: it announces the queues
	// .fbp.<id>.receive and .fbp.<id>.send as inqueue and outqueue and
	// answers runtime:getruntime, component:list, component:getsource and
	// the trace sub-protocol there, with a flowtrace of what it took in
	// and sent out (see fbp.go).
	FBP bool
	// Source is the component's source code, served by
	// component:getsource when FBP is set.
	Source string
	// QueueType is the RabbitMQ queue type Serve declares the inports
	// with: "classic" (default) or "quorum". See QueueTypeFromEnv. (With
	// New, the broker given decides.)
	QueueType string
	Logger    zerolog.Logger
}

// DefaultPrefetch bounds a participant's unacknowledged messages per
// inport: enough to keep the broker busy while confirms come back and
// acknowledgements are held (a quarter of it at most), as #23's reference
// relays take, small enough that a participant never holds more than a
// few hundred KiB of typical messages.
const DefaultPrefetch = 200

// Participant is a running instance of a component under a role.
type Participant struct {
	broker network.Broker
	comp   Component
	role   string
	opts   Options
	def    network.Definition
	log    zerolog.Logger
	// fbp serves the FBP protocol when Options.FBP is set (nil otherwise).
	fbp *fbpServer

	mu      sync.Mutex
	started bool
	subs    []network.Subscription
	ackers  []settler
	cancel  context.CancelFunc
	// ackersWG counts the inports' acker goroutines.
	ackersWG sync.WaitGroup
	done     chan struct{}
}

// New checks the component and makes an instance of it; Start runs it.
func New(b network.Broker, c Component, role string, opts Options) (*Participant, error) {
	if b == nil {
		return nil, errors.New("participant: no broker")
	}
	if c.Name == "" {
		return nil, errors.New("participant: component has no name")
	}
	if err := checkRole(role); err != nil {
		return nil, err
	}
	if c.Init != nil {
		c.Process = c.Init()
	}
	if len(c.Inports) > 0 && c.Process == nil {
		return nil, fmt.Errorf("participant %s: component %s has inports but no process function", role, c.Name)
	}
	if opts.ID == "" {
		opts.ID = role + "-" + uuid.New()
	}
	if opts.DiscoveryPeriod <= 0 {
		opts.DiscoveryPeriod = DiscoveryPeriodFromEnv()
	}
	if opts.DiscoveryPeriod <= 0 {
		opts.DiscoveryPeriod = DefaultDiscoveryPeriod
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = DefaultPrefetch
	}
	p := &Participant{broker: b, comp: c, role: role, opts: opts, log: opts.Logger}
	def := network.Definition{
		ID: opts.ID, Role: role, Component: c.Name, Label: c.Label, Icon: c.Icon,
		Inports: []network.Port{}, Outports: []network.Port{},
		Heartbeat: heartbeatEvery(opts.DiscoveryPeriod).Round(time.Millisecond).Seconds(),
	}
	if def.Label == "" {
		def.Label = c.Description
	}
	seen := map[string]bool{}
	conv := func(ports []Port, kind string) ([]network.Port, error) {
		out := make([]network.Port, 0, len(ports))
		for _, port := range ports {
			if port.ID == "" {
				return nil, fmt.Errorf("participant %s: %s with an empty id", role, kind)
			}
			key := kind + ":" + strings.ToLower(port.ID)
			if seen[key] {
				return nil, fmt.Errorf("participant %s: two %ss named %s", role, kind, port.ID)
			}
			seen[key] = true
			q := port.Queue
			if q == "" {
				q = network.QueueName(role, port.ID)
			}
			typ := port.Type
			if typ == "" {
				typ = "any"
			}
			out = append(out, network.Port{ID: port.ID, Queue: q, Type: typ, Description: port.Description, Hidden: port.Hidden})
		}
		return out, nil
	}
	var err error
	if def.Inports, err = conv(c.Inports, "inport"); err != nil {
		return nil, err
	}
	if def.Outports, err = conv(c.Outports, "outport"); err != nil {
		return nil, err
	}
	if opts.FBP {
		p.enableFBP(&def)
	}
	p.def = def
	return p, nil
}

func checkRole(role string) error {
	if role == "" {
		return errors.New("participant: empty role")
	}
	if strings.ContainsAny(role, "#+/ \t\r\n\x00") {
		return fmt.Errorf("participant: role %q may not contain spaces, '/', '+' or '#'", role)
	}
	return nil
}

// Definition is what the participant announces.
func (p *Participant) Definition() network.Definition {
	d := p.def
	// Never nil: a discovery message needs "inports": [] and "outports": [].
	d.Inports = append([]network.Port{}, p.def.Inports...)
	d.Outports = append([]network.Port{}, p.def.Outports...)
	return d
}

// Declare makes sure the participant's queues and exchanges exist, without
// consuming or announcing: a coordinator can bind them before the
// participant takes its first message.
func (p *Participant) Declare(ctx context.Context) error {
	for i, port := range p.def.Outports {
		if err := p.broker.DeclareOutport(ctx, port.Queue, network.QueueOptions{NonPersistent: p.comp.Outports[i].NonPersistent}); err != nil {
			return fmt.Errorf("participant %s: declare outport %s: %w", p.role, port.ID, err)
		}
	}
	for i, port := range p.def.Inports {
		if err := p.broker.DeclareInport(ctx, port.Queue, network.QueueOptions{NonPersistent: p.comp.Inports[i].NonPersistent}); err != nil {
			return fmt.Errorf("participant %s: declare inport %s: %w", p.role, port.ID, err)
		}
	}
	return nil
}

// Start declares the ports, consumes the inports and announces the
// participant, then keeps announcing it every DiscoveryPeriod/2.2.
func (p *Participant) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return fmt.Errorf("participant %s already started", p.role)
	}
	persist := map[string]bool{}
	for _, port := range p.comp.Outports {
		persist[port.ID] = !port.NonPersistent
	}
	for _, port := range p.def.Outports {
		if err := p.broker.DeclareOutport(ctx, port.Queue, network.QueueOptions{NonPersistent: !persist[port.ID]}); err != nil {
			return fmt.Errorf("participant %s: declare outport %s: %w", p.role, port.ID, err)
		}
	}
	runCtx, cancel := context.WithCancel(p.log.WithContext(context.WithoutCancel(ctx)))
	var subs []network.Subscription
	var ackers []settler
	fail := func(err error) error {
		cancel()
		for _, s := range subs {
			_ = s.Close()
		}
		for _, a := range ackers {
			a.close()
		}
		p.ackersWG.Wait()
		return err
	}
	for i, port := range p.def.Inports {
		opts := network.QueueOptions{NonPersistent: p.comp.Inports[i].NonPersistent}
		if err := p.broker.DeclareInport(ctx, port.Queue, opts); err != nil {
			return fail(fmt.Errorf("participant %s: declare inport %s: %w", p.role, port.ID, err))
		}
		var acks settler
		if _, async := p.broker.(network.AsyncPublisher); async {
			if p.transient() != nil {
				acks = newInlineAcker(p)
			} else {
				ch := make(chan settlement, p.opts.Prefetch)
				acks = chanSettler(ch)
				p.ackersWG.Add(1)
				go p.acker(runCtx, ch, p.ackersWG.Done)
			}
			ackers = append(ackers, acks)
		}
		sub, err := p.broker.Consume(ctx, port.Queue, p.opts.Prefetch, p.handler(runCtx, port.ID, acks))
		if err != nil {
			return fail(fmt.Errorf("participant %s: consume inport %s: %w", p.role, port.ID, err))
		}
		subs = append(subs, sub)
	}
	if p.fbp != nil {
		sub, err := p.fbp.start(ctx)
		if err != nil {
			return fail(err)
		}
		subs = append(subs, sub)
	}
	msg, err := network.EncodeDiscovery(p.def)
	if err != nil {
		return fail(err)
	}
	if err := p.broker.Announce(ctx, msg); err != nil {
		return fail(fmt.Errorf("participant %s: announce: %w", p.role, err))
	}
	p.subs, p.ackers, p.cancel, p.started = subs, ackers, cancel, true
	p.done = make(chan struct{})
	p.heartbeat(runCtx, msg, p.done)
	return nil
}

// heartbeat announces the participant every DiscoveryPeriod/2.2. It holds
// no goroutine between announcements (a timer re-arms itself), which
// matters with hundreds of participants in one process. done is closed once
// ctx has ended and no announcement is in progress.
func (p *Participant) heartbeat(ctx context.Context, msg []byte, done chan struct{}) {
	every := heartbeatEvery(p.opts.DiscoveryPeriod)
	var mu sync.Mutex
	var timer *time.Timer
	var tick func()
	tick = func() {
		if ctx.Err() == nil {
			if err := p.broker.Announce(ctx, msg); err != nil && ctx.Err() == nil {
				p.log.Warn().Err(err).Str("role", p.role).Msg("discovery announcement failed")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			if timer != nil {
				timer = nil
				close(done)
			}
			return
		}
		timer.Reset(every)
	}
	mu.Lock()
	timer = time.AfterFunc(every, tick)
	mu.Unlock()
	context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if timer != nil && timer.Stop() {
			// Not running: nothing will close done but us.
			timer = nil
			close(done)
		}
		// Otherwise tick is running (or about to) and closes done.
	})
}

// Stop stops consuming (waiting for messages in process to finish) and
// announcing. It does not close the broker.
func (p *Participant) Stop(ctx context.Context) error {
	p.mu.Lock()
	if !p.started {
		p.mu.Unlock()
		return nil
	}
	subs, ackers, cancel, done := p.subs, p.ackers, p.cancel, p.done
	p.subs, p.ackers, p.started = nil, nil, false
	p.mu.Unlock()
	var errs []error
	stopped := make(chan struct{})
	go func() {
		// No more messages come in, then the ones processed are settled,
		// then the subscriptions close: an acknowledgement after its
		// channel closed would be lost (network.Drainer).
		for _, s := range subs {
			if d, ok := s.(network.Drainer); ok {
				errs = append(errs, d.Drain())
			}
		}
		for _, a := range ackers {
			a.close()
		}
		p.ackersWG.Wait()
		for _, s := range subs {
			errs = append(errs, s.Close())
		}
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		cancel()
		return fmt.Errorf("participant %s: stop: %w", p.role, ctx.Err())
	}
	cancel()
	<-done
	return errors.Join(errs...)
}

// Run starts the participant and stops it when ctx ends.
func (p *Participant) Run(ctx context.Context) error {
	if err := p.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Stop(sctx)
}

// Send puts data on one of the participant's own inports, as if it came
// from an edge.
func (p *Participant) Send(ctx context.Context, inport string, data json.RawMessage) error {
	port, ok := p.def.Inport(inport)
	if !ok {
		return fmt.Errorf("participant %s has no inport %s", p.role, inport)
	}
	return p.broker.Send(ctx, port.Queue, data)
}

// output is the Output of one message being processed. With a broker that
// confirms asynchronously, Send does not wait: the confirmations are
// collected and the input is acknowledged once they are all in, by the
// inport's acker, in order, while the next messages are processed.
type output struct {
	p         *Participant
	ctx       context.Context
	async     network.AsyncPublisher
	transient network.TransientPublisher
	pending   []network.Pending
}

// transient is the broker's transient publisher when the participant
// sends transient messages.
func (p *Participant) transient() network.TransientPublisher {
	if !p.opts.TransientMessages {
		return nil
	}
	t, _ := p.broker.(network.TransientPublisher)
	return t
}

func (o *output) Send(port string, data json.RawMessage) error {
	out, ok := o.p.def.Outport(port)
	if !ok {
		return fmt.Errorf("participant %s has no outport %s", o.p.role, port)
	}
	if !network.IsJSON(data) {
		return fmt.Errorf("participant %s: data for outport %s is not JSON in UTF-8", o.p.role, port)
	}
	o.p.fbp.record(out.ID, false, data)
	if o.transient != nil {
		return o.transient.PublishTransient(o.ctx, out.Queue, data)
	}
	if o.async != nil {
		pd, err := o.async.PublishAsync(o.ctx, out.Queue, data)
		if err != nil {
			return err
		}
		o.pending = append(o.pending, pd)
		return nil
	}
	return o.p.broker.Publish(o.ctx, out.Queue, data)
}

// settlement is a processed message waiting for its outputs' confirms.
type settlement struct {
	d       network.Delivery
	pending []network.Pending
	failed  bool
}

// acker settles messages in the order they were processed. It holds the
// acknowledgements of a run of messages whose outputs are confirmed, as
// the inlineAcker does (one frame every ackBatch messages or ackHold after
// the first of the run), and sends them before it waits for a confirm
// that has not come, so that the broker sends more meanwhile, and before
// a refusal, so that messages are settled in order.
func (p *Participant) acker(ctx context.Context, in <-chan settlement, done func()) {
	defer done()
	run := newInlineAcker(p)
	defer run.close()
	for s := range in {
		if s.failed || !confirmed(s.pending) {
			run.flush()
		}
		if p.settle(ctx, s) {
			run.settle(s)
		}
	}
}

// confirmWatcher is a pending publish that tells when its confirm (or
// refusal) has come (AMQP's).
type confirmWatcher interface {
	Done() <-chan struct{}
}

// confirmed reports whether every pending publish has its confirm or
// refusal; one that cannot tell counts as confirmed.
func confirmed(pending []network.Pending) bool {
	for _, pd := range pending {
		if w, ok := pd.(confirmWatcher); ok {
			select {
			case <-w.Done():
			default:
				return false
			}
		}
	}
	return true
}

// settler settles an inport's processed messages, in the order given, and
// settles what it holds when closed (no message comes after).
type settler interface {
	settle(settlement)
	close()
}

// chanSettler hands the settlements to the inport's acker goroutine.
type chanSettler chan settlement

func (c chanSettler) settle(s settlement) { c <- s }
func (c chanSettler) close()              { close(c) }

// inlineAcker holds a run of acknowledgements and sends it in one frame
// (AMQP's multiple) every ackBatch messages or ackHold after the first of
// the run. Transient messages, with no confirm to wait for, are settled
// with it where they are processed, without a hand-off to another
// goroutine for every message (as a relay acking in batches does without
// one); the acker holds its runs with one too.
type inlineAcker struct {
	p     *Participant
	mu    sync.Mutex
	last  network.Delivery // the last of the run held
	held  int
	timer *time.Timer
}

func newInlineAcker(p *Participant) *inlineAcker {
	a := &inlineAcker{p: p}
	a.timer = time.AfterFunc(ackHold, a.flush)
	a.timer.Stop()
	return a
}

func (a *inlineAcker) settle(s settlement) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.failed {
		a.flushLocked() // in order: the run before, then the refusal
		_ = s.d.Nack()
		return
	}
	if _, ok := s.d.(multiAcker); !ok {
		a.flushLocked()
		a.p.ack(s.d)
		return
	}
	if a.last == nil {
		a.timer.Reset(ackHold)
	}
	a.last, a.held = s.d, a.held+1
	if a.held >= a.p.ackBatch() {
		a.flushLocked()
	}
}

func (a *inlineAcker) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushLocked()
}

func (a *inlineAcker) flushLocked() {
	if a.last == nil {
		return
	}
	a.timer.Stop()
	a.p.ackRun(a.last, a.held)
	a.last, a.held = nil, 0
}

func (a *inlineAcker) close() { a.flush() }

// ackHold bounds how long the acker holds an acknowledgement (as a relay
// acking in batches does, every 50 messages or 5 ms).
const ackHold = 5 * time.Millisecond

// multiAcker is a delivery that can acknowledge itself and every earlier
// delivery of its consumer not settled yet, in one frame (AMQP's
// multiple). The deliveries of a consumer are settled in order, so every
// earlier one is then processed and its outputs confirmed, or refused.
type multiAcker interface {
	AckMultiple() error
}

// ackBatch bounds the acknowledgements the acker holds: a quarter of the
// prefetch, so that the broker keeps sending while a run is held.
func (p *Participant) ackBatch() int { return max(1, p.opts.Prefetch/4) }

// ackRun acknowledges a run of held deliveries that ends with last.
func (p *Participant) ackRun(last network.Delivery, held int) {
	if m, ok := last.(multiAcker); ok && held > 1 {
		if err := m.AckMultiple(); err != nil {
			p.log.Warn().Err(err).Str("role", p.role).Msg("ack failed")
		}
		return
	}
	p.ack(last)
}

func (p *Participant) ack(d network.Delivery) {
	if err := d.Ack(); err != nil {
		p.log.Warn().Err(err).Str("role", p.role).Msg("ack failed")
	}
}

// settle waits for a processed message's outputs to be confirmed and
// reports whether the message is to be acknowledged; it refuses a message
// whose processing failed: only the participant's own failure
// dead-letters a message. An output the broker refuses is published again
// until confirmed (see network.Pending), for as long as the participant
// runs; an input whose outputs are still not confirmed when it stops goes
// back to its queue, to be processed again.
func (p *Participant) settle(ctx context.Context, s settlement) (ack bool) {
	if s.failed {
		_ = s.d.Nack()
		return false
	}
	for _, pd := range s.pending {
		if err := pd.Wait(ctx); err != nil {
			p.log.Warn().Err(err).Str("role", p.role).Msg("output not confirmed; input requeued")
			if r, ok := s.d.(network.Requeuer); ok {
				_ = r.Requeue()
			}
			return false
		}
	}
	return true
}

// handler processes one inport's messages. With acks (brokers that confirm
// asynchronously: AMQP, transient messages included) settling is left to
// the inport's settler, so that acknowledgements go in batches (and, with
// confirms, the next message is processed while the broker confirms);
// otherwise it is done here, message by message.
func (p *Participant) handler(ctx context.Context, port string, acks settler) network.Handler {
	async, _ := p.broker.(network.AsyncPublisher)
	transient := p.transient()
	if transient != nil {
		async = nil
	}
	settle := func(s settlement) {
		if acks == nil {
			if p.settle(ctx, s) {
				p.ack(s.d)
			}
			return
		}
		acks.settle(s)
	}
	return func(d network.Delivery) {
		// A body that is not JSON is data too (its text as a JSON string).
		in := Input{Port: port, Data: append(json.RawMessage(nil), network.AsJSON(d.Data())...)}
		out := &output{p: p, ctx: ctx, async: async, transient: transient}
		p.fbp.record(port, true, in.Data)
		if err := p.process(ctx, in, out); err != nil {
			p.log.Warn().Err(err).Str("role", p.role).Str("port", port).Msg("process failed; message nacked")
			settle(settlement{d: d, failed: true})
			return
		}
		settle(settlement{d: d, pending: out.pending})
	}
}

func (p *Participant) process(ctx context.Context, in Input, out Output) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v", p.comp.Name, r)
		}
	}()
	return p.comp.Process(ctx, in, out)
}
