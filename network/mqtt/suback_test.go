package mqtt_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

// denyTopics lets every client in and refuses subscriptions whose filter
// mentions one of its topics (as a broker's ACL does).
type denyTopics struct {
	mochi.HookBase
	topic string
}

func (*denyTopics) ID() string { return "deny-topics" }

func (*denyTopics) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (*denyTopics) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }

func (h *denyTopics) OnACLCheck(_ *mochi.Client, topic string, write bool) bool {
	return write || !strings.Contains(topic, h.topic)
}

// A subscription the broker refuses (SUBACK 0x80: not authorised, or no
// shared subscriptions for MQTT 3.1.1) fails Consume and Tap: they do not
// succeed on a subscription that delivers nothing.
func TestRefusedSubscriptionFails(t *testing.T) {
	const denied = "msgflo-test-denied"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(&denyTopics{topic: denied}, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	b := dialMQTT(t, "mqtt://"+ln.Addr().String(), mqtt.Options{})
	defer b.Close()
	ctx := context.Background()
	if sub, err := b.Consume(ctx, denied+"/in", 1, func(network.Delivery) {}); err == nil {
		sub.Close()
		t.Error("Consume of a refused topic succeeded")
	}
	if sub, err := b.Tap(ctx, denied+"/out", func(string, []byte) {}); err == nil {
		sub.Close()
		t.Error("Tap of a refused topic succeeded")
	}
	// The refusal is per topic: others still subscribe.
	sub, err := b.Tap(ctx, "msgflo-test-allowed/out", func(string, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
}
