package mqtt_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

// With a list of URLs (a clustered MQTT broker), the client connects to
// the first that answers, says which, and goes on to another when that
// connection drops.
func TestNodeList(t *testing.T) {
	mosq := brokertest.MosquittoURL(t)
	second, proxy := proxiedURL(t, mosq)
	b := dialMQTT(t, "mqtt://127.0.0.1:1, "+second, mqtt.Options{})
	defer b.Close()
	host := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.Host
	}
	if got := host(b.ConnectedURL()); got != host(second) {
		t.Fatalf("connected to %s, want %s (the first one that answers)", got, host(second))
	}
	events := make(chan bool, 10)
	b.OnConnection(func(up bool) { events <- up })
	ctx := context.Background()
	topic := brokertest.Role("mqttnodes") + ".IN"
	must(t, b.DeclareInport(ctx, topic, network.QueueOptions{}))
	in := brokertest.NewInbox(100)
	sub, err := b.Consume(ctx, topic, 0, in.Ack)
	must(t, err)
	defer sub.Close()
	must(t, b.Send(ctx, topic, []byte(`"before"`)))
	in.Expect(t, `"before"`)
	proxy.Cut()
	waitUp(t, events, false)
	waitUp(t, events, true)
	must(t, b.Send(ctx, topic, []byte(`"after"`)))
	in.Expect(t, `"after"`)
	if proxy.Accepted() < 2 {
		t.Fatalf("reconnected %d times through the answering node", proxy.Accepted()-1)
	}
	if _, err := mqtt.Dial(ctx, "mqtt://127.0.0.1:1,amqp://127.0.0.1", mqtt.Options{}); err == nil || !strings.Contains(err.Error(), "amqp") {
		t.Errorf("a list with an amqp:// URL: got %v, want an error", err)
	}
}

func waitUp(t *testing.T, events chan bool, want bool) {
	t.Helper()
	for {
		select {
		case up := <-events:
			if up == want {
				return
			}
		case <-time.After(brokertest.Timeout):
			t.Fatalf("the connection never became %v", want)
		}
	}
}
