// Package directory is what the broker told the coordinator about
// participants, around network.ParticipantRegistry (the participants
// discovered, by id and by role, at most MaxParticipants of them): a bound
// on the ports remembered, the last definition of each role whose
// participants all went silent while a graph still needs the role (its
// queues are durable and still collect what the graph sends it), the ids
// of in-process participants the runtime retired, and the graph each full
// FBP runtime participant hosts.
//
// Everything in it is keyed by names announcements chose, so it is
// bounded: at most MaxParticipants participants and MaxPorts ports in all
// are remembered (an announcement beyond them is refused, and the refusal
// logged once until there is room again), and what is kept of a
// participant goes when it expires or is removed, the last definition of
// its role too unless a graph still needs the role.
//
// A Directory is safe for concurrent use; while holding its lock it calls
// nothing but the registry (and the keep functions its callers give).
// Time is passed in, so callers (and tests) decide the clock.
package directory

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
)

// DefaultMaxPorts bounds the ports of the definitions kept, whatever their
// number of participants: every participant may announce network.MaxPorts
// inports and as many outports, and thousands of them would take
// gigabytes (msgflo-nodejs and noflo-runtime-msgflo announce tens each).
const DefaultMaxPorts = 200000

// ErrFull refuses an announcement of a participant beyond the bounds.
var ErrFull = errors.New("participant directory full")

// Options bound a Directory (zero values: network.DefaultMaxParticipants
// and DefaultMaxPorts).
type Options struct {
	MaxParticipants, MaxPorts int
}

// Directory is the coordinator's record of participants.
type Directory struct {
	maxPorts int
	reg      *network.ParticipantRegistry

	mu sync.Mutex // guards the fields below, and orders the registry's changes
	// last are the last definitions of roles none of whose participants
	// is known any more, kept while a graph needs the role.
	last map[string]network.Definition
	// ports counts the ports of the registry's entries and of last.
	ports   int
	retired map[string]time.Time
	hosted  map[string]string
	// full is set once an announcement was refused, until one fits again.
	full bool
}

// New makes an empty directory.
func New(o Options) *Directory {
	if o.MaxParticipants <= 0 {
		o.MaxParticipants = network.DefaultMaxParticipants
	}
	if o.MaxPorts <= 0 {
		o.MaxPorts = DefaultMaxPorts
	}
	return &Directory{
		maxPorts: o.MaxPorts,
		reg:      network.NewParticipantRegistryOf(o.MaxParticipants),
		last:     map[string]network.Definition{},
		retired:  map[string]time.Time{},
		hosted:   map[string]string{},
	}
}

func portsOf(def network.Definition) int { return len(def.Inports) + len(def.Outports) }

// Upsert records an announcement seen at now and says what it changed. A
// participant not known before is refused with ErrFull when the directory
// holds MaxParticipants participants, and any announcement whose ports
// would take it beyond MaxPorts; first says the refusal is the first since
// the directory was last within its bounds (log it then).
func (d *Directory) Upsert(def network.Definition, now time.Time) (change network.RegistryChange, first bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	grow := d.growLocked(def)
	if grow <= 0 || d.ports+grow <= d.maxPorts {
		if change = d.reg.Upsert(def, now); change != network.Full {
			if change == network.Added {
				d.full = false // room again
			}
			d.recordLocked(def, grow, change)
			return change, false, nil
		}
	}
	first = !d.full
	d.full = true
	return network.Full, first, fmt.Errorf("%w: %d participants, %d ports remembered (at most %d and %d): %s (role %s) not recorded",
		ErrFull, d.reg.Len(), d.ports, d.reg.Max(), d.maxPorts, network.Sender(def.ID), network.Sender(def.Role))
}

// UpsertOwn is Upsert for the runtime's own participants, which the
// bounds never refuse (their number is the graphs').
func (d *Directory) UpsertOwn(def network.Definition, now time.Time) network.RegistryChange {
	d.mu.Lock()
	defer d.mu.Unlock()
	grow := d.growLocked(def)
	change := d.reg.Keep(def, now)
	d.recordLocked(def, grow, change)
	return change
}

// growLocked is how many ports recording def adds (its role's last
// definition goes).
func (d *Directory) growLocked(def network.Definition) int {
	grow := portsOf(def)
	if e, ok := d.reg.Get(def.ID); ok {
		grow -= portsOf(e.Definition)
	}
	if last, ok := d.last[def.Role]; ok {
		grow -= portsOf(last)
	}
	return grow
}

