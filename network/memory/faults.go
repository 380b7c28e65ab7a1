package memory

import (
	"context"
)

// faults are the misbehaviours a test asked for; guarded by Server.mu.
type faults struct {
	refuse  int // publishes left to refuse
	holding bool
	held    []*pending
	heldNow chan struct{} // closed and replaced whenever held grows
}

// RefuseNext makes the broker refuse the next n publishes and sends (of
// any connection) with ErrRefused, as RabbitMQ's basic.nack does: they
// reach no queue.
func (s *Server) RefuseNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.refuse += n
}

// HoldConfirms holds every publish and send from now on: none reaches a
// queue and none is confirmed (Publish blocks, Pending.Wait waits) until
// ReleaseConfirms.
func (s *Server) HoldConfirms() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.holding = true
}

// ReleaseConfirms ends HoldConfirms. With a nil err the held messages are
// routed, in order, and confirmed; otherwise they are dropped and their
// publishers get err (a confirm lost with the connection, a refusal).
func (s *Server) ReleaseConfirms(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.faults.held
	s.faults.holding, s.faults.held = false, nil
	for _, p := range held {
		if err == nil {
			s.routeLocked(p)
		}
		p.finish(err)
	}
}

// WaitHeld waits until at least n publishes are held (HoldConfirms), so
// that a test knows they are in flight.
func (s *Server) WaitHeld(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		if len(s.faults.held) >= n {
			s.mu.Unlock()
			return nil
		}
		if s.faults.heldNow == nil {
			s.faults.heldNow = make(chan struct{})
		}
		ch := s.faults.heldNow
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) holdLocked(p *pending) {
	s.faults.held = append(s.faults.held, p)
	if s.faults.heldNow != nil {
		close(s.faults.heldNow)
		s.faults.heldNow = nil
	}
}

// OnConnection implements network.ConnectionWatcher: f is told when Drop
// loses the connection (false) and Heal brings it back (true).
func (c *Conn) OnConnection(f func(connected bool)) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.watchers = append(c.watchers, f)
}

// Drop loses the connection, as a broker restart or a network failure
// would: its consumers' unacknowledged messages go back to their queues
// (acknowledging them later fails), what is published while it is down
// never reaches its taps and discovery subscriptions, and every operation
// on it waits until Heal (or its context ends). Declarations, bindings,
// consumers and taps stay, as network.Broker promises across reconnects.
// The watchers are told (false) before Drop returns.
func (c *Conn) Drop() {
	c.s.mu.Lock()
	if c.closed || c.downLocked() {
		c.s.mu.Unlock()
		return
	}
	c.up = make(chan struct{})
	for sub := range c.subs {
		sub.dropLocked()
	}
	watchers := append([]func(bool){}, c.watchers...)
	c.s.mu.Unlock()
	for _, f := range watchers {
		f(false)
	}
}

// Heal ends Drop: the watchers are told (true) before Heal returns, and
// the connection's consumers take messages again.
func (c *Conn) Heal() {
	c.s.mu.Lock()
	if c.closed || !c.downLocked() {
		c.s.mu.Unlock()
		return
	}
	close(c.up)
	for sub := range c.subs {
		sub.healLocked()
	}
	watchers := append([]func(bool){}, c.watchers...)
	c.s.mu.Unlock()
	for _, f := range watchers {
		f(true)
	}
}
