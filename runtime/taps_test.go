package runtime

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// tapRefuser is a broker whose next tap of a queue fails once armed (as a
// broker refuses a bind now and then).
type tapRefuser struct {
	network.Broker
	mu     sync.Mutex
	refuse map[string]bool
}

func (b *tapRefuser) arm(queue string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refuse[queue] = true
}

func (b *tapRefuser) Tap(ctx context.Context, queue string, h network.DataHandler) (network.Subscription, error) {
	b.mu.Lock()
	refused := b.refuse[queue]
	delete(b.refuse, queue)
	b.mu.Unlock()
	if refused {
		return nil, errors.New("tap refused by the test")
	}
	return b.Broker.Tap(ctx, queue, h)
}

// A client's selection holds for the data the runtime lets in after it: a
// packet sent after network:edges, and the messages waiting for a stopped
// graph's participants when it starts, are shown on the selected edge,
// even when the tap takes a second try (they wait for it).
func TestDataAfterASelectionIsShown(t *testing.T) {
	for _, when := range []string{"running", "at start"} {
		t.Run(when, func(t *testing.T) {
			emb, err := embedded.Start(context.Background(), embedded.Options{})
			must(t, err)
			b := &tapRefuser{Broker: emb.Broker(), refuse: map[string]bool{}}
			f := startFixture(t, b, emb.Broker(), nil, func() { _ = emb.Close() })
			const client = ClientID(1)
			f.rt.ClientConnected(client)
			must(t, f.rt.Clear(wire.Clear{ID: "g"}))
			_, err = f.rt.WatchEdges(client, wire.Edges{Graph: "g"}) // nothing selected yet
			must(t, err)
			must(t, f.rt.AddNode(wire.AddNode{ID: "first", Component: "core/Repeat", Graph: "g"}))
			must(t, f.rt.AddNode(wire.AddNode{ID: "second", Component: "core/Repeat", Graph: "g"}))
			must(t, f.rt.AddEdge(wire.AddEdge{Src: ref("first", "out"), Tgt: ref("second", "in"), Graph: "g"}))
			must(t, f.rt.AddExported(graph.In, wire.ExportedPort{Public: "in", Node: "first", Port: "in", Graph: "g"}))
			must(t, f.rt.AddExported(graph.Out, wire.ExportedPort{Public: "out", Node: "second", Port: "out", Graph: "g"}))
			send := func(v string) {
				t.Helper()
				_, err := f.rt.SendPacket(wire.Packet{Port: "in", Event: "data", Payload: jsonOf(v), Graph: "g"})
				must(t, err)
			}
			if when == "running" {
				must(t, f.rt.Start("g"))
				send("before")
				f.waitEvent("runtime", "packet", func(ev Event) bool { return string(ev.Message.(wire.Packet).Payload) == `"before"` })
			} else {
				waitBound(t, f, "first.OUT", "second.IN")
				send("waiting") // delivered to first, whose gate is closed
				f.pass()
			}
			b.arm("first.OUT")
			_, err = f.rt.WatchEdges(client, wire.Edges{Graph: "g", Edges: []wire.EdgeSpec{{Src: ref("first", "out"), Tgt: ref("second", "in")}}})
			must(t, err)
			want := `"after"`
			if when == "running" {
				send("after")
			} else {
				want = `"waiting"`
				must(t, f.rt.Start("g"))
			}
			f.waitEvent("network", "data", func(ev Event) bool {
				d := ev.Message.(wire.Data)
				return string(d.Data) == want && len(ev.To) == 1 && ev.To[0] == client
			})
		})
	}
}
