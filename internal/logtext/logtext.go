// Package logtext keeps text that comes from outside (clients of the
// protocol, participants on the broker) from flooding the log: each value
// is cut to a bound, and lines are rate-limited, the ones held back
// counted on the next line let through.
package logtext

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// MaxLen is how much outside text one log field keeps, in bytes.
const MaxLen = 256

// Cut returns s cut to at most max bytes (at a character boundary), saying
// how much was left out: "abc… (1234 bytes more)".
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)-cut) + " bytes more)"
}

// Short is Cut(s, MaxLen).
func Short(s string) string { return Cut(s, MaxLen) }

// Limiter lets a burst of lines through, then one per interval. It is
// safe for concurrent use.
type Limiter struct {
	burst float64
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex // guards the rest
	tokens     float64
	at         time.Time
	suppressed int
}

// NewLimiter lets burst lines through at once, then one per every.
func NewLimiter(burst int, every time.Duration) *Limiter {
	return &Limiter{burst: float64(burst), every: every, now: time.Now, tokens: float64(burst), at: time.Now()}
}

// Allow reports whether a line may be logged now, and how many lines were
// held back since the last one allowed.
func (l *Limiter) Allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.every > 0 {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.at))/float64(l.every))
	}
	l.at = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// Event returns e when a line may be logged now, with the field
// "suppressed" when lines were held back before it; else it discards e
// and returns nil (zerolog's methods do nothing on a nil event):
//
//	lim.Event(log.Info()).Str("error", logtext.Short(text)).Msg("request refused")
func (l *Limiter) Event(e *zerolog.Event) *zerolog.Event {
	ok, suppressed := l.Allow()
	if !ok {
		return e.Discard()
	}
	if suppressed > 0 {
		e = e.Int("suppressed", suppressed)
	}
	return e
}
