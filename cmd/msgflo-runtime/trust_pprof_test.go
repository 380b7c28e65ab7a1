package main

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// --pprof serves Go's profiler on the loopback address given, and nothing
// of it on the FBP protocol's port. It answers only requests naming a
// loopback host, so that a web page reaching it through DNS rebinding (its
// own name resolved to 127.0.0.1, sent as Host) gets nothing (#19 item 6,
// "--pprof has no Host check"). Seen failing on main: 200 for Host
// evil.example.
func TestPprofFlag(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--pprof", "127.0.0.1:0")
	ws, _ := p.ready(t) // the profiler listens before the ready line
	re := regexp.MustCompile(`serving the Go profiler \(--pprof\) address=(127\.0\.0\.1:\d+)`)
	waitLog(t, p, re)
	addr := re.FindStringSubmatch(p.stderrText())[1]
	_, port, _ := net.SplitHostPort(addr)
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get("http://" + addr + "/debug/pprof/cmdline")
	noErr(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "--pprof") {
		t.Fatalf("profiler: %s %q", res.Status, body)
	}
	res, err = client.Get("http" + strings.TrimPrefix(ws, "ws") + "/debug/pprof/cmdline")
	noErr(t, err)
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Fatal("the FBP protocol's port serves the profiler")
	}
	for host, want := range map[string]int{
		addr:                     http.StatusOK,
		"localhost:" + port:      http.StatusOK,
		"LOCALHOST":              http.StatusOK,
		"[::1]:" + port:          http.StatusOK,
		"evil.example:" + port:   http.StatusForbidden,
		"evil.example":           http.StatusForbidden,
		"127.0.0.1.evil.example": http.StatusForbidden,
	} {
		req, err := http.NewRequest("GET", "http://"+addr+"/debug/pprof/cmdline", nil)
		noErr(t, err)
		req.Host = host
		res, err := client.Do(req)
		noErr(t, err)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("Host %q: %s, want %d", host, res.Status, want)
		}
	}
}
