package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// #19 "Any web page can lock the user out": twelve GET /metrics?secret=wrongN
// (what an <img> tag on any site makes the browser do) made the right
// secret 429 over HTTP and "Too many wrong secrets" over the WebSocket for
// every local client. Now a secret in the URL is no secret and no guess,
// a foreign page is refused before its secret is looked at, and the right
// secret is accepted even after wrong ones spent the address's guesses.
// Seen failing on the binary of main before the change (429 after the
// twelve).
func TestTrustPagesCannotLockTheUserOut(t *testing.T) {
	p := start(t, nil, "--port", "0")
	ws, _ := p.ready(t)
	base := "http" + strings.TrimPrefix(ws, "ws")
	for i := range 12 {
		if code, _ := getWithAuth(t, fmt.Sprintf("%s/metrics?secret=wrong%d", base, i), ""); code != http.StatusUnauthorized {
			t.Fatalf("/metrics?secret=wrong%d: %d, want 401", i, code)
		}
	}
	foreign := func(path string) int {
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Authorization", "Bearer wrong")
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for range 12 {
		if code := foreign("/status.json"); code != http.StatusForbidden {
			t.Fatalf("/status.json from a foreign page: %d, want 403", code)
		}
	}
	rightSecretAccepted(t, base, ws)

	// Wrong secrets from a program (no page) do spend the address's
	// guesses, and are slowed beyond them; the right one still passes.
	for i := range 12 {
		code, _ := getWithAuth(t, base+"/metrics", fmt.Sprintf("Bearer wrong%d", i))
		if code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Fatalf("wrong secret %d: %d", i, code)
		}
	}
	if code, _ := getWithAuth(t, base+"/metrics", "Bearer wrong"); code != http.StatusTooManyRequests {
		t.Fatalf("a wrong secret after twelve: %d, want 429", code)
	}
	rightSecretAccepted(t, base, ws)
}

// rightSecretAccepted checks that testSecret is accepted over HTTP and
// over the WebSocket.
func rightSecretAccepted(t *testing.T, base, ws string) {
	t.Helper()
	if code, _ := getWithAuth(t, base+"/metrics", "Bearer "+testSecret); code != http.StatusOK {
		t.Fatalf("/metrics with the secret: %d, want 200", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := fbpclient.Dial(ctx, ws, fbpclient.Options{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rt, err := c.GetRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rt.Has("protocol:graph") {
		t.Fatalf("capabilities with the secret: %v", rt.Capabilities)
	}
}
