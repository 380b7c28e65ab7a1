// Package runtime is the coordinator: it keeps the graphs clients edit (the
// desired state), the component library and the participants discovered on
// the broker, and reconciles the broker with the graphs: it starts in-process
// participants, binds edges, sends initial packets and taps edges that
// clients watch. It answers every edit at once from its own state; the
// broker side catches up asynchronously and reports what it cannot do as
// network:error events.
package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/metrics"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/proxy"
)

// ProtocolVersion is the FBP protocol version the runtime speaks.
const ProtocolVersion = "0.8"

// RuntimeType is reported as the runtime's type (Flowhub matches graphs'
// environment.type against it).
const RuntimeType = "msgflo"

// Errors with texts clients match on.
var (
	ErrGraphNotFound   = errors.New("Requested graph not found")
	ErrNoGraph         = errors.New("No graph specified")
	ErrComponentMissed = errors.New("component not found")
)

// Options configure a Runtime.
type Options struct {
	// ID is the runtime's UUID; Label a human-readable name.
	ID, Label string
	// Namespace and Repository describe the project, when a library gives
	// them. Without a namespace, the runtime reports the name in the working
	// folder's package.json, else DefaultNamespace.
	Namespace, Repository string
	// Broker is the connection every broker operation goes through.
	Broker network.Broker
	// Components are the components the runtime can run in-process
	// (addnode with one of them starts a participant under the node's role).
	Components []participant.Component
	// HeartbeatExpiry removes participants not heard from for this long
	// (default network.DefaultHeartbeatExpiry).
	HeartbeatExpiry time.Duration
	// DiscoveryPeriod is given to in-process participants.
	DiscoveryPeriod time.Duration
	// TransientMessages makes in-process participants send transient
	// messages without confirms (--persistent-messages=false); participant
	// processes get it as MSGFLO_PERSISTENT_MESSAGES=false.
	TransientMessages bool
	// QueueType, when set, is passed to participant processes as
	// MSGFLO_QUEUE_TYPE (the RabbitMQ type of their inport queues; the
	// broker given declares the runtime's own with its setting).
	QueueType string
	// GraphFile is where the main graph is saved: on network:persist, and
	// after every change when AutoSave is set.
	GraphFile string
	AutoSave  bool
	// Ignore lists roles the runtime does not start participants for.
	Ignore []string
	// Library says which command starts a participant of a component
	// (nil: only built-in components are started).
	Library *library.Library
	// Supervisor, when set, is the command (program and arguments) that
	// participant processes are started under: it is given the command to
	// run, and a pipe as file descriptor 3 whose closing means the runtime
	// is gone (see internal/supervise). Without it, a participant's own
	// children may outlive a runtime that is killed.
	Supervisor []string
	// AllowSetSource lets component:source write component files into the
	// library's directory (code the runtime then runs).
	AllowSetSource bool
	// WaitTimeout is how long a participant process may take to announce
	// itself (default DefaultWaitTimeout).
	WaitTimeout time.Duration
	// Forward lists the streams of participant processes ("stdout",
	// "stderr") copied to ForwardTo, each line prefixed with the role.
	Forward   []string
	ForwardTo io.Writer
	// ProxyTimeout bounds the wait for an FBP-capable participant's answer
	// (default proxy.DefaultTimeout).
	ProxyTimeout time.Duration
	// LiveGraph makes the main graph (given to LoadGraph) show the
	// participants discovered on the broker, as msgflo's default/main does
	// (live.go).
	LiveGraph bool
	// MaxPendingBytes bounds the data waiting to be sent per graph
	// (initial packets and runtime:packet data whose target is not wired
	// yet); a packet beyond it is refused with an error. Default
	// DefaultMaxPendingBytes; negative: no bound.
	MaxPendingBytes int
	// RetryDelay is the first delay before a failed broker operation is
	// tried again (doubling up to a minute). Default 500 ms.
	RetryDelay time.Duration
	Logger     zerolog.Logger
	// Metrics, when set, records what the runtime does (GET /metrics).
	Metrics *metrics.Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Runtime is the coordinator. Create it with New, give it a Sink, then Run it.
type Runtime struct {
	opts   Options
	log    zerolog.Logger
	broker network.Broker
	now    func() time.Time
	wake   chan struct{}
	ready  chan struct{} // closed once Run listens for discovery
	// reconciled, when set (by tests), is called after each reconcile pass.
	reconciled func()
	// brokerDown is set while the broker connection is lost; wired once a
	// reconcile pass has brought the broker in line with the graphs loaded
	// (Readiness).
	brokerDown, wired atomic.Bool
	// taps are the edge taps made in the broker, by queue; only the Run
	// goroutine (the reconciler) touches them.
	taps map[string]network.Subscription
	// proxy reaches FBP-capable participants through their own queues.
	proxy *proxy.Proxy
	// started is when the runtime was made (its uptime).
	started time.Time
	// errors are the last errors reported to clients (Overview).
	errors errorLog

	// uploads makes component:source uploads write one at a time
	// (sources.go).
	uploads sync.Mutex

	// mu guards everything below. Broker operations never run under it.
	mu         sync.Mutex
	sink       Sink
	graphs     map[string]*graphState
	mainGraph  string
	components map[string]*component
	registry   *network.ParticipantRegistry
	// lastKnown keeps, per role, the last definition heard, also after the
	// participant expired: its queues (durable) still collect what the
	// graph sends it, so its edges stay bound until it is back.
	lastKnown map[string]network.Definition
	// local are the in-process participants, by role (written by the reconciler).
	local map[string]*localParticipant
	// retired are ids of in-process participants the runtime stopped, with
	// when; late announcements from them are ignored until they expire.
	retired map[string]time.Time
	// bound are the bindings currently made in the broker.
	bound map[binding]bool
	// watchers are the connected clients and the edges each selected.
	watchers map[ClientID]map[string]map[edgeKey]bool
	// procs are the participant processes, by role.
	procs map[string]*process
	// persist saves the main graph (nil without a graph file).
	persist *persister
	// buffer, when set, collects events instead of sending them: the
	// acknowledgements of an edit wait for the save that includes it.
	buffer *[]Event
	// reported remembers network errors already sent, so retries don't repeat them.
	reported map[string]bool
	// traces are the graphs' flowtrace recorders, by graph id (trace.go).
	traces map[string]*traceState
	// hosted are the graphs full FBP runtime participants host, by
	// participant id, as their component:source named them (forward.go).
	hosted map[string]string
	// connected are the connectinport/connectoutport messages sent.
	connected map[string]bool
	// problems are the lasting problems of nodes (a participant that cannot
	// start, a packet waiting for a node), by the key they were reported
	// under: reported again to each client that connects or asks for a
	// graph's status, until they are over.
	problems map[string]problem
	// liveGraph is the id of the live main graph ("" without one);
	// liveNodes its nodes that discovery added; liveWatchers the clients
	// that follow its changes (live.go).
	liveGraph    string
	liveNodes    map[string]bool
	liveWatchers map[ClientID]bool
}

type graphState struct {
	g         *graph.Graph
	started   bool
	startedAt time.Time
	debug     bool
	// outbox holds initial packets and runtime:packet data waiting for
	// their target participant, in order.
	outbox []*delivery
	// bytes is the size of the data in outbox; maxBytes bounds it (0: no
	// bound).
	bytes, maxBytes int
	// blocked counts the packets of outbox that wait for a node with a
	// reported problem (set by each delivery pass).
	blocked int
	// resetIIPs holds the IIPs (target and data) removed from the started
	// graph after they were sent, until the next addinitial: an editor
	// that sets an IIP again to the same value (Flowhub sends removeinitial
	// and addinitial of the same packet when its input loses focus) does
	// not send it a second time.
	resetIIPs map[string]bool
}

// iipKey identifies an IIP by its target and its data.
func iipKey(i *graph.IIP) string {
	return i.Tgt.Node + "\x00" + lower(i.Tgt.Port) + "\x00" + string(i.Data)
}

type delivery struct {
	tgt  graph.Endpoint
	data []byte
	iip  *graph.IIP // set for initial packets: reported as network:data when sent
}

type binding struct{ src, tgt string }

type edgeKey struct{ src, tgt string }

func keyOf(src, tgt graph.Endpoint) edgeKey {
	return edgeKey{src: src.Node + "\x00" + lower(src.Port), tgt: tgt.Node + "\x00" + lower(tgt.Port)}
}

type localParticipant struct {
	component string
	p         *participant.Participant
	// running is set once it consumes: it waits until its outputs are
	// bound, so that nothing it sends is dropped.
	running bool
	// gate is open while one of the graphs with its node is started.
	gate *gate
	// graph is the graph its metrics are labelled with.
	graph string
	// counts are the messages it processed, by inport.
	counts *portCounts
}

// New creates a runtime. Its broker must be connected.
func New(opts Options) (*Runtime, error) {
	if opts.Broker == nil {
		return nil, errors.New("runtime: no broker")
	}
	if opts.HeartbeatExpiry <= 0 {
		opts.HeartbeatExpiry = network.DefaultHeartbeatExpiry
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxPendingBytes == 0 {
		opts.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if opts.Namespace == "" {
		opts.Namespace = packageName("package.json")
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	r := &Runtime{
		opts:         opts,
		log:          opts.Logger,
		broker:       opts.Broker,
		now:          opts.Now,
		wake:         make(chan struct{}, 1),
		ready:        make(chan struct{}),
		graphs:       map[string]*graphState{},
		components:   map[string]*component{},
		registry:     network.NewParticipantRegistry(),
		lastKnown:    map[string]network.Definition{},
		local:        map[string]*localParticipant{},
		retired:      map[string]time.Time{},
		taps:         map[string]network.Subscription{},
		bound:        map[binding]bool{},
		procs:        map[string]*process{},
		watchers:     map[ClientID]map[string]map[edgeKey]bool{},
		reported:     map[string]bool{},
		traces:       map[string]*traceState{},
		hosted:       map[string]string{},
		connected:    map[string]bool{},
		problems:     map[string]problem{},
		liveNodes:    map[string]bool{},
		liveWatchers: map[ClientID]bool{},
		sink:         discard{},
		started:      opts.Now(),
	}
	r.proxy = proxy.New(proxy.Options{Broker: opts.Broker, Timeout: opts.ProxyTimeout, Logger: opts.Logger})
	for _, c := range opts.Components {
		comp := c
		r.components[c.Name] = componentFromSDK(&comp)
	}
	if opts.Library != nil {
		for _, lc := range opts.Library.Components() {
			if _, builtin := r.components[lc.Name]; builtin {
				continue
			}
			// The command line is not shown: it may hold the library's
			// variables (keys, passwords).
			r.components[lc.Name] = &component{name: lc.Name, description: "participant started by the runtime", lib: lc}
		}
	}
	if opts.GraphFile != "" {
		r.persist = newPersister(r, opts.GraphFile)
	}
	if w, ok := opts.Broker.(network.ConnectionWatcher); ok {
		w.OnConnection(r.onBrokerConnection)
	}
	opts.Metrics.Register(participantStates{r})
	if inspector, ok := opts.Broker.(network.QueueInspector); ok {
		opts.Metrics.Register(queueDepths{r: r, inspector: inspector})
	}
	return r, nil
}

// DefaultMaxPendingBytes is the default bound of the data waiting to be
// sent per graph.
const DefaultMaxPendingBytes = 64 << 20

// newGraphState wraps a graph with the runtime's limits.
func (r *Runtime) newGraphState(g *graph.Graph) *graphState {
	return &graphState{g: g, maxBytes: max(r.opts.MaxPendingBytes, 0)}
}

// DefaultNamespace is the namespace reported when neither the library nor
// the working folder's package.json names one (Flowhub names a live
// project after it).
const DefaultNamespace = "msgflo"

// packageName reads the name from a package.json ("" when there is none).
func packageName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var pkg struct {
		Name string `json:"name"`
	}
	if json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&pkg) != nil {
		return ""
	}
	return pkg.Name
}

type discard struct{}

func (discard) Broadcast(Event) {}

// SetSink sets where events go. Call before Run.
func (r *Runtime) SetSink(s Sink) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sink = s
}

func (r *Runtime) emit(protocol, command string, payload any) {
	ev := Event{Protocol: protocol, Command: command, Payload: payload}
	r.recordError(ev)
	if r.buffer != nil { // an edit's acknowledgements wait for its save
		*r.buffer = append(*r.buffer, ev)
		return
	}
	r.sink.Broadcast(ev)
}

func (r *Runtime) emitTo(to []ClientID, protocol, command string, payload any) {
	r.sink.Broadcast(Event{Protocol: protocol, Command: command, Payload: payload, To: to})
}

// onBrokerConnection tells clients when the broker connection drops and
// when it is back. The graphs are kept throughout; the transport restores
// its declarations, bindings and consumers, and the reconciler catches up
// with whatever changed meanwhile.
func (r *Runtime) onBrokerConnection(up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.brokerDown.Store(!up)
	r.opts.Metrics.BrokerConnection(up)
	url := network.RedactURL(network.NodeInUse(r.broker))
	if !up {
		r.log.Warn().Str("broker", url).Msg("broker connection lost; graphs are kept and will be wired again")
		msg := "Lost the connection to the broker " + url + "; reconnecting. The graph is kept and will be wired again."
		graphs := r.sortedGraphsLocked()
		if len(graphs) == 0 {
			r.emit("network", "error", NetworkErrorPayload{Message: msg})
		}
		for _, gs := range graphs {
			r.emit("network", "error", NetworkErrorPayload{Message: msg, Graph: gs.g.ID})
		}
		return
	}
	r.log.Info().Str("broker", url).Msg("broker connection restored")
	r.emit("network", "output", OutputPayload{Message: "Connection to the broker " + url + " restored"})
	r.poke()
}

// networkError reports a broker-side problem once per key until it is cleared.
func (r *Runtime) networkErrorLocked(key, graphID, msg string) {
	if r.reported[key] {
		return
	}
	r.reported[key] = true
	r.log.Warn().Str("graph", graphID).Msg(msg)
	r.emit("network", "error", NetworkErrorPayload{Message: msg, Graph: graphID})
}

func (r *Runtime) clearErrorLocked(key string) { delete(r.reported, key) }

func (r *Runtime) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run subscribes to discovery and keeps the broker reconciled with the
// graphs until ctx is done; then it stops the in-process participants.
func (r *Runtime) Run(ctx context.Context) error {
	sub, err := r.broker.SubscribeDiscovery(ctx, r.onDiscovery)
	if err != nil {
		return fmt.Errorf("subscribe to discovery: %w", err)
	}
	defer sub.Close()
	close(r.ready)

	expiry := time.NewTicker(expiryCheckInterval(r.opts.HeartbeatExpiry))
	defer expiry.Stop()
	var retry <-chan time.Time
	delay := r.opts.RetryDelay
	r.poke()
	for {
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case <-expiry.C:
			r.expireParticipants()
		case <-r.wake:
			r.settle(ctx)
		case <-retry:
		}
		failed := r.reconcile(ctx)
		if !failed {
			r.wired.Store(true)
		}
		if r.reconciled != nil {
			r.reconciled()
		}
		if failed {
			retry = time.After(delay)
			delay = min(delay*2, time.Minute)
		} else {
			retry = nil
			delay = r.opts.RetryDelay
		}
	}
}

