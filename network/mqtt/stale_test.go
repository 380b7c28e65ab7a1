package mqtt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

// A consumer closed while the connection is down leaves no subscription
// in the persistent session: else the broker goes on giving it a share
// of the topic's messages, which the process drops.
func TestConsumerClosedDuringOutageLeavesNoShare(t *testing.T) {
	direct := brokertest.MosquittoURL(t)
	through, proxy := proxiedURL(t, direct)
	events := make(chan bool, 100)
	relay := dialMQTT(t, through, mqtt.Options{ClientID: "msgflo-test-" + uuid.New()[:12], PersistentSession: true})
	defer relay.Close()
	relay.OnConnection(func(up bool) { events <- up })
	waitFor := func(want bool) {
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
	ctx := context.Background()
	topic := brokertest.Role("stale") + ".IN"
	sub, err := relay.Consume(ctx, topic, 0, func(network.Delivery) {})
	must(t, err)
	proxy.Block()
	proxy.Cut()
	waitFor(false)
	_ = sub.Close() // fails: not connected
	proxy.Unblock()
	waitFor(true)

	other := dialMQTT(t, direct, mqtt.Options{})
	defer other.Close()
	got := make(chan string, 100)
	osub, err := other.Consume(ctx, topic, 0, func(d network.Delivery) { got <- string(d.Data()) })
	must(t, err)
	defer osub.Close()
	const n = 20
	for i := range n {
		must(t, other.Send(ctx, topic, []byte(fmt.Sprint(i))))
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case m := <-got:
			seen[m] = true
		case <-time.After(brokertest.Timeout):
			t.Fatalf("%d of %d messages came: the closed consumer's subscription took the others", len(seen), n)
		}
	}
}
