package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// The binary serves /healthz and /readyz to anyone, and /metrics only with
// the secret unless --metrics-public.
func TestHealthAndMetricsEndpoints(t *testing.T) {
	t.Parallel()
	status := func(url, auth string) int {
		t.Helper()
		code, _ := getWithAuth(t, url, auth)
		return code
	}
	for _, public := range []bool{false, true} {
		args := []string{"--port", "0"}
		if public {
			args = append(args, "--metrics-public")
		}
		p := start(t, nil, args...)
		ws, _ := p.ready(t)
		base := "http" + strings.TrimPrefix(ws, "ws")
		if got := status(base+"/healthz", ""); got != http.StatusOK {
			t.Errorf("/healthz: %d", got)
		}
		want := http.StatusUnauthorized
		if public {
			want = http.StatusOK
		}
		if got := status(base+"/metrics", ""); got != want {
			t.Errorf("--metrics-public=%v: /metrics without the secret: %d, want %d", public, got, want)
		}
		if got := status(base+"/metrics", "Bearer "+testSecret); got != http.StatusOK {
			t.Errorf("/metrics with the secret: %d", got)
		}
		code, raw := getWithAuth(t, base+"/metrics", "Bearer "+testSecret)
		body := string(raw)
		if code != http.StatusOK {
			t.Errorf("/metrics with the secret: %d", code)
		}
		for _, name := range []string{"msgflo_broker_connected 1", "msgflo_clients_connected", "process_resident_memory_bytes", "go_goroutines"} {
			if !strings.Contains(body, name) {
				t.Errorf("/metrics lacks %q", name)
			}
		}
		p.signalAndWait(t, syscall.SIGTERM)
	}
}
