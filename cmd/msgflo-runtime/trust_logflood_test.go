package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// #19 "Smaller ones": "Unknown protocol" logged up to 64 KiB of client
// text per message, unthrottled. The log now keeps at most a few hundred
// bytes of it per line, and lines beyond a burst are held back (and
// counted). Seen failing on main's binary (200 lines of 60 KiB).
func TestTrustClientTextCannotFloodTheLog(t *testing.T) {
	p := start(t, nil, "--port", "0")
	ws, _ := p.ready(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := fbpclient.Dial(ctx, ws, fbpclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	junk := strings.Repeat("p", 60<<10)
	const n = 200
	for range n {
		if err := c.SendRaw([]byte(`{"protocol":"` + junk + `","command":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}
	errors := 0
	for errors < n {
		m, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Is("runtime", "error") {
			errors++
		}
	}
	log := p.stderrText()
	refused := strings.Count(log, "request refused")
	if refused >= n {
		t.Errorf("%d of %d refusals logged: not limited", refused, n)
	}
	for _, line := range strings.Split(log, "\n") {
		if len(line) > 2048 {
			t.Fatalf("a log line of %d bytes: %.200s", len(line), line)
		}
	}
}
