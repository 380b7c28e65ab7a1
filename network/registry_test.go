package network

import (
	"testing"
	"time"
)

func TestRegistryTracksAnnouncements(t *testing.T) {
	r := NewParticipantRegistry()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	def := Definition{ID: "rep-1", Role: "rep", Component: "core/Repeat", Inports: []Port{{ID: "in", Queue: "rep.IN"}}, Outports: []Port{}}
	if got := r.Upsert(def, t0); got != Added {
		t.Fatalf("first announcement: %v", got)
	}
	if got := r.Upsert(def, t0.Add(time.Second)); got != Refreshed {
		t.Fatalf("heartbeat: %v", got)
	}
	changed := def
	changed.Outports = []Port{{ID: "out", Queue: "rep.OUT"}}
	if got := r.Upsert(changed, t0.Add(2*time.Second)); got != Updated {
		t.Fatalf("changed definition: %v", got)
	}
	e, ok := r.Get("rep-1")
	if !ok || !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0.Add(2*time.Second)) || len(e.Definition.Outports) != 1 {
		t.Fatalf("entry %+v", e)
	}
	other := Definition{ID: "rep-2", Role: "rep", Component: "core/Repeat"}
	r.Upsert(other, t0.Add(10*time.Second))
	if n := len(r.ByRole("rep")); n != 2 {
		t.Fatalf("ByRole: %d entries", n)
	}
	gone := r.Expire(t0.Add(8*time.Second), 5*time.Second)
	if len(gone) != 1 || gone[0].ID != "rep-1" {
		t.Fatalf("expired %v", gone)
	}
	if all := r.All(); len(all) != 1 || all[0].Definition.ID != "rep-2" {
		t.Fatalf("left %v", all)
	}
	if !r.Remove("rep-2") || r.Remove("rep-2") {
		t.Fatal("Remove should report whether it knew the participant")
	}
}

// A participant that announces its heartbeat is judged by it (gone after
// HeartbeatMisses of them); the others by the coordinator's expiry.
func TestRegistryExpiresEachParticipantByItsHeartbeat(t *testing.T) {
	r := NewParticipantRegistry()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fast := Definition{ID: "fast", Role: "fast", Component: "c", Heartbeat: 10}
	slow := Definition{ID: "slow", Role: "slow", Component: "c", Heartbeat: 600}
	plain := Definition{ID: "plain", Role: "plain", Component: "c"}
	huge := Definition{ID: "huge", Role: "huge", Component: "c", Heartbeat: 1e300}
	for _, d := range []Definition{fast, slow, plain, huge} {
		r.Upsert(d, t0)
	}
	fallback := 120 * time.Second
	ids := func(ds []Definition) (out []string) {
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	if gone := ids(r.Expire(t0.Add(30*time.Second), fallback)); len(gone) != 0 {
		t.Fatalf("at 30 s: %v gone", gone)
	}
	if gone := ids(r.Expire(t0.Add(31*time.Second), fallback)); len(gone) != 1 || gone[0] != "fast" {
		t.Fatalf("at 31 s (3 heartbeats of 10 s): %v gone, want fast", gone)
	}
	if gone := ids(r.Expire(t0.Add(121*time.Second), fallback)); len(gone) != 1 || gone[0] != "plain" {
		t.Fatalf("at 121 s (the fallback): %v gone, want plain", gone)
	}
	if gone := ids(r.Expire(t0.Add(1801*time.Second), fallback)); len(gone) != 1 || gone[0] != "slow" {
		t.Fatalf("at 1801 s (3 heartbeats of 600 s): %v gone, want slow", gone)
	}
	if gone := ids(r.Expire(t0.Add(8*24*time.Hour), fallback)); len(gone) != 1 || gone[0] != "huge" {
		t.Fatalf("after a week: %v gone, want huge", gone)
	}
}

func TestDiscoveryCarriesTheHeartbeat(t *testing.T) {
	msg, err := EncodeDiscovery(Definition{ID: "a", Role: "a", Component: "c", Inports: []Port{}, Outports: []Port{}, Heartbeat: 27.5})
	if err != nil {
		t.Fatal(err)
	}
	def, err := DecodeDiscovery(msg)
	if err != nil || def.Heartbeat != 27.5 {
		t.Fatalf("%s: %+v %v", msg, def, err)
	}
	if _, err := DecodeDiscovery([]byte(`{"protocol":"discovery","command":"participant","payload":{"id":"a","role":"a","component":"c","inports":[],"outports":[],"heartbeat":"often"}}`)); err == nil {
		t.Fatal("a heartbeat that is not a number was accepted")
	}
}

// The registry remembers at most Max participants: a new one past it is
// refused (Full) and not listed, known ones still refresh, the caller's
// own are kept, and room comes back when participants expire. The role
// index follows every change and keeps no empty role.
func TestRegistryCap(t *testing.T) {
	r := NewParticipantRegistryOf(2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	def := func(id, role string, hb float64) Definition {
		return Definition{ID: id, Role: role, Component: "c", Heartbeat: hb}
	}
	for _, step := range []struct {
		do   func() RegistryChange
		want RegistryChange
	}{
		{func() RegistryChange { return r.Upsert(def("a-1", "a", 1), t0) }, Added},
		{func() RegistryChange { return r.Upsert(def("b-1", "b", 100), t0) }, Added},
		{func() RegistryChange { return r.Upsert(def("c-1", "c", 100), t0) }, Full},
		{func() RegistryChange { return r.Upsert(def("a-1", "a", 1), t0) }, Refreshed},
		{func() RegistryChange { return r.Upsert(def("b-1", "b2", 100), t0) }, Updated},
		{func() RegistryChange { return r.Keep(def("own-1", "own", 0), t0) }, Added},
	} {
		if got := step.do(); got != step.want {
			t.Fatalf("got %v, want %v", got, step.want)
		}
	}
	if _, ok := r.Get("c-1"); ok || len(r.ByRole("c")) != 0 || r.Len() != 3 {
		t.Fatalf("a refused participant is remembered: len %d", r.Len())
	}
	if len(r.ByRole("b")) != 0 || len(r.ByRole("b2")) != 1 {
		t.Fatal("the role index did not follow b-1's new role")
	}
	if gone := r.Expire(t0.Add(10*time.Second), time.Hour); len(gone) != 1 || gone[0].ID != "a-1" {
		t.Fatalf("expired: %v", gone)
	}
	r.Remove("own-1")
	if got := r.Upsert(def("c-1", "c", 100), t0); got != Added {
		t.Fatalf("after expiry: %v, want added", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.byRole) != 2 || r.byRole["a"] != nil || r.byRole["own"] != nil || r.byRole["b"] != nil {
		t.Fatalf("role index keeps gone roles: %v", r.byRole)
	}
}
