package directory

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func def(id, role string, ports ...string) network.Definition {
	d := network.Definition{ID: id, Role: role, Component: "x/Y", Inports: []network.Port{}, Outports: []network.Port{}}
	for _, p := range ports {
		d.Inports = append(d.Inports, network.Port{ID: p, Queue: network.QueueName(role, p)})
	}
	return d
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Announcements are recorded by id and found by role: the participant
// heard from last serves the role; a heartbeat refreshes, a changed
// definition updates.
func TestUpsertAndResolve(t *testing.T) {
	d := New(Options{})
	for _, c := range []struct {
		def  network.Definition
		at   time.Duration
		want network.RegistryChange
	}{
		{def("a1", "a", "in"), 0, network.Added},
		{def("a1", "a", "in"), time.Second, network.Refreshed},
		{def("a2", "a", "in", "opt"), 2 * time.Second, network.Added},
		{def("a1", "a", "in", "more"), 3 * time.Second, network.Updated},
	} {
		change, _, err := d.Upsert(c.def, t0.Add(c.at))
		must(t, err)
		if change != c.want {
			t.Errorf("%s at %s: %v, want %v", c.def.ID, c.at, change, c.want)
		}
	}
	got, live, ok := d.Resolve("a")
	if !ok || !live || got.ID != "a1" || len(got.Inports) != 2 {
		t.Fatalf("resolve a: %+v %v %v, want a1 (heard from last) with its new ports", got, live, ok)
	}
	if n := len(d.ByRole("a")); n != 2 || !d.Live("a") || d.Live("b") {
		t.Fatalf("by role: %d", n)
	}
	if _, _, ok := d.Resolve("b"); ok {
		t.Fatal("resolved a role nobody announced")
	}
	// A participant that changes its role leaves the old one.
	_, _, err := d.Upsert(def("a2", "b"), t0.Add(4*time.Second))
	must(t, err)
	if n := len(d.ByRole("a")); n != 1 || !d.Live("b") {
		t.Fatalf("after a2 moved to b: %d of a, b live %v", n, d.Live("b"))
	}
}

// Expiry removes what announcements put there: the participant, the graph
// it hosts, and the last definition of its role unless a graph needs the
// role (then Resolve gives it, not live, until Prune drops it).
func TestExpiryForgetsWhatNoGraphNeeds(t *testing.T) {
	d := New(Options{})
	for _, x := range []network.Definition{def("n1", "needed", "in"), def("u1", "unneeded", "in")} {
		_, _, err := d.Upsert(x, t0)
		must(t, err)
	}
	d.SetHosted("u1", "some/Graph")
	needed := func(role string) bool { return role == "needed" }
	if gone := d.Expire(t0.Add(time.Second), time.Minute, needed); len(gone) != 0 {
		t.Fatalf("expired early: %v", gone)
	}
	gone := d.Expire(t0.Add(2*time.Minute), time.Minute, needed)
	if len(gone) != 2 || gone[0].ID != "n1" || gone[1].ID != "u1" {
		t.Fatalf("expired %v", gone)
	}
	if got, live, ok := d.Resolve("needed"); !ok || live || got.ID != "n1" {
		t.Fatalf("needed role after expiry: %+v %v %v", got, live, ok)
	}
	if _, _, ok := d.Resolve("unneeded"); ok {
		t.Fatal("the last definition of a role no graph needs was kept")
	}
	if g := d.Hosted(def("u1", "unneeded")); g != "x/Y" {
		t.Fatalf("hosted graph of an expired participant: %q", g)
	}
	if len(d.Expired()) != 1 {
		t.Fatalf("expired kept: %v", d.Expired())
	}
	d.Prune(func(string) bool { return false })
	if _, _, ok := d.Resolve("needed"); ok || len(d.Expired()) != 0 {
		t.Fatal("Prune kept a role no graph needs")
	}
	if n, ports := d.Size(); n != 0 || ports != 0 {
		t.Fatalf("size after everything went: %d participants, %d ports", n, ports)
	}
	// A new announcement of a kept role replaces its last definition.
	_, _, err := d.Upsert(def("n2", "needed", "in"), t0)
	must(t, err)
	d.Expire(t0.Add(2*time.Minute), time.Minute, needed)
	_, _, err = d.Upsert(def("n3", "needed", "in"), t0.Add(2*time.Minute))
	must(t, err)
	if len(d.Expired()) != 0 {
		t.Fatal("a role announced again is still listed as expired")
	}
}

// The directory remembers at most MaxParticipants participants and
// MaxPorts ports: beyond, a new participant is refused (the first refusal
// says so, for one log line), known ones are still refreshed, and there is
// room again once some are gone.
func TestBounds(t *testing.T) {
	d := New(Options{MaxParticipants: 3, MaxPorts: 5})
	for i := range 3 {
		_, first, err := d.Upsert(def(fmt.Sprint("p", i), fmt.Sprint("r", i), "in"), t0)
		must(t, err)
		if first {
			t.Fatal("first refusal without a refusal")
		}
	}
	_, first, err := d.Upsert(def("p3", "r3"), t0)
	if !errors.Is(err, ErrFull) || !first {
		t.Fatalf("a fourth participant: %v (first %v)", err, first)
	}
	if _, first, _ = d.Upsert(def("p4", "r4"), t0); first {
		t.Fatal("every refusal would be logged")
	}
	if change, _, err := d.Upsert(def("p0", "r0", "in"), t0.Add(time.Second)); err != nil || change != network.Refreshed {
		t.Fatalf("a known participant refused: %v %v", change, err)
	}
	if _, _, err := d.Upsert(def("p0", "r0", "in", "a", "b", "c"), t0); !errors.Is(err, ErrFull) {
		t.Fatalf("an update beyond the ports: %v", err)
	}
	d.Remove("p1")
	if _, first, err := d.Upsert(def("p3", "r3", "in"), t0); err != nil || first {
		t.Fatalf("room again: %v %v", err, first)
	}
	if n, ports := d.Size(); n != 3 || ports != 3 {
		t.Fatalf("size %d %d", n, ports)
	}
}

// Retired ids (in-process participants the runtime stopped) are ignored
// until they would have expired; a removed participant leaves no last
// definition.
func TestRetiredAndRemoved(t *testing.T) {
	d := New(Options{})
	_, _, err := d.Upsert(def("l1", "local", "in"), t0)
	must(t, err)
	if !d.Remove("l1") || d.Remove("l1") {
		t.Fatal("Remove reports whether it knew the participant")
	}
	if _, _, ok := d.Resolve("local"); ok {
		t.Fatal("a removed participant still serves its role")
	}
	d.Retire("l1", t0)
	d.ForgetRetired(t0.Add(time.Second), time.Minute)
	if !d.Retired("l1") {
		t.Fatal("forgotten too early")
	}
	d.ForgetRetired(t0.Add(2*time.Minute), time.Minute)
	if d.Retired("l1") {
		t.Fatal("never forgotten")
	}
}
