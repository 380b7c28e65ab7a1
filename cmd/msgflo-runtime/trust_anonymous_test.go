package main

import (
	"context"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// #19 "A client without the secret sees the network's errors": a client
// connected without the secret while a client with it makes two graphs
// whose nodes share a role got the network:error naming graph, node ids
// and components. It now receives nothing but runtime:runtime. Seen
// failing on main's binary (the network:error arrived).
func TestTrustAnonymousClientGetsOnlyRuntime(t *testing.T) {
	p := start(t, nil, "--port", "0")
	ws, _ := p.ready(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	anon, err := fbpclient.Dial(ctx, ws, fbpclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.GetRuntime(ctx); err != nil {
		t.Fatal(err)
	}
	full, err := fbpclient.Dial(ctx, ws, fbpclient.Options{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	for _, g := range []struct{ id, component string }{{"g1", "core/Repeat"}, {"g2", "core/Drop"}} {
		if _, err := full.Request(ctx, "graph", "clear", map[string]any{"id": g.id}); err != nil {
			t.Fatal(err)
		}
		if _, err := full.Request(ctx, "graph", "addnode", map[string]any{"graph": g.id, "id": "x", "component": g.component}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := full.WaitFor(ctx, func(m fbpclient.Message) bool { return m.Is("network", "error") }); err != nil {
		t.Fatal(err)
	}
	// Everything broadcast so far reached anon before the answer to this.
	if err := anon.Send("runtime", "getruntime", nil); err != nil {
		t.Fatal(err)
	}
	got, err := anon.Collect(ctx, func(m fbpclient.Message) bool { return m.Is("runtime", "runtime") })
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got {
		if !m.Is("runtime", "runtime") {
			t.Errorf("a client without the secret got %s", m)
		}
	}
}
