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

// benchServer runs a runtime and protocol server for benchmarks (no output
// checking, logs off) and returns a connected client.
func benchServer(b *testing.B) *websocket.Conn {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	emb, err := embedded.Start(ctx, embedded.Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	rt, err := runtime.New(runtime.Options{ID: "bench", Broker: emb.Broker(), Components: participant.CoreComponents(), Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(rt, Options{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
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
