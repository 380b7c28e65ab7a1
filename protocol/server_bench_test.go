package protocol

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// newBenchServer makes a runtime on an embedded broker and its protocol
// server for benchmarks (no output checking, logs off), not running yet.
func newBenchServer(ctx context.Context, b *testing.B, opts Options) (*Server, *runtime.Runtime, *embedded.Server) {
	b.Helper()
	emb, err := embedded.Start(ctx, embedded.Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	hub, err := NewHub(HubOptions{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	rt, err := runtime.New(runtime.Options{ID: "bench", Broker: emb.Broker(), Sink: hub, Components: participant.CoreComponents(), Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	opts.Logger = zerolog.Nop()
	srv, err := New(rt, hub, opts)
	if err != nil {
		b.Fatal(err)
	}
	return srv, rt, emb
}

// benchServer runs a runtime and protocol server for benchmarks and
// returns a connected client: a raw connection, so that the figures are
// the server's and not a client's queue.
func benchServer(b *testing.B) *websocket.Conn {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, rt, emb := newBenchServer(ctx, b, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = rt.Run(ctx) }()
	select {
	case <-rt.Ready():
	case <-time.After(waitLimit):
		b.Fatal("the runtime was not ready")
	}
	go func() { defer wg.Done(); _ = srv.Serve(ctx, ln) }()
	d := websocket.Dialer{Subprotocols: []string{"noflo"}}
	conn, _, err := d.Dial("ws://"+ln.Addr().String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Close()
		cancel()
		wg.Wait()
		emb.Close()
	})
	return conn
}

func roundTrip(b *testing.B, conn *websocket.Conn, text string) {
	if err := conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		b.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkGetruntimeRoundTrip(b *testing.B) {
	conn := benchServer(b)
	for b.Loop() {
		roundTrip(b, conn, `{"protocol":"runtime","command":"getruntime","payload":{}}`)
	}
}

func BenchmarkAddnodeRoundTrip(b *testing.B) {
	conn := benchServer(b)
	roundTrip(b, conn, `{"protocol":"graph","command":"clear","payload":{"id":"g"}}`)
	i := 0
	for b.Loop() {
		roundTrip(b, conn, fmt.Sprintf(`{"protocol":"graph","command":"addnode","payload":{"id":"n%d","component":"core/Repeat","graph":"g"}}`, i))
		i++
	}
}

// BenchmarkChainBuild builds a 200-node chain of core/Repeat with 399
// sequential edits, each waiting for its acknowledgement.
func BenchmarkChainBuild(b *testing.B) {
	conn := benchServer(b)
	round := 0
	for b.Loop() {
		g := fmt.Sprintf("g%d", round)
		roundTrip(b, conn, `{"protocol":"graph","command":"clear","payload":{"id":"`+g+`"}}`)
		for i := range 200 {
			roundTrip(b, conn, fmt.Sprintf(`{"protocol":"graph","command":"addnode","payload":{"id":"%s-%d","component":"core/Repeat","graph":"%s"}}`, g, i, g))
			if i > 0 {
				roundTrip(b, conn, fmt.Sprintf(`{"protocol":"graph","command":"addedge","payload":{"src":{"node":"%s-%d","port":"out"},"tgt":{"node":"%s-%d","port":"in"},"graph":"%s"}}`, g, i-1, g, i, g))
			}
		}
		round++
	}
}

// benchClient is a connection-less client of s whose messages s.handle
// takes directly, for the benchmarks of the server's own work.
func benchClient(s *Server) *client {
	c := &client{done: make(chan struct{}), wake: make(chan struct{}, 1), clientLog: s.clientLog, log: zerolog.Nop()}
	c.caps.Store(s.anonymous)
	c.handling.Store(true)
	return c
}

// BenchmarkHandleGetruntime is the server's own work for one getruntime
// with the secret, without the network: the envelope read, the secret,
// the strict read, validation, the answer queued.
func BenchmarkHandleGetruntime(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, _, emb := newBenchServer(ctx, b, Options{Secret: "s3cret"})
	defer emb.Close()
	c := benchClient(s)
	data := []byte(`{"protocol":"runtime","command":"getruntime","payload":{},"secret":"s3cret"}`)
	b.ReportAllocs()
	for b.Loop() {
		s.handle(c, data)
		c.written(c.take())
	}
}

// BenchmarkHandleAddnode is the server's and the graph store's own work
// for one graph:addnode with the secret, without the network: the envelope
// read, the secret, the strict read, validation, the edit and its
// acknowledgement encoded and queued. The component is one the runtime
// neither runs nor starts (no reconcile work follows); the graph grows by a
// node each op.
func BenchmarkHandleAddnode(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, _, emb := newBenchServer(ctx, b, Options{Secret: "s3cret"})
	defer emb.Close()
	c := benchClient(s)
	s.handle(c, []byte(`{"protocol":"graph","command":"clear","payload":{"id":"g"},"secret":"s3cret"}`))
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s.handle(c, fmt.Appendf(nil, `{"protocol":"graph","command":"addnode","payload":{"id":"n%d","component":"bench/External","graph":"g"},"secret":"s3cret"}`, i))
		i++
		c.written(c.take())
	}
}
