package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/proxy"
)

// brokers are the real brokers every test here runs on.
var brokers = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"RabbitMQ", brokertest.RabbitMQURL},
	{"Mosquitto", brokertest.MosquittoURL},
}

func open(t *testing.T, url string) network.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), brokertest.Timeout)
	defer cancel()
	b, err := dial.Open(ctx, url, dial.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), brokertest.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// responder is a participant that follows noflo-runtime-msgflo's FBP queue
// convention: it echoes what answer says to echo, in order, and stays
// silent for the rest.
type responder struct {
	def  network.Definition
	b    network.Broker
	sub  network.Subscription
	seen chan proxy.Message
}

func startResponder(t *testing.T, url string, answer func(m proxy.Message) []proxy.Message) *responder {
	t.Helper()
	return startResponderAs(t, url, "p"+uuid.New()[:8], answer)
}

func startResponderAs(t *testing.T, url, id string, answer func(m proxy.Message) []proxy.Message) *responder {
	t.Helper()
	b := open(t, url)
	r := &responder{b: b, seen: make(chan proxy.Message, 100), def: network.Definition{ID: id, Role: "r" + id, Component: "test/Responder"}}
	in, out := proxy.ConventionQueues(id)
	opts := network.QueueOptions{NonPersistent: true}
	if err := b.DeclareOutport(testCtx(t), out, opts); err != nil {
		t.Fatal(err)
	}
	if err := b.DeclareInport(testCtx(t), in, opts); err != nil {
		t.Fatal(err)
	}
	sub, err := b.Consume(testCtx(t), in, 0, func(d network.Delivery) {
		_ = d.Ack()
		var m proxy.Message
		if json.Unmarshal(d.Data(), &m) != nil {
			return
		}
		r.seen <- m
		for _, a := range answer(m) {
			data, _ := json.Marshal(a)
			_ = b.Publish(context.Background(), out, data)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	r.sub = sub
	t.Cleanup(func() { sub.Close() })
	return r
}

func echo(m proxy.Message) []proxy.Message { return []proxy.Message{m} }

func newProxy(t *testing.T, url string, timeout time.Duration) *proxy.Proxy {
	p := proxy.New(proxy.Options{Broker: open(t, url), Timeout: timeout, ProbeTimeout: timeout})
	t.Cleanup(p.Close)
	return p
}

func TestConventionParticipantIsReached(t *testing.T) {
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			url := br.url(t)
			r := startResponder(t, url, echo)
			p := newProxy(t, url, brokertest.Timeout)
			c, err := p.Lookup(testCtx(t), r.def)
			if err != nil {
				t.Fatal(err)
			}
			if c.Endpoint().Announced || !c.Endpoint().Can("protocol:trace") || c.Endpoint().Can("protocol:graph") {
				t.Fatalf("endpoint %+v: want a conventional one that only traces", c.Endpoint())
			}
			got, err := c.Request(testCtx(t), "trace", "start", map[string]any{"graph": "default", "buffersize": 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Command != "start" || !strings.Contains(string(got[0].Payload), `"buffersize":10`) {
				t.Fatalf("answer %+v", got)
			}
		})
	}
}

func TestRepliesMatchRequestsInOrder(t *testing.T) {
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			url := br.url(t)
			// Answers a stop with an unrelated event first, then the echo.
			r := startResponder(t, url, func(m proxy.Message) []proxy.Message {
				ev := proxy.Message{Protocol: "network", Command: "data", Payload: json.RawMessage(`{}`)}
				return []proxy.Message{ev, m}
			})
			p := newProxy(t, url, brokertest.Timeout)
			c, err := p.Lookup(testCtx(t), r.def)
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				graph string
				err   error
			}
			results := make(chan result, 2)
			for _, g := range []string{"one", "two"} {
				go func() {
					got, err := c.Request(testCtx(t), "trace", "dump", map[string]string{"graph": g, "type": "flowtrace.json"})
					if err == nil && len(got) == 1 {
						var pl struct{ Graph string }
						_ = json.Unmarshal(got[0].Payload, &pl)
						results <- result{graph: g + "=" + pl.Graph}
						return
					}
					results <- result{err: err}
				}()
			}
			for range 2 {
				select {
				case res := <-results:
					if res.err != nil {
						t.Fatal(res.err)
					}
					if parts := strings.Split(res.graph, "="); parts[0] != parts[1] {
						t.Fatalf("request for %s got the answer for %s", parts[0], parts[1])
					}
				case <-time.After(brokertest.Timeout):
					t.Fatal("no answer")
				}
			}
		})
	}
}