func (d *Directory) recordLocked(def network.Definition, grow int, change network.RegistryChange) {
	if change == network.Refreshed {
		return
	}
	delete(d.last, def.Role) // its ports are in grow
	d.ports += grow
}

func (d *Directory) dropLastLocked(role string) {
	if last, ok := d.last[role]; ok {
		d.ports -= portsOf(last)
		delete(d.last, role)
	}
}

// forgetLocked forgets what the directory kept of a participant gone from
// the registry; when it was the last of its role and keep(role) says a
// graph still needs the role, its definition is kept as the role's last.
func (d *Directory) forgetLocked(def network.Definition, keep func(role string) bool) {
	d.ports -= portsOf(def)
	delete(d.hosted, def.ID)
	if keep != nil && keep(def.Role) && len(d.reg.ByRole(def.Role)) == 0 {
		d.dropLastLocked(def.Role)
		d.last[def.Role] = def
		d.ports += portsOf(def)
	}
}

// Remove forgets a participant (one the runtime stopped), and the last
// definition of its role. It reports whether it was known.
func (d *Directory) Remove(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.reg.Get(id)
	if !ok {
		return false
	}
	d.reg.Remove(id)
	d.forgetLocked(e.Definition, nil)
	d.dropLastLocked(e.Definition.Role)
	return true
}

// Expire removes and returns (by id) the participants not heard from
// within their expiry of now (network.Expiry; fallback for those that
// announce no heartbeat). keep says which roles a graph still needs: the
// last definition of such a role stays (Resolve gives it, not live).
func (d *Directory) Expire(now time.Time, fallback time.Duration, keep func(role string) bool) []network.Definition {
	d.mu.Lock()
	defer d.mu.Unlock()
	gone := d.reg.Expire(now, fallback)
	for _, def := range gone {
		d.forgetLocked(def, keep)
	}
	return gone
}

// Resolve finds the participant serving a role: the one heard from last
// (live), else the last definition kept of the role.
func (d *Directory) Resolve(role string) (def network.Definition, live, ok bool) {
	if entries := d.reg.ByRole(role); len(entries) > 0 {
		best := entries[0] // sorted by id: ties go to the first
		for _, e := range entries[1:] {
			if e.LastSeen.After(best.LastSeen) {
				best = e
			}
		}
		return best.Definition, true, true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	def, ok = d.last[role]
	return def, false, ok
}

// Live says a participant of the role is known (not expired).
func (d *Directory) Live(role string) bool { return len(d.reg.ByRole(role)) > 0 }

// ByRole returns the participants of a role, sorted by id.
func (d *Directory) ByRole(role string) []network.Entry { return d.reg.ByRole(role) }

// All returns every participant, sorted by id.
func (d *Directory) All() []network.Entry { return d.reg.All() }

// Get returns the entry of a participant.
func (d *Directory) Get(id string) (network.Entry, bool) { return d.reg.Get(id) }

// Size is the number of participants and of ports remembered.
func (d *Directory) Size() (participants, ports int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reg.Len(), d.ports
}

// Prune drops the last definitions of roles keep no longer needs.
func (d *Directory) Prune(keep func(role string) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for role := range d.last {
		if !keep(role) {
			d.dropLastLocked(role)
		}
	}
}

// Expired returns the last definitions kept of roles none of whose
// participants is known, by role.
func (d *Directory) Expired() map[string]network.Definition {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]network.Definition, len(d.last))
	for role, def := range d.last {
		out[role] = def
	}
	return out
}

// Retire records the id of a participant the runtime stopped: its late
// announcements are ignored (Retired) until it would have expired.
func (d *Directory) Retire(id string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.retired[id] = now
}

// Retired says an id was retired.
func (d *Directory) Retired(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.retired[id]
	return ok
}

// ForgetRetired forgets the ids retired longer than expiry before now.
func (d *Directory) ForgetRetired(now time.Time, expiry time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, at := range d.retired {
		if now.Sub(at) > expiry {
			delete(d.retired, id)
		}
	}
}

// SetHosted records the graph a full FBP runtime participant hosts (as
// its component:source answer named it); it is forgotten with the
// participant.
func (d *Directory) SetHosted(id, graph string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.reg.Get(id); ok {
		d.hosted[id] = graph
	}
}

// Hosted is the graph a participant hosts: the one recorded, else its
// component (a NoFlo graph run as a participant is named after it).
func (d *Directory) Hosted(def network.Definition) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if g, ok := d.hosted[def.ID]; ok {
		return g
	}
	return def.Component
}
