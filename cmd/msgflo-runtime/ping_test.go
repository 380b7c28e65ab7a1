package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

type pingRequest struct {
	method, path, contentType string
	body                      []byte
}

// pingRegistry is a runtime registry that fails its first answer.
func pingRegistry(t *testing.T) (*httptest.Server, <-chan pingRequest) {
	t.Helper()
	got := make(chan pingRequest, 100)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case got <- pingRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body}:
		default:
		}
		if n.Add(1) == 1 {
			http.Error(w, "registry down", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func nextPing(t *testing.T, got <-chan pingRequest) pingRequest {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no ping within 20 s")
		return pingRequest{}
	}
}

func TestPingsTheRegistryWithTheRuntimesDescriptionAndSurvivesFailures(t *testing.T) {
	t.Parallel()
	srv, got := pingRegistry(t)
	id := "6c1c2a5e-0d6b-4c55-9a57-5d3f1e2b7a01"
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_PING_URL=", "MSGFLO_PING_INTERVAL=", "MSGFLO_PING_METHOD="},
		"--port", "0", "--runtime-id", id, "--label", "pinged",
		"--ping-url", srv.URL+"/runtimes/$RUNTIME_ID", "--ping-interval", "0.05")
	ws, _ := p.ready(t)
	for i := 0; i < 2; i++ { // the first is answered 503: the runtime goes on pinging
		r := nextPing(t, got)
		if r.method != "POST" || r.path != "/runtimes/"+id || r.contentType != "application/json" {
			t.Fatalf("ping %d: %s %s (%s)", i, r.method, r.path, r.contentType)
		}
		var d map[string]string
		if err := json.Unmarshal(r.body, &d); err != nil || d["id"] != id || d["address"] != ws || d["label"] != "pinged" || d["type"] != "msgflo" || d["protocol"] != "websocket" {
			t.Fatalf("ping %d body %s: %v", i, r.body, err)
		}
	}
	p.signalAndWait(t, syscall.SIGTERM)
	if !strings.Contains(p.stderrText(), "ping failed") {
		t.Fatalf("the failed ping was not logged:\n%s", p.stderrText())
	}
}

func TestPingFromTheEnvironmentAsMsgflo(t *testing.T) {
	t.Parallel()
	srv, got := pingRegistry(t)
	id := "6c1c2a5e-0d6b-4c55-9a57-5d3f1e2b7a02"
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_RUNTIME_ID=" + id, "MSGFLO_PING_URL=" + srv.URL + "/r/$RUNTIME_ID/alive",
		"MSGFLO_PING_INTERVAL=0.05", "MSGFLO_PING_METHOD=get"}, "--port", "0")
	p.ready(t)
	r := nextPing(t, got)
	if r.method != "GET" || r.path != "/r/"+id+"/alive" || len(r.body) != 0 {
		t.Fatalf("ping: %s %s body %q", r.method, r.path, r.body)
	}
}

func TestPingFlags(t *testing.T) {
	t.Parallel()
	env := func(string) string { return "" }
	cfg, err := parseConfig(nil, env, io.Discard)
	if err != nil || cfg.ping.interval != 0 || cfg.ping.method != "POST" || cfg.ping.url != "https://api.flowhub.io/runtimes/$RUNTIME_ID" {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	off := make(chan error, 1)
	go func() { off <- newPinger(cfg, "ws://x", zerolog.Nop()).Run(t.Context()) }()
	select { // off by default: Run returns at once instead of pinging Flowhub
	case err := <-off:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pinging is on by default")
	}
	for _, bad := range [][]string{
		{"--ping-interval", "-1"},
		{"--ping-interval", "soon"},
		{"--ping-method", "PO ST"},
		{"--ping-interval", "5", "--ping-url", "ftp://registry/$RUNTIME_ID"},
		{"--ping-interval", "5", "--ping-url", "registry"},
	} {
		if _, err := parseConfig(bad, env, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
