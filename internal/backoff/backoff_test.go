package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The delays double from the first up to the limit, each drawn from the
// upper half of its step; Reset starts again.
func TestDelaysDoubleWithinTheirStep(t *testing.T) {
	b := New(100*time.Millisecond, time.Second)
	steps := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for round := range 2 {
		for i, s := range steps {
			step := s * time.Millisecond
			d := b.Next()
			if d < step/2 || d > step {
				t.Fatalf("round %d, delay %d: %v, want within [%v, %v]", round, i, d, step/2, step)
			}
		}
		b.Reset()
	}
}

// Two loops started together do not wait the same delays: the jitter
// spreads the clients of a node that died.
func TestDelaysAreJittered(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[New(time.Second, time.Second).Next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("50 first delays of 1 s took %d distinct values", len(seen))
	}
}

// A limit below the first delay, and a first delay of nothing, still make
// delays that are neither zero nor growing past the limit.
func TestBounds(t *testing.T) {
	b := New(0, 0)
	for range 5 {
		if d := b.Next(); d <= 0 || d > time.Millisecond {
			t.Fatalf("New(0, 0) delay %v", d)
		}
	}
	b = New(time.Second, time.Millisecond)
	for range 5 {
		if d := b.Next(); d < time.Second/2 || d > time.Second {
			t.Fatalf("New(1s, 1ms) delay %v", d)
		}
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(time.Hour, time.Hour).Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context: %v", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
}
