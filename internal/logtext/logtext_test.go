package logtext

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijkl", 4, "abcd… (8 bytes more)"},
		{"ééééé", 3, "é… (8 bytes more)"}, // never half a character
		{strings.Repeat("x", 64<<10), MaxLen, strings.Repeat("x", MaxLen) + "… (65280 bytes more)"},
	} {
		got := Cut(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("Cut(%.20q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
			t.Errorf("Cut(%.20q, %d) split a character: %q", tc.in, tc.max, got)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(3, time.Second)
	now := time.Unix(0, 0)
	l.now, l.at = func() time.Time { return now }, now
	for i := range 3 {
		if ok, n := l.Allow(); !ok || n != 0 {
			t.Fatalf("line %d of the burst: %v %d", i, ok, n)
		}
	}
	for i := range 5 {
		if ok, _ := l.Allow(); ok {
			t.Fatalf("line %d beyond the burst let through", i)
		}
	}
	now = now.Add(time.Second)
	if ok, n := l.Allow(); !ok || n != 5 {
		t.Fatalf("after a second: %v, %d held back; want true, 5", ok, n)
	}
	if ok, _ := l.Allow(); ok {
		t.Fatal("a second line in the same second let through")
	}
	now = now.Add(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow(); !ok {
			t.Fatalf("line %d of a new burst held back", i)
		}
	}
}

func TestLimiterEvent(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	l := NewLimiter(1, time.Hour)
	for range 3 {
		l.Event(log.Info()).Str("text", "x").Msg("refused")
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d lines logged, want 1:\n%s", n, buf.String())
	}
	l.tokens = 1
	buf.Reset()
	l.Event(log.Info()).Msg("refused")
	if !strings.Contains(buf.String(), `"suppressed":2`) {
		t.Fatalf("the line after two held back: %s", buf.String())
	}
}
