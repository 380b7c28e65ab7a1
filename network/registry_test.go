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
