package network

import (
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// DefaultHeartbeatExpiry is how long a participant may stay silent before
// the coordinator considers it gone (msgflo's documented limit).
const DefaultHeartbeatExpiry = 600 * time.Second

// DefaultMaxParticipants is how many participants a registry remembers
// at most. Anything on the broker can announce participants, and each one
// remembered costs memory (about a KiB, and more in what the coordinator
// keeps beside it) and work. Real networks have tens to hundreds; a fleet
// of devices may have thousands; #19 asks that 5,000 distinct roles be
// handled.
const DefaultMaxParticipants = 10000

// RegistryChange says what an announcement changed.
type RegistryChange int

const (
	// Refreshed is a heartbeat: the participant was known with the same definition.
	Refreshed RegistryChange = iota
	// Added is a participant not known before.
	Added
	// Updated is a known participant whose definition changed.
	Updated
	// Full is a participant not known before and not recorded: the
	// registry holds its maximum (Max). The caller logs it and drops the
	// announcement, as if it had not been heard.
	Full
)

func (c RegistryChange) String() string {
	switch c {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Full:
		return "refused: registry full"
	default:
		return "refreshed"
	}
}

// Entry is a participant as the registry knows it.
type Entry struct {
	Definition Definition
	FirstSeen  time.Time
	LastSeen   time.Time
}

// ParticipantRegistry is the coordinator's record of discovered
// participants, by id, with an index by role. It remembers at most Max
// participants; each is forgotten when it expires (Expire) or is removed.
// Safe for concurrent use; time is passed in so callers (and tests)
// decide the clock.
type ParticipantRegistry struct {
	max int

	mu      sync.Mutex // guards entries and byRole
	entries map[string]*Entry
	byRole  map[string]map[string]*Entry // role -> id -> entry
}

// NewParticipantRegistry returns an empty registry of at most
// DefaultMaxParticipants.
func NewParticipantRegistry() *ParticipantRegistry {
	return NewParticipantRegistryOf(DefaultMaxParticipants)
}

// NewParticipantRegistryOf returns an empty registry of at most max
// participants.
func NewParticipantRegistryOf(max int) *ParticipantRegistry {
	return &ParticipantRegistry{max: max, entries: map[string]*Entry{}, byRole: map[string]map[string]*Entry{}}
}

// Max is how many participants the registry remembers at most.
func (r *ParticipantRegistry) Max() int { return r.max }

// Len is how many participants the registry remembers.
func (r *ParticipantRegistry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

// Upsert records an announcement seen at now. A participant not known
// before is not recorded when the registry is full (Full).
func (r *ParticipantRegistry) Upsert(def Definition, now time.Time) RegistryChange {
	return r.upsert(def, now, false)
}

// Keep is Upsert for a participant the caller runs itself (in-process):
// never refused, so that announcements from the broker that fill the
// registry cannot push the caller's own participants out. They count
// towards Max like the others.
func (r *ParticipantRegistry) Keep(def Definition, now time.Time) RegistryChange {
	return r.upsert(def, now, true)
}

func (r *ParticipantRegistry) upsert(def Definition, now time.Time, own bool) RegistryChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[def.ID]
	if !ok {
		if len(r.entries) >= r.max && !own {
			return Full
		}
		e = &Entry{Definition: def, FirstSeen: now, LastSeen: now}
		r.entries[def.ID] = e
		r.indexLocked(e)
		return Added
	}
	e.LastSeen = now
	if sameDefinition(e.Definition, def) {
		return Refreshed
	}
	r.unindexLocked(e)
	e.Definition = def
	r.indexLocked(e)
	return Updated
}

func (r *ParticipantRegistry) indexLocked(e *Entry) {
	role := e.Definition.Role
	if r.byRole[role] == nil {
		r.byRole[role] = map[string]*Entry{}
	}
	r.byRole[role][e.Definition.ID] = e
}

func (r *ParticipantRegistry) unindexLocked(e *Entry) {
	role := e.Definition.Role
	delete(r.byRole[role], e.Definition.ID)
	if len(r.byRole[role]) == 0 {
		delete(r.byRole, role)
	}
}

func sameDefinition(a, b Definition) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// Remove forgets a participant; it reports whether it was known.
func (r *ParticipantRegistry) Remove(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if ok {
		r.unindexLocked(e)
		delete(r.entries, id)
	}
	return ok
}

// Expire removes and returns the participants not seen within their
// Expiry of now; fallback is the expiry of those that announce no heartbeat.
func (r *ParticipantRegistry) Expire(now time.Time, fallback time.Duration) []Definition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []Definition
	for id, e := range r.entries {
		if now.Sub(e.LastSeen) > Expiry(e.Definition, fallback) {
			gone = append(gone, e.Definition)
			r.unindexLocked(e)
			delete(r.entries, id)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].ID < gone[j].ID })
	return gone
}

// Get returns the entry of a participant.
func (r *ParticipantRegistry) Get(id string) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// ByRole returns the participants of a role, sorted by id.
func (r *ParticipantRegistry) ByRole(role string) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Entry
	for _, e := range r.byRole[role] {
		out = append(out, *e)
	}
	sortEntries(out)
	return out
}

// All returns every participant, sorted by id.
func (r *ParticipantRegistry) All() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, *e)
	}
	sortEntries(out)
	return out
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Definition.ID < es[j].Definition.ID })
}
