// Package backoff is the one retry delay of msgflo-runtime: every
// reconnect and every retry (AMQP and MQTT connections, consumers, a
// publish the broker refused, the runtime's reconcile loop) waits the
// delays of a Backoff. The delay doubles from a first delay up to a limit
// and is jittered: each is drawn at random from the upper half of the
// current step, so that the clients of a cluster node that died do not all
// come back to the next node in step.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff hands out the delays of one retry loop. It is not safe for
// concurrent use: each loop has its own.
type Backoff struct {
	min, max time.Duration
	step     time.Duration // the current step; 0 before the first Next
}

// New makes a Backoff whose delays double from first up to limit (limit
// is raised to first when smaller; first is at least a millisecond).
func New(first, limit time.Duration) *Backoff {
	first = max(first, time.Millisecond)
	return &Backoff{min: first, max: max(limit, first)}
}

// Next is the delay before the next attempt: a random duration in
// [step/2, step], where step is the first delay on the first call and
// doubles on each call up to the limit.
func (b *Backoff) Next() time.Duration {
	if b.step == 0 {
		b.step = b.min
	} else {
		b.step = min(b.step*2, b.max)
	}
	half := b.step / 2
	return half + rand.N(b.step-half+1)
}

// Reset starts again from the first delay: call it once an attempt succeeded.
func (b *Backoff) Reset() { b.step = 0 }

// Wait sleeps for Next, or until ctx ends (then it returns ctx's error).
func (b *Backoff) Wait(ctx context.Context) error {
	return Sleep(ctx, b.Next())
}

// Sleep sleeps for d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
