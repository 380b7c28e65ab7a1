package runtime

import (
	"bytes"
	"context"
	"maps"
	"sync"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// localParticipant is an in-process participant: a built-in component the
// runtime runs under a node's role. Its fields but running are fixed when
// it is made.
type localParticipant struct {
	component string
	p         *participant.Participant
	// def is p's definition (the participant's is copied at each call).
	def network.Definition
	// running is set once it consumes: it waits until its outputs are
	// bound, so that nothing it sends is dropped (guarded by locals.mu).
	running bool
	// gate is open while one of the graphs with its node is started.
	gate *gate
	// graph is the graph its metrics are labelled with.
	graph string
	// counts are the messages it processed, by inport.
	counts *portCounts
	// release closes its broker connection when it has one of its own.
	release func()
}

// stop stops the participant, then closes its own broker connection.
func (lp *localParticipant) stop(ctx context.Context) error {
	if lp.release != nil {
		defer lp.release()
	}
	return lp.p.Stop(ctx)
}

// splitter is a broker that opens a connection of its own for one user
// (AMQP: RabbitMQ reads and throttles each connection as a whole, so
// participants sharing one wait for each other).
type splitter interface {
	Split(ctx context.Context) (network.Broker, error)
}

// maxOwnConnections bounds the in-process participants that get a broker
// connection of their own; the others share the runtime's. Each connection
// costs the broker memory and the runtime a few goroutines.
const maxOwnConnections = 32

// locals are the in-process participants the runtime runs, by role. They
// have a lock of their own; a participant's own operations (declaring,
// consuming, stopping: broker I/O) run outside it.
type locals struct {
	mu     sync.Mutex // guards byRole, ids and the participants' running
	byRole map[string]*localParticipant
	// ids are the participants' ids (ownAnnouncement).
	ids map[string]bool
	// ownConns counts the participants' own broker connections.
	ownConns int
}

// brokerFor is the broker an in-process participant is to use: a
// connection of its own while fewer than maxOwnConnections are open and
// shared can make one, else shared. release closes the connection of its
// own (it does nothing for shared).
func (l *locals) brokerFor(ctx context.Context, shared network.Broker) (b network.Broker, release func()) {
	s, ok := shared.(splitter)
	l.mu.Lock()
	ok = ok && l.ownConns < maxOwnConnections
	if ok {
		l.ownConns++
	}
	l.mu.Unlock()
	if !ok {
		return shared, func() {}
	}
	own, err := s.Split(ctx)
	if err != nil {
		l.mu.Lock()
		l.ownConns--
		l.mu.Unlock()
		return shared, func() {}
	}
	var once sync.Once
	return own, func() {
		once.Do(func() {
			_ = own.Close()
			l.mu.Lock()
			l.ownConns--
			l.mu.Unlock()
		})
	}
}

func newLocals() *locals {
	return &locals{byRole: map[string]*localParticipant{}, ids: map[string]bool{}}
}

// announcedID is how network.EncodeDiscovery begins a discovery message:
// the participant's id follows.
var announcedID = []byte(`{"protocol":"discovery","command":"participant","payload":{"id":"`)

// ownAnnouncement says a discovery message names one of the participants'
// ids, as their own announcements (network.EncodeDiscovery) do: the
// runtime hears them on the broker and knows them already, so it does not
// decode them (a participant announces its definition at start and every
// period). Nobody else's message can tell the runtime anything about its
// own participants; any other message is decoded as usual.
func (l *locals) ownAnnouncement(data []byte) bool {
	rest, ok := bytes.CutPrefix(data, announcedID)
	if !ok {
		return false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return false // an escaped id: leave it to the decoder
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[string(rest[:end])]
}

// get is the participant of role (nil: none).
func (l *locals) get(role string) *localParticipant {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byRole[role]
}

// has says the runtime runs a participant of role.
func (l *locals) has(role string) bool { return l.get(role) != nil }

func (l *locals) put(role string, lp *localParticipant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byRole[role] = lp
	l.ids[lp.def.ID] = true
}

// take removes and returns the participant of role (nil: none).
func (l *locals) take(role string) *localParticipant {
	l.mu.Lock()
	defer l.mu.Unlock()
	lp := l.byRole[role]
	delete(l.byRole, role)
	if lp != nil {
		delete(l.ids, lp.def.ID)
	}
	return lp
}

// takeAll removes and returns every participant.
func (l *locals) takeAll() map[string]*localParticipant {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := l.byRole
	l.byRole = map[string]*localParticipant{}
	clear(l.ids)
	return all
}

// markRunning records that the participant of role consumes.
func (l *locals) markRunning(role string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lp := l.byRole[role]; lp != nil {
		lp.running = true
	}
}

// plan is what the plan knows of them.
func (l *locals) plan() map[string]plan.Local {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]plan.Local, len(l.byRole))
	for role, lp := range l.byRole {
		out[role] = plan.Local{Component: lp.component, Running: lp.running, Open: lp.gate.isOpen()}
	}
	return out
}

// state is the node state of the participant of role: waiting until it
// consumes, then running or paused (its gate); ok is false without one.
func (l *locals) state(role string) (state string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lp := l.byRole[role]
	switch {
	case lp == nil:
		return "", false
	case !lp.running:
		return NodeWaiting, true // it consumes once its outputs are wired
	case lp.gate.isOpen():
		return NodeRunning, true
	default:
		return NodePaused, true
	}
}

// definitions are the participants' definitions, by role.
func (l *locals) definitions() map[string]network.Definition {
	l.mu.Lock()
	all := maps.Clone(l.byRole)
	l.mu.Unlock()
	out := make(map[string]network.Definition, len(all))
	for role, lp := range all {
		out[role] = lp.def
	}
	return out
}
