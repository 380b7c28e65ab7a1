package runtime

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// tapRecorder is a broker that records the queues tapped through it.
type tapRecorder struct {
	network.Broker
	mu     sync.Mutex
	tapped []string
}

func (b *tapRecorder) record(queue string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tapped = append(b.tapped, queue)
}

func (b *tapRecorder) has(queue string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.tapped, queue)
}

func (b *tapRecorder) Tap(ctx context.Context, queue string, h network.DataHandler) (network.Subscription, error) {
	b.record(queue)
	return b.Broker.Tap(ctx, queue, h)
}

func (b *tapRecorder) TapExchange(ctx context.Context, queue string, o network.QueueOptions, h network.DataHandler) (network.Subscription, error) {
	b.record(queue)
	return b.Broker.TapExchange(ctx, queue, o, h)
}

// An announcement that names FBP queues (a full FBP runtime participant)
// binds no queue to a new consumer (#19: announcements describe, never
// command): the participant is a host clients' requests can go to, and
// the runtime listens on its outqueue once a client sends it one. Seen
// failing when discovery opened the participant's FBP channel.
func TestAnnouncedFBPQueuesAreTappedForARequestOnly(t *testing.T) {
	emb, err := embedded.Start(context.Background(), embedded.Options{})
	must(t, err)
	b := &tapRecorder{Broker: emb.Broker()}
	f := startFixture(t, b, emb.Broker(), nil, func() { _ = emb.Close() })
	id := "full-" + uuid.New()[:8]
	def := network.Definition{
		ID: id, Role: "full", Component: "fake/Sub", Inports: []network.Port{}, Outports: []network.Port{},
		Type: "fake", Version: "0.8", Capabilities: []string{"protocol:component", "component:getsource"},
		Inqueue: ".fbp." + id + ".receive", Outqueue: ".fbp." + id + ".send",
	}
	opts := network.QueueOptions{NonPersistent: true}
	must(t, f.ext.DeclareOutport(ctxBG, def.Outqueue, opts))
	must(t, f.ext.DeclareInport(ctxBG, def.Inqueue, opts))
	sub, err := f.ext.Consume(ctxBG, def.Inqueue, 0, func(d network.Delivery) {
		_ = d.Ack()
		_ = f.ext.Publish(ctxBG, def.Outqueue, []byte(`{"protocol":"component","command":"source","payload":{"name":"Sub","library":"fake","language":"json","code":"{}"}}`))
	})
	must(t, err)
	t.Cleanup(func() { _ = sub.Close() })

	f.announce(def)
	f.waitEvent("component", "component", func(ev Event) bool { return ev.Message.(wire.Component).Name == "fake/Sub" })
	host, ok := f.rt.ComponentHost("fake/Sub")
	if !ok {
		t.Fatal("a participant announcing FBP queues is no host")
	}
	f.pass()
	if b.has(def.Outqueue) {
		t.Fatalf("the announcement made the runtime tap %s", def.Outqueue)
	}
	replies, err := host.Do(ctxBG, "component", "getsource", json.RawMessage(`{"name":"fake/Sub"}`))
	must(t, err)
	if len(replies) != 1 || replies[0].Command != "source" {
		t.Fatalf("replies %+v", replies)
	}
	if !b.has(def.Outqueue) {
		t.Fatalf("answered without listening on %s?", def.Outqueue)
	}
}