// Edits often come in bursts (a client uploading a graph sends hundreds,
// each waiting for its reply). The reconciler lets a burst settle before it
// acts, so that it wires the result once instead of racing every edit for
// the lock and the CPU.
const (
	settleQuiet = 300 * time.Microsecond // act once no edit came for this long
	settleMax   = 5 * time.Millisecond   // but never wait longer than this
)

func (r *Runtime) settle(ctx context.Context) {
	quiet := time.NewTimer(settleQuiet)
	defer quiet.Stop()
	limit := time.NewTimer(settleMax)
	defer limit.Stop()
	for {
		select {
		case <-r.wake:
			quiet.Reset(settleQuiet)
		case <-quiet.C:
			return
		case <-limit.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Ready is closed once Run is listening for participants' announcements.
func (r *Runtime) Ready() <-chan struct{} { return r.ready }

// Readiness says whether the runtime can do its work, for health checks:
// nil once Run listens for participants, the graphs loaded before it (the
// --graph file) have been wired into the broker and started, and while the
// broker connection is up; otherwise an error saying what is missing.
func (r *Runtime) Readiness() error {
	select {
	case <-r.ready:
	default:
		return errors.New("not listening for participants yet")
	}
	if r.brokerDown.Load() {
		return errors.New("broker connection lost")
	}
	if !r.wired.Load() {
		return errors.New("graphs not wired yet")
	}
	return nil
}

// expiryCheckInterval is how often participants are checked for expiry:
// often enough for the default expiry and for participants that announce a
// short heartbeat of their own (checks are cheap).
func expiryCheckInterval(expiry time.Duration) time.Duration {
	return max(min(expiry/10, time.Second), 10*time.Millisecond)
}

func (r *Runtime) shutdown() {
	defer r.proxy.Close()
	r.stopAllProcesses()
	if r.persist != nil {
		defer r.persist.close()
	}
	for q, sub := range r.taps {
		if err := sub.Close(); err != nil {
			r.log.Debug().Err(err).Str("queue", q).Msg("close edge tap")
		}
	}
	r.taps = map[string]network.Subscription{}
	r.mu.Lock()
	local := r.local
	r.local = map[string]*localParticipant{}
	r.mu.Unlock()
	for _, lp := range local {
		lp.gate.set(true) // a paused participant finishes what it holds
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for role, lp := range local {
		if err := lp.p.Stop(ctx); err != nil {
			r.log.Warn().Err(err).Str("role", role).Msg("stop participant")
		}
	}
}

func (r *Runtime) onDiscovery(_ string, data []byte) {
	def, err := network.DecodeDiscovery(data)
	if err != nil {
		r.log.Warn().Err(err).Msg("dropped discovery message")
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, gone := r.retired[def.ID]; gone {
		return
	}
	r.addParticipantLocked(def)
}

// addParticipantLocked records a participant's announcement, updates the
// component library and tells clients about a new or changed component.
func (r *Runtime) addParticipantLocked(def network.Definition) {
	change := r.registry.Upsert(def, r.now())
	r.lastKnown[def.Role] = def
	if change == network.Refreshed {
		return
	}
	r.log.Info().Str("role", def.Role).Str("component", def.Component).Str("id", def.ID).Msg("participant discovered")
	if def.Inqueue != "" && def.Outqueue != "" {
		r.proxy.Watch(def) // announced FBP queues: no probe needed
	}
	// The component first: an editor that gets a node of a component it
	// does not know yet fails to draw it (Flowhub).
	if r.updateComponentLocked(def) {
		r.emit("component", "component", r.components[def.Component].payload())
	}
	r.liveAddLocked(def)
	if change == network.Added {
		r.traceParticipantLocked(def)
		r.clearNodeErrorLocked("process:"+def.Role, def.Role)
		r.sendIIPsToNewInstanceLocked(def)
	}
	r.poke()
}

// sendIIPsToNewInstanceLocked gives a participant instance heard from for
// the first time (a new id: started, or restarted) the initial packets of
// its nodes in started graphs (msgflo issue 127), unless they are still
// waiting to be sent.
func (r *Runtime) sendIIPsToNewInstanceLocked(def network.Definition) {
	for _, gs := range r.sortedGraphsLocked() {
		if !gs.started {
			continue
		}
		for _, node := range gs.nodesOfRole(def.Role) {
			for _, i := range gs.g.IIPs {
				if i.Tgt.Node != node || gs.pending(i) {
					continue
				}
				if err := gs.queueIIP(i); err != nil {
					r.networkErrorLocked("iip:"+gs.g.ID+":"+i.ID(), gs.g.ID, err.Error())
				}
			}
		}
	}
}

func (r *Runtime) expireParticipants() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for id, at := range r.retired {
		if now.Sub(at) > r.opts.HeartbeatExpiry {
			delete(r.retired, id)
		}
	}
	// In-process participants are alive as long as the runtime runs them,
	// whatever their announcement period.
	for _, lp := range r.local {
		r.registry.Upsert(lp.p.Definition(), now)
	}
	gone := r.registry.Expire(now, r.opts.HeartbeatExpiry)
	for _, def := range gone {
		r.log.Warn().Str("role", def.Role).Str("id", def.ID).Msg("participant expired: no heartbeat")
		r.proxy.Forget(def.ID)
		for _, gs := range r.sortedGraphsLocked() {
			for _, node := range gs.nodesOfRole(def.Role) {
				r.emit("network", "processerror", ProcessErrorPayload{
					ID:    node,
					Error: fmt.Sprintf("participant %s (role %s) not heard from within %s; it is considered gone", def.ID, def.Role, network.Expiry(def, r.opts.HeartbeatExpiry)),
					Graph: gs.g.ID,
				})
			}
		}
	}
	for _, def := range gone {
		r.liveRemoveLocked(def.Role)
	}
	if len(gone) > 0 {
		r.poke()
	}
}

// resolveLocked finds the participant serving a role: the one heard from last.
func (r *Runtime) resolveLocked(role string) (network.Definition, bool) {
	entries := r.registry.ByRole(role)
	if len(entries) == 0 {
		def, ok := r.lastKnown[role]
		return def, ok
	}
	best := entries[0]
	for _, e := range entries[1:] {
		if e.LastSeen.After(best.LastSeen) {
			best = e
		}
	}
	return best.Definition, true
}

// roleOf is the role of a node of the graph: its id, or its escape when
// the id is not a safe queue name (graph.Graph.Role).
func (gs *graphState) roleOf(node string) string {
	if role, ok := gs.g.RoleOf(node); ok {
		return role
	}
	return graph.EscapeRole(node)
}

// nodesOfRole lists the graph's nodes served by role, in graph order.
func (gs *graphState) nodesOfRole(role string) []string {
	if !gs.g.HasRole(role) {
		return nil
	}
	var out []string
	for _, n := range gs.g.Nodes {
		if r, _ := gs.g.RoleOf(n.ID); r == role {
			out = append(out, n.ID)
		}
	}
	return out
}

func (gs *graphState) hasRole(role string) bool { return gs.g.HasRole(role) }

func (r *Runtime) sortedGraphsLocked() []*graphState {
	out := make([]*graphState, 0, len(r.graphs))
	for _, gs := range r.graphs {
		out = append(out, gs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].g.ID < out[j].g.ID })
	return out
}

func (r *Runtime) graphLocked(id string) (*graphState, error) {
	if id == "" {
		return nil, ErrNoGraph
	}
	gs, ok := r.graphs[id]
	if !ok {
		return nil, ErrGraphNotFound
	}
	return gs, nil
}
