package protocol

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// DefaultAnonymousReadLimit is the largest message a client may send
	// before it has presented the secret: enough for getruntime and any
	// first message of Flowhub or fbp-spec, too small to cost anything.
	DefaultAnonymousReadLimit = 64 << 10
	// DefaultMaxWrongSecrets is how many wrong secrets one connection may
	// present before it is closed (status 1008).
	DefaultMaxWrongSecrets = 5
	// DefaultGuessBurst is how many wrong secrets one remote address may
	// present in a burst, over all its connections.
	DefaultGuessBurst = 10
	// DefaultGuessRefill is how long one more wrong secret takes to be
	// allowed again after the burst is spent.
	DefaultGuessRefill = time.Second
	// DefaultGuessDelay is how long the answer to a wrong secret waits
	// once its address has spent its burst.
	DefaultGuessDelay = time.Second
	// guessBucketsMax bounds the remembered addresses; full buckets are
	// forgotten first, else the least recently heard one.
	guessBucketsMax = 10000
)

// errTooManyGuesses is the error a client gets, after GuessDelay, for a
// wrong secret once its address has spent its wrong secrets.
const errTooManyGuesses = "Too many wrong secrets from this address: try again later"

// secretChecker compares presented secrets with the runtime's in constant
// time, and slows the wrong ones of each remote address once it has tried
// a burst of them. It never refuses the right secret: anyone who can
// reach the runtime from the user's address (a page in the user's browser
// included) could otherwise lock the user out.
type secretChecker struct {
	sum    [sha256.Size]byte // of the secret: comparing sums hides its length too
	burst  float64
	refill time.Duration
	delay  time.Duration
	now    func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[string]*guessBucket
}

type guessBucket struct {
	tokens float64
	at     time.Time
}

func newSecretChecker(secret string, burst int, refill, delay time.Duration) *secretChecker {
	if burst <= 0 {
		burst = DefaultGuessBurst
	}
	if refill <= 0 {
		refill = DefaultGuessRefill
	}
	if delay <= 0 {
		delay = DefaultGuessDelay
	}
	return &secretChecker{
		sum:     sha256.Sum256([]byte(secret)),
		burst:   float64(burst),
		refill:  refill,
		delay:   delay,
		now:     time.Now,
		buckets: map[string]*guessBucket{},
	}
}

// matches reports whether presented is the secret, in time independent of
// where they differ.
func (sc *secretChecker) matches(presented string) bool {
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], sc.sum[:]) == 1
}

// verdict is what one presented secret earns.
type verdict int

const (
	secretWrong  verdict = iota
	secretRight          // the runtime's secret
	secretSlowed         // wrong, and addr has spent its wrong guesses: answer after wait
)

// check compares presented with the secret. The right one is always
// accepted, whatever addr did before; a wrong one spends one of addr's
// guesses (an empty one costs nothing), and is slowed once they are
// spent. One lock for the look and the spending, so concurrent guesses
// cannot overdraw addr's bucket.
func (sc *secretChecker) check(addr, presented string) verdict {
	if sc.matches(presented) {
		return secretRight
	}
	if presented == "" {
		return secretWrong
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	b := sc.bucket(addr)
	if b.tokens < 1 {
		return secretSlowed
	}
	b.tokens--
	return secretWrong
}

// wait holds the answer to a slowed guess for the delay; it reports false
// when done closes first (the client went away).
func (sc *secretChecker) wait(done <-chan struct{}) bool {
	t := time.NewTimer(sc.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// bucket returns addr's bucket refilled up to now; sc.mu is held.
func (sc *secretChecker) bucket(addr string) *guessBucket {
	now := sc.now()
	b, ok := sc.buckets[addr]
	if !ok {
		if len(sc.buckets) >= guessBucketsMax {
			sc.forgetFull(now)
		}
		b = &guessBucket{tokens: sc.burst, at: now}
		sc.buckets[addr] = b
		return b
	}
	b.tokens = min(sc.burst, b.tokens+float64(now.Sub(b.at))/float64(sc.refill))
	b.at = now
	return b
}

// forgetFull drops the buckets that have refilled: they hold nothing a
// fresh one would not. When none has, it drops the one heard from least
// recently, so that the map stays bounded however many addresses guess.
func (sc *secretChecker) forgetFull(now time.Time) {
	oldest, dropped := "", false
	for addr, b := range sc.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(sc.refill) >= sc.burst {
			delete(sc.buckets, addr)
			dropped = true
		} else if oldest == "" || b.at.Before(sc.buckets[oldest].at) {
			oldest = addr
		}
	}
	if !dropped {
		delete(sc.buckets, oldest)
	}
}

// remoteHost is the address guesses are counted against: the peer's IP,
// without the port (every new connection has a new one).
func remoteHost(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// capabilitiesFor decides what one message may do from the secret it
// carries, counting wrong secrets against the connection and its address.
// A connection that presents the right secret gets the larger read limit;
// one that presents too many wrong ones is closed.
func (s *Server) capabilitiesFor(c *client, presented string) *capabilitySet {
	if s.opts.Secret == "" {
		return s.all
	}
	if presented == "" {
		return s.anonymous
	}
	if c.authenticated.Load() && presented == c.secret {
		return s.all // the secret this connection presented before
	}
	switch s.secrets.check(c.remoteHost, presented) {
	case secretRight:
		c.secret = presented
		if !c.authenticated.Swap(true) {
			if c.conn != nil {
				c.conn.SetReadLimit(s.opts.ReadLimit)
			}
		}
		return s.all
	case secretSlowed:
		s.clientLog.Event(c.log.Warn()).Msg("wrong secret; too many from this address")
		if s.secrets.wait(c.done) {
			s.fail(c, "runtime", errTooManyGuesses)
		}
	default:
		s.clientLog.Event(c.log.Warn()).Msg("wrong secret")
	}
	s.countWrongSecret(c)
	return s.anonymous
}

func (s *Server) countWrongSecret(c *client) {
	c.wrongSecrets++
	if c.wrongSecrets >= s.opts.MaxWrongSecrets {
		s.clientLog.Event(c.log.Warn()).Int("wrong_secrets", c.wrongSecrets).Msg("too many wrong secrets: closing connection")
		c.closeWith(websocket.ClosePolicyViolation, "too many wrong secrets")
	}
}
