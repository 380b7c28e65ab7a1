package protocol

import (
	"time"

	"github.com/gorilla/websocket"

	"github.com/msgflo/msgflo-runtime/internal/logtext"
)

// Connections that never present the secret cost the runtime a slot of
// --max-connections each; these rules keep them from crowding out the
// clients that do (#19: a thousand idle sockets filled every slot).

const (
	// DefaultPreAuthTimeout is how long a connection may stay without
	// presenting the secret when a client without it may do nothing but
	// getruntime.
	DefaultPreAuthTimeout = 30 * time.Second
	// clientLogBurst and clientLogEvery bound the log lines clients cause
	// (refused requests, wrong secrets, connections): a burst, then one
	// per interval, the ones held back counted on the next.
	clientLogBurst = 50
	clientLogEvery = 200 * time.Millisecond
)

// newClientLog is the limiter of the log lines clients cause.
func newClientLog() *logtext.Limiter { return logtext.NewLimiter(clientLogBurst, clientLogEvery) }

// preAuthDeadline closes c unless it presents the secret within the
// pre-authentication timeout; the returned function stops the timer. It
// does nothing without a secret, or when anonymous clients have
// capabilities of their own (they are the operator's users then).
func (s *Server) preAuthDeadline(c *client) (stop func()) {
	if s.opts.Secret == "" || len(s.anonymous.names) > 0 {
		return func() {}
	}
	t := time.AfterFunc(s.opts.PreAuthTimeout, func() {
		if !c.authenticated.Load() {
			s.clientLog.Event(c.log.Info()).Dur("timeout", s.opts.PreAuthTimeout).Msg("no secret presented in time: closing connection")
			c.closeWith(websocket.ClosePolicyViolation, "no secret presented in time")
		}
	})
	return func() { t.Stop() }
}

// makeRoom closes the oldest connection that has not presented the
// secret, for a new one when every slot is taken, and returns it; nil
// when every connection has presented it (the new one is refused then).
// Connections with the secret are never closed for room.
func (h *Hub) makeRoom() (evicted *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.clients {
		if c.authenticated.Load() || c.evicted.Load() {
			continue
		}
		if evicted == nil || c.id < evicted.id {
			evicted = c
		}
	}
	if evicted == nil || !evicted.evicted.CompareAndSwap(false, true) {
		return nil
	}
	evicted.closeWith(websocket.ClosePolicyViolation, "room needed for clients with the secret")
	return evicted
}
