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
	// guessBucketsMax bounds the remembered addresses; full buckets are
	// forgotten first, else the least recently heard one.
	guessBucketsMax = 10000
)

// errTooManyGuesses is the error a client gets when its address has spent
// its wrong secrets; the secret it presented was not even compared.
const errTooManyGuesses = "Too many wrong secrets from this address: try again later"

// secretChecker compares presented secrets with the runtime's in constant
// time, and limits how many wrong ones each remote address may try.
type secretChecker struct {
	sum    [sha256.Size]byte // of the secret: comparing sums hides its length too
	burst  float64
	refill time.Duration
	now    func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[string]*guessBucket
}

type guessBucket struct {
	tokens float64
	at     time.Time
}

func newSecretChecker(secret string, burst int, refill time.Duration) *secretChecker {
	if burst <= 0 {
		burst = DefaultGuessBurst
	}
	if refill <= 0 {
		refill = DefaultGuessRefill
	}
	return &secretChecker{
		sum:     sha256.Sum256([]byte(secret)),
		burst:   float64(burst),
		refill:  refill,
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
	secretWrong      verdict = iota
	secretRight              // the runtime's secret
	secretNotChecked         // addr has spent its wrong guesses; presented was not compared
)

// check compares presented with the secret unless addr has spent its
// wrong guesses, and spends one of them when presented is wrong (an
// empty one costs nothing). One lock for the look and the spending, so
// concurrent guesses cannot overdraw addr's bucket.
func (sc *secretChecker) check(addr, presented string) verdict {
	right := sc.matches(presented)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	b := sc.bucket(addr)
	switch {
	case b.tokens < 1:
		return secretNotChecked
	case right:
		return secretRight
	case presented != "":
		b.tokens--
	}
	return secretWrong
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
	switch s.secrets.check(c.remoteHost, presented) {
	case secretNotChecked:
		c.log.Warn().Msg("secret not checked: too many wrong secrets from this address")
		s.fail(c, "runtime", errTooManyGuesses)
	case secretRight:
		if !c.authenticated {
			c.authenticated = true
			if c.conn != nil {
				c.conn.SetReadLimit(s.opts.ReadLimit)
			}
		}
		return s.all
	default:
		c.log.Warn().Msg("wrong secret")
	}
	s.countWrongSecret(c)
	return s.anonymous
}

func (s *Server) countWrongSecret(c *client) {
	c.wrongSecrets++
	if c.wrongSecrets >= s.opts.MaxWrongSecrets {
		c.log.Warn().Int("wrong_secrets", c.wrongSecrets).Msg("too many wrong secrets: closing connection")
		c.closeWith(websocket.ClosePolicyViolation, "too many wrong secrets")
	}
}
