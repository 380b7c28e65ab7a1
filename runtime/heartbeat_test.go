package runtime

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// fakeClock is the runtime's clock in tests that step through time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncDiscovery announces a participant of a component never seen before
// and waits until the runtime reports it: every announcement made before
// has then been handled. It returns the roles of the processerror events
// that came meanwhile.
func (f *fixture) syncDiscovery(n int) []string {
	f.t.Helper()
	name := fmt.Sprintf("test/Marker%d", n)
	msg, err := network.EncodeDiscovery(network.Definition{ID: fmt.Sprintf("marker-%d", n), Role: fmt.Sprintf("marker%d", n), Component: name, Inports: []network.Port{}, Outports: []network.Port{}})
	must(f.t, err)
	must(f.t, f.broker.Announce(context.Background(), msg))
	var expired []string
	deadline := time.After(waitLimit)
	for {
		select {
		case ev := <-f.events.ch:
			if ev.Protocol() == "network" && ev.Command() == "processerror" {
				expired = append(expired, ev.Message.(wire.ProcessError).ID)
			}
			if ev.Protocol() == "component" && ev.Command() == "component" && ev.Message.(wire.Component).Name == name {
				return expired
			}
		case <-deadline:
			f.t.Fatalf("the runtime never reported %s", name)
		}
	}
}

// A participant announcing itself every period/2.2 (as the SDK and
// msgflo-nodejs do) is never expired, however long it lives; one that goes
// silent is expired once a whole period has passed without a word. The
// runtime's clock is stepped by hand, so this spans three expiry periods in
// no time, and every expiry check happens at a known instant.
func TestHeartbeatsKeepAParticipantAlive(t *testing.T) {
	const expiry = time.Minute
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := newFixture(t, func(o *Options) {
		o.HeartbeatExpiry = expiry
		o.Now = clock.now
	})
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "alive", Component: "ext/Alive", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "silent", Component: "ext/Silent", Graph: "g"}))
	announce := func(role string) {
		msg, err := network.EncodeDiscovery(network.Definition{ID: role + "-1", Role: role, Component: "ext/" + role,
			Inports: []network.Port{{ID: "in", Queue: role + ".IN"}}, Outports: []network.Port{}})
		must(t, err)
		must(t, f.broker.Announce(context.Background(), msg))
	}
	announce("alive")
	announce("silent")
	f.syncDiscovery(0)

	every := expiry * 10 / 22 // period/2.2
	var elapsed time.Duration
	silentGone := false
	for step := 1; elapsed <= 3*expiry; step++ {
		clock.advance(every)
		elapsed += every
		announce("alive")
		expired := f.syncDiscovery(step)
		// The periodic check runs on the runtime's own ticker too; this
		// one runs now, with the clock where the test put it.
		f.rt.expireParticipants()
		expired = append(expired, f.syncDiscovery(1000+step)...)
		for _, role := range expired {
			switch {
			case role == "alive":
				t.Fatalf("alive expired after %s although it announced itself every %s", elapsed, every)
			case role == "silent" && elapsed <= expiry:
				t.Fatalf("silent expired after %s, within the expiry of %s", elapsed, expiry)
			case role == "silent":
				silentGone = true
			}
		}
		if elapsed > expiry && !silentGone {
			t.Fatalf("silent not expired %s after its only announcement (expiry %s)", elapsed, expiry)
		}
	}
	if _, ok := f.rt.dir.Get("alive-1"); !ok {
		t.Fatal("alive is not in the registry any more")
	}
}
