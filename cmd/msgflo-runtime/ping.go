package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// pingTimeout bounds one ping request, as msgflo's 10 s.
const pingTimeout = 10 * time.Second

// pinger tells a runtime registry (Flowhub's by default) that this runtime
// is alive, as msgflo's --ping-url: a request at start and then every
// interval. A failure is logged, never fatal.
type pinger struct {
	url      string // $RUNTIME_ID already replaced
	method   string
	interval time.Duration // 0: never
	body     []byte        // the runtime's description; not sent with GET or HEAD
	client   *http.Client
	log      zerolog.Logger
}

// pingDescription is what a ping carries: the fields of a Flowhub registry
// entry that describe this runtime (never its secret).
type pingDescription struct {
	ID       string `json:"id"`
	Label    string `json:"label"`
	Type     string `json:"type"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
}

func newPinger(cfg config, address string, log zerolog.Logger) *pinger {
	body, _ := json.Marshal(pingDescription{ID: cfg.runtime.ID, Label: cfg.runtime.Label, Type: "msgflo", Protocol: "websocket", Address: address})
	return &pinger{
		url:      strings.ReplaceAll(cfg.ping.url, "$RUNTIME_ID", cfg.runtime.ID),
		method:   cfg.ping.method,
		interval: cfg.ping.interval,
		body:     body,
		client:   &http.Client{Timeout: pingTimeout},
		log:      log,
	}
}

// Run pings until ctx ends; it returns at once when pinging is off.
func (p *pinger) Run(ctx context.Context) error {
	if p.interval <= 0 {
		return nil
	}
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		if err := p.ping(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn().Err(err).Str("url", p.url).Str("method", p.method).Msg("ping failed (will try again)")
		} else if err == nil {
			p.log.Debug().Str("url", p.url).Msg("ping")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (p *pinger) ping(ctx context.Context) error {
	var body io.Reader
	if p.method != http.MethodGet && p.method != http.MethodHead {
		body = bytes.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("ping %s %s: status %s", p.method, p.url, res.Status)
	}
	return nil
}
