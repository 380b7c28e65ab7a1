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
	"github.com/msgflo/msgflo-runtime/internal/backoff"
	"github.com/msgflo/msgflo-runtime/internal/logtext"
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/metrics"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/proxy"
	"github.com/msgflo/msgflo-runtime/runtime/directory"
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
	// Sink gets the runtime's events, the messages for clients (the
	// protocol server's hub); nil discards them.
	Sink Sink
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
	// Ignore names the nodes the runtime starts no participant for, by
	// node id or role (plan.IgnoreList).
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
	// MaxParticipants bounds the participants the runtime remembers
	// (default directory.DefaultMaxParticipants): announcements of more
	// are refused, with a log line.
	MaxParticipants int
	// MaxPendingBytes bounds the data waiting to be sent per graph
	// (initial packets and runtime:packet data whose target is not wired
	// yet); a packet beyond it is refused with an error. Default
	// DefaultMaxPendingBytes; negative: no bound.
	MaxPendingBytes int
	// RetryDelay is the first delay before a failed broker operation is
	// tried again (doubling up to a minute, jittered: internal/backoff).
	// Default 500 ms.
	RetryDelay time.Duration
	Logger     zerolog.Logger
	// Metrics, when set, records what the runtime does (GET /metrics).
	Metrics *metrics.Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Runtime is the coordinator. Create it with New (its Options name the
// Sink that gets its events), then Run it.
//
// It is made of parts that own their state, each with a lock of its own
// (or a goroutine): the graph store (Graphs, embedded: the graph:* and
// network:* commands are its methods), the catalog of components, the
// directory of participants, the in-process participants, the processes,
// the wiring (bindings and taps, acted on by the reconcile loop), the
// tracer, the forwarder, the problems and the event queue. No lock is held
// across broker or process I/O, or while an event is encoded.
type Runtime struct {
	*Graphs
	wiring *wiring
	tracer *tracer
	fwd    *forwarder

	ready chan struct{} // closed once Run listens for discovery
	// brokerDown is set while the broker connection is lost; wired once a
	// reconcile pass has brought the broker in line with the graphs loaded
	// (Readiness).
	brokerDown, wired atomic.Bool
	// started is when the runtime was made (its uptime).
	started time.Time
	// uploads makes component:source uploads write one at a time
	// (sources.go).
	uploads sync.Mutex
}

// parts are what every part of the coordinator reaches; set once by New.
type parts struct {
	opts   *Options
	log    zerolog.Logger
	now    func() time.Time
	broker network.Broker
	// wake pokes the reconcile loop; pokes counts the pokes (settle),
	// edits the clients' graph edits among them (under the store's lock:
	// a pass gives way to a burst of them, wiring.yielding).
	wake  chan struct{}
	pokes atomic.Uint64
	edits atomic.Uint64
	// events hands the events to the sink (events.go); problems is where
	// every problem goes (problems.go); recent are the last errors
	// reported, for the status page.
	events   *events
	problems *problems
	recent   *errorLog
	// catalog is the component library clients see (components.go).
	catalog *catalog
	// dir is what the broker told about participants (runtime/directory).
	dir *directory.Directory
	// local are the in-process participants (locals.go); procs the
	// participant processes (processes.go).
	local *locals
	procs *processes
	// proxy reaches FBP-capable participants through their own queues.
	proxy *proxy.Proxy
	// brokerLog limits the log lines announcements cause (anything on the
	// broker can send them).
	brokerLog *logtext.Limiter
}

// Graphs is the graph store: the graphs clients and files made (the
// desired state), their networks (started or not, the packets waiting to
// be sent, the edges clients watch), the live view and the saving of the
// main graph. Its lock is the one every edit takes; broker operations
// never run under it.
type Graphs struct {
	*parts

	mu        sync.Mutex // guards the fields below
	graphs    map[string]*graphState
	mainGraph string
	// made counts the graphs made (created, cleared, loaded).
	made uint64
	// sorted are the graphs by id (sortedGraphsLocked), nil when to be
	// made again.
	sorted []*graphState
	// ids are the graphs' ids, read without the lock (GraphHost asks for
	// every graph message a client sends); graphs are never removed.
	ids sync.Map
	// watchers are the connected clients and the edges each selected;
	// watchGen counts their changes (the graphs' plans depend on them).
	watchers watchers
	watchGen uint64
	// persist saves the main graph (nil without a graph file).
	persist *persister
	// buffer, when set, collects events instead of sending them: the
	// acknowledgements of an edit wait for the save that includes it.
	buffer *[]Event
	// live is the live view (live.go).
	live *liveView
}

type graphState struct {
	g *graph.Graph
	// created orders the graphs by when they were made (plan.Graph.Created).
	created   uint64
	started   bool
	startedAt time.Time
	debug     bool
	// outbox holds initial packets and runtime:packet data waiting for
	// their target participant, in order.
	outbox []*delivery
	// bytes is the size of the data in outbox; maxBytes bounds it (0: no
	// bound).
	bytes, maxBytes int
	// seq is the last sequence number given to a packet of outbox.
	seq uint64
	// blocked counts the packets of outbox that wait for a node with a
	// reported problem (set by each delivery pass).
	blocked int
	// planned is the graph as the plan saw it last (plannedLocked), nil
	// once it changed.
	planned *plannedGraph
	// resetIIPs holds the IIPs (target and data) removed from the started
	// graph after they were sent, until the next addinitial: an editor
	// that sets an IIP again to the same value (Flowhub sends removeinitial
	// and addinitial of the same packet when its input loses focus) does
	// not send it a second time.
	resetIIPs map[string]bool
}

// changed says the graph changed: its plan is made afresh. Call it with
// the store's lock held after every change of the graph.
func (gs *graphState) changed() {
	if gs != nil {
		gs.planned = nil
	}
}

// iipKey identifies an IIP by its target and its data.
func iipKey(i *graph.IIP) string {
	return i.Tgt.Node + "\x00" + lower(i.Tgt.Port) + "\x00" + string(i.Data)
}

type delivery struct {
	// seq identifies it in its graph's outbox.
	seq  uint64
	tgt  graph.Endpoint
	data []byte
	iip  *graph.IIP // set for initial packets: reported as network:data when sent
	// sending says a reconcile pass is sending it (wiring.deliver): it
	// leaves the outbox once sent.
	sending bool
	// reported says an initial packet was reported (network:data) on
	// its first try.
	reported bool
}

type edgeKey struct{ src, tgt string }

func keyOf(src, tgt graph.Endpoint) edgeKey {
	return edgeKey{src: src.Node + "\x00" + lower(src.Port), tgt: tgt.Node + "\x00" + lower(tgt.Port)}
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
		opts.Namespace = packageName(DefaultLibraryFile)
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	p := &parts{
		opts: &opts, log: opts.Logger, now: opts.Now, broker: opts.Broker,
		wake:      make(chan struct{}, 1),
		catalog:   newCatalog(opts.Components, opts.Library),
		dir:       directory.New(directory.Options{MaxParticipants: opts.MaxParticipants}),
		local:     newLocals(),
		brokerLog: logtext.NewLimiter(brokerLogBurst, brokerLogEvery),
		proxy:     proxy.New(proxy.Options{Broker: opts.Broker, Timeout: opts.ProxyTimeout, Logger: opts.Logger}),
	}
	p.recent = &errorLog{now: opts.Now}
	p.events = newEvents(opts.Sink, p.recent.record)
	p.problems = newProblems(opts.Logger, p.events)
	g := &Graphs{parts: p, graphs: map[string]*graphState{}, watchers: watchers{}}
	g.live = newLiveView(g)
	r := &Runtime{Graphs: g, ready: make(chan struct{}), started: opts.Now()}
	r.wiring = newWiring(r)
	r.tracer = newTracer(g)
	r.fwd = newForwarder(p)
	wait := opts.WaitTimeout
	if wait <= 0 {
		wait = DefaultWaitTimeout
	}
	p.procs = &processes{log: p.log, now: opts.Now, wait: wait, live: p.dir.Live, failed: r.processFailed, byRole: map[string]*process{}}
	if opts.GraphFile != "" {
		g.persist = newPersister(g, opts.GraphFile)
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

// The log lines announcements cause: a burst of brokerLogBurst, then one
// per brokerLogEvery (the lines held back are counted on the next).
const (
	brokerLogBurst = 100
	brokerLogEvery = 100 * time.Millisecond
)

// DefaultMaxPendingBytes is the default bound of the data waiting to be
// sent per graph.
const DefaultMaxPendingBytes = 64 << 20

// newGraphState wraps a graph with the runtime's limits. Call it with r.mu
// held.
func (r *Graphs) newGraphState(g *graph.Graph) *graphState {
	r.made++
	return &graphState{g: g, maxBytes: max(r.opts.MaxPendingBytes, 0), created: r.made}
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

// emit queues an event for every client, or, during an edit of the main
// graph saved automatically, for after the save (commitLocked). Call it
// with r.mu held.
func (r *Graphs) emit(m wire.Message) {
	if r.buffer != nil { // an edit's acknowledgements wait for its save
		*r.buffer = append(*r.buffer, Event{Message: m})
		return
	}
	r.events.push(m)
}

// onBrokerConnection tells clients when the broker connection drops and
// when it is back. The graphs are kept throughout; the transport restores
// its declarations, bindings and consumers, and the reconciler catches up
// with whatever changed meanwhile.
func (r *Runtime) onBrokerConnection(up bool) {
	defer r.events.flush()
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
			r.problems.emit(nil, problem{message: msg})
		}
		for _, gs := range graphs {
			r.problems.emit(nil, problem{graph: gs.g.ID, message: msg})
		}
		return
	}
	r.log.Info().Str("broker", url).Msg("broker connection restored")
	r.emit(wire.Output{Message: "Connection to the broker " + url + " restored"})
	r.poke()
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
	delays := backoff.New(r.opts.RetryDelay, time.Minute)
	r.poke()
	for {
		select {
		case <-ctx.Done():
			r.shutdown()
			return nil
		case <-expiry.C:
			r.expireParticipants()
		case <-r.wake:
			if r.wiring.behind.IsZero() {
				r.wiring.behind = time.Now()
			}
			r.settle(ctx, r.wiring.behind.Add(settleMax))
		case <-retry:
		}
		failed, yielded := r.wiring.reconcile(ctx)
		if !yielded {
			r.wiring.behind = time.Time{}
			if !failed {
				r.wired.Store(true)
			}
		}
		if r.wiring.reconciled != nil {
			r.wiring.reconciled()
		}
		if failed {
			retry = time.After(delays.Next())
		} else {
			retry = nil
			delays.Reset()
		}
	}
}

// Edits often come in bursts (a client uploading a graph sends hundreds,
// each waiting for its reply). The reconciler lets a burst settle before it
// acts, so that it wires the result once instead of racing every edit for
// the lock and the CPU: starting the participants of an upload while it
// goes on would slow every edit of it, and on RabbitMQ the broker's own
// work for them takes the CPU from the runtime too. A pass that began in a
// pause of the burst (a slow edit, the client's own work) gives way as
// soon as an edit comes (wiring.yielding) and the loop settles again.
// settleMax bounds how far the broker may lag behind a client that never
// pauses: from the first edit not acted on, the loop waits and gives way
// for this long at most. A single edit is acted on after settleQuiet.
// While it waits the loop is not woken by each edit: it looks at the count
// of pokes every settleQuiet, so that an edit costs its client an atomic
// increment, not a wake-up of the loop and a timer reset.
const (
	settleQuiet = 300 * time.Microsecond // act once no edit came for this long
	settleMax   = 50 * time.Millisecond  // but never wait longer than this
)

func (r *Runtime) settle(ctx context.Context, limit time.Time) {
	quiet := time.NewTimer(min(settleQuiet, time.Until(limit)))
	defer quiet.Stop()
	for seen := r.pokes.Load(); ; {
		select {
		case <-quiet.C:
		case <-ctx.Done():
			return
		}
		now := r.pokes.Load()
		if now == seen || !time.Now().Before(limit) {
			break
		}
		seen = now
		quiet.Reset(min(settleQuiet, time.Until(limit)))
	}
	// What poked meanwhile is in the pass about to be made.
	select {
	case <-r.wake:
	default:
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
	r.procs.stopAll()
	if r.persist != nil {
		defer r.persist.close()
	}
	r.wiring.closeTaps()
	local := r.local.takeAll()
	for _, lp := range local {
		lp.gate.set(true) // a paused participant finishes what it holds
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for role, lp := range local {
		if err := lp.stop(ctx); err != nil {
			r.log.Warn().Err(err).Str("role", role).Msg("stop participant")
		}
	}
}

func (r *Runtime) onDiscovery(_ string, data []byte) {
	if r.local.ownAnnouncement(data) {
		return // its own participant's: known, and kept alive by expireParticipants
	}
	defer r.events.flush()
	def, err := network.DecodeDiscoveryFor(data, network.RulesOf(r.broker))
	if err != nil {
		r.brokerLog.Event(r.log.Warn()).Err(err).Msg("dropped discovery message")
		return
	}
	if r.dir.Retired(def.ID) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addParticipantLocked(def)
}

// addParticipantLocked records a participant's announcement, updates the
// component library and tells clients about a new or changed component.
func (r *Runtime) addParticipantLocked(def network.Definition) {
	change, first, err := r.dir.Upsert(def, r.now())
	if err != nil {
		if first {
			r.log.Warn().Err(err).Msg("announcements of new participants are ignored until some expire")
		}
		return
	}
	r.participantChangedLocked(def, change)
}

// participantChangedLocked acts on what an announcement changed: a new
// participant is shown and watched, a new or changed component reported.
func (r *Runtime) participantChangedLocked(def network.Definition, change network.RegistryChange) {
	if change == network.Refreshed {
		return
	}
	if lp := r.local.get(def.Role); lp == nil || lp.def.ID != def.ID { // its own are logged when they start
		r.brokerLog.Event(r.log.Info()).Str("role", def.Role).Str("component", def.Component).Str("id", def.ID).Msg("participant discovered")
	}
	// The component first: an editor that gets a node of a component it
	// does not know yet fails to draw it (Flowhub).
	if c, changed := r.catalog.learn(def); changed {
		r.emit(c)
	}
	r.live.add(def)
	if change == network.Added {
		r.tracer.participantAppeared(def)
		r.problems.clearPrefix("process:" + def.Role + ":")
		r.sendIIPsToNewInstanceLocked(def)
	}
	r.poke()
}

// sendIIPsToNewInstanceLocked gives a participant instance heard from for
// the first time (a new id: started, or restarted) the initial packets of
// its nodes in started graphs (msgflo issue 127), unless they are still
// waiting to be sent.
func (r *Runtime) sendIIPsToNewInstanceLocked(def network.Definition) {
	for _, gs := range r.graphs { // each graph has its own outbox: any order
		if !gs.started || !gs.hasRole(def.Role) {
			continue
		}
		for _, node := range gs.nodesOfRole(def.Role) {
			for _, i := range gs.g.IIPs {
				if i.Tgt.Node != node || gs.pending(i) {
					continue
				}
				if err := gs.queueIIP(i); err != nil {
					r.problems.graphError("iip:"+gs.g.ID+":"+i.ID(), gs.g.ID, err.Error())
				}
			}
		}
	}
}

func (r *Runtime) expireParticipants() {
	defer r.events.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.dir.ForgetRetired(now, r.opts.HeartbeatExpiry)
	// In-process participants are alive as long as the runtime runs them,
	// whatever their announcement period.
	for _, def := range r.local.definitions() {
		r.dir.UpsertOwn(def, now)
	}
	gone := r.dir.Expire(now, r.opts.HeartbeatExpiry, r.neededLocked)
	for _, def := range gone {
		r.brokerLog.Event(r.log.Warn()).Str("role", def.Role).Str("id", def.ID).Msg("participant expired: no heartbeat")
		r.forgetParticipantLocked(def)
		for _, gs := range r.sortedGraphsLocked() {
			for _, node := range gs.nodesOfRole(def.Role) {
				r.emit(wire.ProcessError{
					ID:    node,
					Error: fmt.Sprintf("participant %s (role %s) not heard from within %s; it is considered gone", def.ID, def.Role, network.Expiry(def, r.opts.HeartbeatExpiry)),
					Graph: gs.g.ID,
				})
			}
		}
	}
	for _, def := range gone {
		r.live.remove(def.Role)
	}
	if len(gone) > 0 {
		r.forgetComponentsLocked()
		r.poke()
	}
}

// forgetComponentsLocked forgets the components learnt from announcements
// that no participant announces any more and no graph's node uses.
func (r *Runtime) forgetComponentsLocked() {
	announced, used := map[string]bool{}, map[string]bool{}
	for _, e := range r.dir.All() {
		announced[e.Definition.Component] = true
	}
	for _, gs := range r.graphs {
		for _, name := range gs.g.Components() {
			used[name] = true
		}
	}
	r.catalog.forget(announced, used)
}

// neededLocked says a graph needs a role: a node of it that is not an
// observation has the role.
func (r *Graphs) neededLocked(role string) bool {
	for _, gs := range r.graphs {
		if !gs.hasRole(role) {
			continue
		}
		if n := gs.g.Node(role); n != nil && observed(n.Metadata) {
			continue // the live graph's node showing it (roles are unique in a graph)
		}
		return true
	}
	return false
}

// forgetParticipantLocked forgets what the runtime kept of a participant
// that expired, besides the directory's: its FBP channel, its trace
// bookkeeping, the connect messages sent to it.
func (r *Runtime) forgetParticipantLocked(def network.Definition) {
	r.proxy.Forget(def.ID)
	r.tracer.forget(def.ID)
	r.fwd.forget(def.ID)
}

// roleOf is the role of a node of the graph: its id, or its escape when
// the id is not a safe queue name (graph.Graph.Role).
func (gs *graphState) roleOf(node string) string {
	if role, ok := gs.g.RoleOf(node); ok {
		return role
	}
	return graph.EscapeRole(node)
}

// nodesOfRole lists the graph's nodes served by role (at most one: roles
// are unique in a graph).
func (gs *graphState) nodesOfRole(role string) []string {
	if !gs.g.HasRole(role) {
		return nil
	}
	if r, ok := gs.g.RoleOf(role); ok && r == role {
		return []string{role} // a node whose id is the role
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

// sortedGraphsLocked lists the graphs by id. The list is kept until a
// graph is made (setGraphLocked); callers must not change it.
func (r *Graphs) sortedGraphsLocked() []*graphState {
	if r.sorted != nil && len(r.sorted) == len(r.graphs) {
		return r.sorted
	}
	out := make([]*graphState, 0, len(r.graphs))
	for _, gs := range r.graphs {
		out = append(out, gs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].g.ID < out[j].g.ID })
	r.sorted = out
	return out
}

// setGraphLocked makes gs the graph of its id.
func (r *Graphs) setGraphLocked(gs *graphState) {
	r.graphs[gs.g.ID] = gs
	r.sorted = nil
	r.ids.Store(gs.g.ID, struct{}{})
}

func (r *Graphs) graphLocked(id string) (*graphState, error) {
	if id == "" {
		return nil, ErrNoGraph
	}
	gs, ok := r.graphs[id]
	if !ok {
		return nil, ErrGraphNotFound
	}
	return gs, nil
}
