package runtime

import (
	"context"
	"sync"

	"github.com/msgflo/msgflo-runtime/participant"
)

// gate pauses an in-process participant without taking it off the broker:
// while it is closed, the participant's process function waits before
// handling the next message, so the participant takes no more than its
// prefetch from its queues and the rest waits there (AMQP), or in the
// runtime's memory (MQTT, which has no queue to leave them in). Nothing is
// acknowledged while it waits. It is what network:stop does to a graph's
// in-process participants; network:start opens it again.
type gate struct {
	mu sync.Mutex // guards closed
	// closed is non-nil while the gate is closed; it is closed (and set to
	// nil) when the gate opens.
	closed chan struct{}
}

func newGate(open bool) *gate {
	g := &gate{}
	if !open {
		g.closed = make(chan struct{})
	}
	return g
}

// set opens or closes the gate; it reports whether that changed anything.
func (g *gate) set(open bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if open == (g.closed == nil) {
		return false
	}
	if open {
		close(g.closed)
		g.closed = nil
	} else {
		g.closed = make(chan struct{})
	}
	return true
}

// wait returns once the gate is open (or ctx is done).
func (g *gate) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		ch := g.closed
		g.mu.Unlock()
		if ch == nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// gated returns a copy of c whose process function waits for g.
func gated(c participant.Component, g *gate) participant.Component {
	wrap := func(f participant.ProcessFunc) participant.ProcessFunc {
		return func(ctx context.Context, in participant.Input, out participant.Output) error {
			if err := g.wait(ctx); err != nil {
				return err
			}
			return f(ctx, in, out)
		}
	}
	return wrapProcess(c, wrap)
}

// wrapProcess returns a copy of c whose process function (each instance's,
// when c has Init) is wrapped by wrap; a missing one stays missing.
func wrapProcess(c participant.Component, wrap func(participant.ProcessFunc) participant.ProcessFunc) participant.Component {
	wrapSome := func(f participant.ProcessFunc) participant.ProcessFunc {
		if f == nil {
			return nil
		}
		return wrap(f)
	}
	if c.Init != nil {
		init := c.Init
		c.Init = func() participant.ProcessFunc { return wrapSome(init()) }
	} else {
		c.Process = wrapSome(c.Process)
	}
	return c
}

// isOpen says whether the gate lets messages through.
func (g *gate) isOpen() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed == nil
}