func TestTimeoutNamesTheParticipant(t *testing.T) {
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			url := br.url(t)
			r := startResponder(t, url, func(m proxy.Message) []proxy.Message {
				if m.Command == "dump" {
					return nil
				}
				return echo(m)
			})
			p := newProxy(t, url, 500*time.Millisecond)
			c, err := p.Lookup(testCtx(t), r.def)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Request(testCtx(t), "trace", "dump", map[string]string{"graph": "default", "type": "flowtrace.json"})
			if !errors.Is(err, proxy.ErrTimeout) || !strings.Contains(err.Error(), r.def.ID) {
				t.Fatalf("err = %v, want a timeout naming %s", err, r.def.ID)
			}
			// The channel still works after a timeout.
			if _, err := c.Request(testCtx(t), "trace", "stop", map[string]string{"graph": "default"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRemoteErrorIsReturned(t *testing.T) {
	url := brokertest.MosquittoURL(t)
	r := startResponder(t, url, func(m proxy.Message) []proxy.Message {
		if m.Command == "dump" {
			return []proxy.Message{{Protocol: "trace", Command: "error", Payload: json.RawMessage(`{"message":"no such graph"}`)}}
		}
		return echo(m)
	})
	p := newProxy(t, url, brokertest.Timeout)
	c, err := p.Lookup(testCtx(t), r.def)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Request(testCtx(t), "trace", "dump", map[string]string{"graph": "x", "type": "flowtrace.json"})
	var re *proxy.RemoteError
	if !errors.As(err, &re) || re.Message != "no such graph" {
		t.Fatalf("err = %v, want the participant's error", err)
	}
}

func TestParticipantWithoutFBPQueues(t *testing.T) {
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			url := br.url(t)
			p := newProxy(t, url, 300*time.Millisecond)
			def := network.Definition{ID: "plain" + uuid.New()[:8], Role: "plain", Component: "x/Y"}
			_, err := p.Lookup(testCtx(t), def)
			if !errors.Is(err, proxy.ErrNotCapable) {
				t.Fatalf("err = %v, want ErrNotCapable", err)
			}
			// It creates its FBP queues later: a cached lookup keeps the
			// first answer, Lookup checks again.
			r := startResponderAs(t, url, def.ID, echo)
			if _, err := p.LookupCached(testCtx(t), r.def); !errors.Is(err, proxy.ErrNotCapable) {
				t.Fatalf("cached lookup: err = %v, want ErrNotCapable", err)
			}
			if _, err := p.Lookup(testCtx(t), r.def); err != nil {
				t.Fatalf("lookup after the queues exist: %v", err)
			}
		})
	}
}

// On AMQP a participant that is gone has no receive queue any more: the
// request fails at once, without waiting for the timeout.
func TestGoneParticipantFailsFast(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	r := startResponder(t, url, echo)
	p := newProxy(t, url, time.Hour)
	c, err := p.Lookup(testCtx(t), r.def)
	if err != nil {
		t.Fatal(err)
	}
	r.sub.Close()
	in, _ := proxy.ConventionQueues(r.def.ID)
	if d, ok := r.b.(interface {
		Delete(context.Context, ...string) error
	}); ok {
		if err := d.Delete(testCtx(t), in); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Fatal("the AMQP broker cannot delete queues")
	}
	_, err = c.Request(testCtx(t), "trace", "dump", map[string]string{"graph": "default", "type": "flowtrace.json"})
	if !errors.Is(err, proxy.ErrGone) || !strings.Contains(err.Error(), r.def.ID) {
		t.Fatalf("err = %v, want ErrGone naming %s", err, r.def.ID)
	}
	if _, ok := p.Known(r.def.ID); ok {
		t.Fatal("a gone participant is still known")
	}
}

// Forget fails the requests in flight at once.
func TestForgetFailsPendingRequests(t *testing.T) {
	url := brokertest.MosquittoURL(t)
	r := startResponder(t, url, func(m proxy.Message) []proxy.Message {
		if m.Command == "dump" {
			return nil
		}
		return echo(m)
	})
	p := newProxy(t, url, time.Hour)
	c, err := p.Lookup(testCtx(t), r.def)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		_, err := c.Request(testCtx(t), "trace", "dump", map[string]string{"graph": "default", "type": "flowtrace.json"})
		errs <- err
	}()
	// Wait until the participant has the request, then forget it.
	for dump := false; !dump; {
		select {
		case m := <-r.seen:
			dump = m.Command == "dump"
		case <-time.After(brokertest.Timeout):
			t.Fatal("the participant got no dump request")
		}
	}
	p.Forget(r.def.ID)
	select {
	case err := <-errs:
		if !errors.Is(err, proxy.ErrGone) {
			t.Fatalf("err = %v, want ErrGone", err)
		}
	case <-time.After(brokertest.Timeout):
		t.Fatal("a request to a forgotten participant still waits")
	}
}

// What the runtime passes to a participant keeps its text: <, > and &
// in a packet's payload arrive as written, not as \u003c escapes.
func TestPayloadTextIsKept(t *testing.T) {
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			url := br.url(t)
			r := startResponder(t, url, echo)
			p := newProxy(t, url, brokertest.Timeout)
			c, err := p.Lookup(testCtx(t), r.def)
			if err != nil {
				t.Fatal(err)
			}
			payload := json.RawMessage(`{"html":"<b>&amp;</b>"}`)
			if err := p.Post(testCtx(t), c.Endpoint(), "runtime", "packet", map[string]any{"port": "in", "event": "data", "payload": payload}); err != nil {
				t.Fatal(err)
			}
			for {
				select {
				case m := <-r.seen:
					if m.Command != "packet" {
						continue
					}
					if !strings.Contains(string(m.Payload), string(payload)) {
						t.Fatalf("the participant got %s, want the payload %s as written", m.Payload, payload)
					}
					return
				case <-time.After(brokertest.Timeout):
					t.Fatal("no packet reached the participant")
				}
			}
		})
	}
}
