package runtime

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/msgflo/msgflo-runtime/network"
)

// splitting is a broker that opens connections of its own (Split) and
// counts the ones closed; splits fails while it is set.
type splitting struct {
	network.Broker
	closed atomic.Int32
	fail   bool
}

func (s *splitting) Split(context.Context) (network.Broker, error) {
	if s.fail {
		return nil, errors.New("connection refused")
	}
	return &split{parent: s}, nil
}

type split struct {
	network.Broker
	parent *splitting
}

func (s *split) Close() error {
	s.parent.closed.Add(1)
	return nil
}

// In-process participants get a broker connection of their own, up to
// maxOwnConnections; the others, and all of them when no connection can be
// opened, share the runtime's. A connection of their own is closed once,
// when its participant is done, and its place goes to the next one.
func TestInProcessParticipantsOwnConnections(t *testing.T) {
	ctx := context.Background()
	shared := &splitting{}
	l := newLocals()
	var releases []func()
	for i := range maxOwnConnections {
		b, release := l.brokerFor(ctx, shared)
		if b == network.Broker(shared) {
			t.Fatalf("participant %d shares the runtime's connection", i)
		}
		releases = append(releases, release)
	}
	b, release := l.brokerFor(ctx, shared)
	if b != network.Broker(shared) {
		t.Fatalf("participant %d has a connection of its own, beyond %d", maxOwnConnections, maxOwnConnections)
	}
	release()
	if n := shared.closed.Load(); n != 0 {
		t.Fatalf("%d connections closed, want none", n)
	}
	releases[0]()
	releases[0]()
	if n := shared.closed.Load(); n != 1 {
		t.Fatalf("%d connections closed, want 1", n)
	}
	if b, _ := l.brokerFor(ctx, shared); b == network.Broker(shared) {
		t.Fatal("a closed connection's place is not given again")
	}
	releases[1]()
	shared.fail = true
	if b, _ := l.brokerFor(ctx, shared); b != network.Broker(shared) {
		t.Fatal("a connection that could not be opened is used")
	}
	shared.fail = false
	if b, _ := l.brokerFor(ctx, shared); b == network.Broker(shared) {
		t.Fatal("a connection that could not be opened keeps its place")
	}
}
