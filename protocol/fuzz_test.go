package protocol

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// FuzzHandle feeds arbitrary text to the message handler, as a client
// could send it. Whatever the input, the handler must not panic, must send
// only schema-valid messages, and must answer every input that is not an
// accepted edit with something.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		`{"protocol":"runtime","command":"getruntime","payload":{}}`,
		`{"protocol":"graph","command":"clear","payload":{"id":"g","main":true}}`,
		`{"protocol":"graph","command":"addnode","payload":{"id":"a","component":"core/Repeat","graph":"g"}}`,
		`{"protocol":"graph","command":"addnode","payload":{"id":"b","component":"core/Drop","graph":"g","metadata":{"x":1.5}}}`,
		`{"protocol":"graph","command":"addedge","payload":{"src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"graph":"g"}}`,
		`{"protocol":"graph","command":"addinitial","payload":{"src":{"data":[1,{"x":null}]},"tgt":{"node":"a","port":"in"},"graph":"g"}}`,
		`{"protocol":"graph","command":"renamenode","payload":{"from":"a","to":"c","graph":"g"}}`,
		`{"protocol":"graph","command":"addinport","payload":{"public":"in","node":"c","port":"in","graph":"g"}}`,
		`{"protocol":"graph","command":"addgroup","payload":{"name":"x","nodes":["c","zz"],"graph":"g"}}`,
		`{"protocol":"network","command":"start","payload":{"graph":"g"}}`,
		`{"protocol":"network","command":"edges","payload":{"graph":"g","edges":[{"src":{"node":"c","port":"out"},"tgt":{"node":"b","port":"in"}}]}}`,
		`{"protocol":"runtime","command":"packet","payload":{"graph":"g","port":"in","event":"data","payload":"x"}}`,
		`{"protocol":"component","command":"list"}`,
		`{"protocol":"component","command":"getsource","payload":{"name":"g"}}`,
		`{"protocol":"component","command":"getsource","payload":{"name":"core/Repeat"}}`,
		`{"protocol":"network","command":"stop","payload":{"graph":"g"}}`,
		`{"protocol":"graph","command":"removenode","payload":{"id":"c","graph":"g"}}`,
		`{"protocol":"trace","command":"start","payload":{"graph":"g"}}`,
		`{"protocol":"graph","command":"changenode","payload":{"id":"b","metadata":{"x":null},"graph":"g"}}`,
		`{"protocol":`, `[]`, `null`, `"x"`, `{}`, `{"protocol":"graph","command":"addnode","payload":[]}`,
		`{"protocol":"graph","command":"addedge","payload":{"src":{"node":"a"},"tgt":5,"graph":"g"}}`,
	} {
		f.Add([]byte(seed))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	emb, err := embedded.Start(ctx, embedded.Options{Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}
	defer emb.Close()
	var bad sync.Map // invalid outputs found by the encoder
	hub, err := NewHub(HubOptions{Logger: zerolog.Nop(), CheckOutput: func(protocol, command string, msg []byte, err error) {
		if err != nil {
			bad.Store(string(msg), err.Error())
		}
	}})
	if err != nil {
		f.Fatal(err)
	}
	rt, err := runtime.New(runtime.Options{ID: "fuzz", Broker: emb.Broker(), Sink: hub, Components: participant.CoreComponents(), Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(rt, hub, Options{Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = rt.Run(ctx) }()
	defer wg.Wait()
	defer cancel()
	select {
	case <-rt.Ready():
	case <-time.After(waitLimit):
		f.Fatal("the runtime was not ready")
	}

	c := &client{id: 1, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.caps.Store(srv.all)
	srv.hub.add(c)
	f.Fuzz(func(t *testing.T, data []byte) {
		srv.handle(c, data)
		msgs := c.take()
		n := len(msgs)
		for _, msg := range msgs {
			if !json.Valid(msg) {
				t.Fatalf("sent invalid JSON %q", msg)
			}
		}
		c.written(msgs)
		if n == 0 {
			t.Fatalf("no answer to %q", data)
		}
		bad.Range(func(k, v any) bool {
			t.Fatalf("sent a message its schema refuses: %s: %s", v, k)
			return false
		})
	})
}
