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

// RegistryChange says what an announcement changed.
type RegistryChange int

const (
	// Refreshed is a heartbeat: the participant was known with the same definition.
	Refreshed RegistryChange = iota
	// Added is a participant not known before.
	Added
	// Updated is a known participant whose definition changed.
	Updated
)

func (c RegistryChange) String() string {
	switch c {
	case Added:
		return "added"
	case Updated:
		return "updated"
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
// participants, by id. Safe for concurrent use; time is passed in so
// callers (and tests) decide the clock.
type ParticipantRegistry struct {
	mu      sync.Mutex // guards entries
	entries map[string]*Entry
}

// NewParticipantRegistry returns an empty registry.
func NewParticipantRegistry() *ParticipantRegistry {
	return &ParticipantRegistry{entries: map[string]*Entry{}}
}

// Upsert records an announcement seen at now.
func (r *ParticipantRegistry) Upsert(def Definition, now time.Time) RegistryChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[def.ID]
	if !ok {
		r.entries[def.ID] = &Entry{Definition: def, FirstSeen: now, LastSeen: now}
		return Added
	}
	e.LastSeen = now
	if sameDefinition(e.Definition, def) {
		return Refreshed
	}
	e.Definition = def
	return Updated
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
	_, ok := r.entries[id]
	delete(r.entries, id)
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
	for _, e := range r.entries {
		if e.Definition.Role == role {
			out = append(out, *e)
		}
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
