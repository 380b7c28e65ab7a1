package runtime

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// The broker connection drops under a running graph (a fault proxy cuts it
// and refuses new connections for a while; the broker itself stays up).
// Clients hear about it, the graph is kept, and once the connection is back
// data flows through the same edges again.
func TestBrokerOutage(t *testing.T) {
	for _, bk := range []struct {
		name string
		url  func(t testing.TB) string
		open func(t *testing.T, url string) network.Broker
	}{
		{"amqp", brokertest.RabbitMQURL, func(t *testing.T, u string) network.Broker {
			b, err := amqp.Dial(context.Background(), u, amqp.Options{
				Logger: zerolog.Nop(), DiscoveryQueue: "fbp-outage-" + uuid.New()[:8],
				BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
			})
			must(t, err)
			return b
		}},
		{"mqtt", brokertest.MosquittoURL, openOutageMQTT},
		{"embedded", startEmbedded, openOutageMQTT},
	} {
		t.Run(bk.name, func(t *testing.T) {
			direct := bk.url(t)
			u, err := url.Parse(direct)
			must(t, err)
			proxy := brokertest.NewProxy(t, u.Host)
			v := *u
			v.Host = proxy.Addr()
			b := bk.open(t, v.String())
			defer b.Close()
			watcher := bk.open(t, direct)
			defer watcher.Close()

			rec := &recorder{ch: make(chan Event, 10000)}
			rt, err := New(Options{ID: "outage", Broker: b, Sink: rec, Components: participant.CoreComponents(), RetryDelay: 10 * time.Millisecond,
				Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
			must(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _ = rt.Run(ctx) }()
			defer func() { cancel(); wg.Wait() }()
			waitReady(t, rt)
			f := &fixture{t: t, rt: rt, events: rec, broker: watcher}
			rt.ClientConnected(1) // runtime:packet goes to connected clients

			s := uuid.New()[:8]
			first, second := "of"+s, "os"+s
			must(t, rt.Clear(wire.Clear{ID: "g"}))
			must(t, rt.AddNode(wire.AddNode{ID: first, Component: "core/Repeat", Graph: "g"}))
			must(t, rt.AddNode(wire.AddNode{ID: second, Component: "core/Repeat", Graph: "g"}))
			must(t, rt.AddEdge(wire.AddEdge{Src: ref(first, "out"), Tgt: ref(second, "in"), Graph: "g"}))
			must(t, rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: first, Port: "in", Graph: "g"}))
			must(t, rt.AddExported(graph.Out, wire.ExportedPort{Public: "out", Node: second, Port: "out", Graph: "g"}))
			must(t, rt.Start("g"))
			send := func(v string) {
				_, err := rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf(v), Graph: "g"})
				must(t, err)
			}
			// Delivery is at-least-once across a lost connection: on MQTT
			// a QoS 1 message in flight when a connection drops is sent
			// again (seen once: a second copy of after0 after after0), so
			// a copy of what already came is skipped; anything else out of
			// order, or missing, fails.
			seen := map[string]bool{}
			expect := func(v string) {
				t.Helper()
				for {
					ev := f.waitEvent("runtime", "packet", nil)
					got := valueOf(ev.Message.(wire.Packet).Payload)
					if got == v {
						seen[v] = true
						return
					}
					if got != "probe" && !seen[got] {
						t.Fatalf("got %q, want %q", got, v)
					}
				}
			}
			send("before")
			expect("before")

			proxy.Block()
			proxy.Cut()
			ev := f.waitEvent("network", "error", nil)
			if p := ev.Message.(wire.NetworkError); p.Graph != "g" {
				t.Fatalf("network:error %+v", p)
			}
			proxy.Unblock()
			f.waitEvent("network", "output", nil)

			// The graph is intact.
			if st, err := rt.Status("g"); err != nil || !st.Started {
				t.Fatalf("status after the outage: %+v", st)
			}
			// Consumers re-attach right after the connection: probe until
			// data comes through, then check it flows in order.
			deadline := time.Now().Add(brokertest.Timeout)
			for {
				send("probe")
				ev, ok := f.tryEvent("runtime", "packet", 100*time.Millisecond)
				if ok && valueOf(ev.Message.(wire.Packet).Payload) == "probe" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no data through the graph after the outage")
				}
			}
			for i := range 5 {
				send(fmt.Sprint("after", i))
			}
			for i := range 5 {
				expect(fmt.Sprint("after", i))
			}
			if bk.name == "amqp" {
				t.Cleanup(func() { deleteAMQP(direct, first, second) })
			}
		})
	}
}

// openOutageMQTT opens the runtime's MQTT connection for TestBrokerOutage.
func openOutageMQTT(t *testing.T, u string) network.Broker {
	b, err := mqtt.Dial(context.Background(), u, mqtt.Options{Logger: zerolog.Nop(), MaxReconnectInterval: 100 * time.Millisecond})
	must(t, err)
	return b
}

// startEmbedded starts an embedded broker of the test's own and returns
// its URL: the runtime connects to it over TCP (through the fault proxy),
// as to the embedded broker of another runtime. (On its own embedded
// broker the runtime's connection is in-process and cannot be cut.)
func startEmbedded(t testing.TB) string {
	srv, err := embedded.Start(context.Background(), embedded.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL()
}

// tryEvent waits up to d for a matching event.
func (f *fixture) tryEvent(protocol, command string, d time.Duration) (Event, bool) {
	deadline := time.After(d)
	for {
		select {
		case ev := <-f.events.ch:
			if ev.Protocol() == protocol && ev.Command() == command {
				return ev, true
			}
		case <-deadline:
			return Event{}, false
		}
	}
}

func deleteAMQP(u string, roles ...string) {
	b, err := amqp.Dial(context.Background(), u, amqp.Options{Logger: zerolog.Nop()})
	if err != nil {
		return
	}
	defer b.Close()
	for _, r := range roles {
		_ = b.Delete(context.Background(), r+".IN", r+".OUT")
	}
}
