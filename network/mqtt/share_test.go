package mqtt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
	"github.com/msgflo/msgflo-runtime/participant"
)

// Three processes of one role (each its own connection and client id, as
// participant.Serve makes them) share the role's work as consumers of a
// RabbitMQ queue do: of 3,000 messages each is processed by exactly one
// of them, and every one gets some.
func TestRoleScalesOut(t *testing.T) {
	for name, broker := range mqttBrokers(t) {
		t.Run(name, func(t *testing.T) {
			url := broker(t)
			role := brokertest.Role("scale")
			const instances, total = 3, 3000
			var mu sync.Mutex
			by := map[int]string{} // message -> the instance that processed it
			twice := 0
			count := make(chan struct{}, total*2)
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			ready := make(chan struct{}, instances)
			for i := range instances {
				id := fmt.Sprint("instance", i)
				c := participant.Component{
					Name:    "test/Count",
					Inports: []participant.Port{{ID: "in"}},
					Process: func(_ context.Context, in participant.Input, _ participant.Output) error {
						var n int
						if err := json.Unmarshal(in.Data, &n); err != nil {
							return err
						}
						mu.Lock()
						if _, seen := by[n]; seen {
							twice++
						}
						by[n] = id
						mu.Unlock()
						count <- struct{}{}
						return nil
					},
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := participant.Serve(ctx, c, role, url, participant.Options{Logger: zerolog.Nop()}, func(string) { ready <- struct{}{} })
					if err != nil && ctx.Err() == nil {
						t.Errorf("instance %d: %v", i, err)
					}
				}()
			}
			t.Cleanup(func() { stop(); wg.Wait() })
			for range instances {
				select {
				case <-ready:
				case <-time.After(brokertest.Timeout):
					t.Fatal("the instances did not all start")
				}
			}
			pub := dialMQTT(t, url, mqtt.Options{})
			defer pub.Close()
			for n := range total {
				must(t, pub.Send(context.Background(), role+".IN", []byte(fmt.Sprint(n))))
			}
			for range total {
				select {
				case <-count:
				case <-time.After(brokertest.Timeout):
					mu.Lock()
					t.Fatalf("%d of %d messages processed", len(by), total)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			shares := map[string]int{}
			for _, id := range by {
				shares[id]++
			}
			if len(by) != total || twice > 0 || len(shares) != instances {
				t.Fatalf("%d of %d messages processed, %d twice; shares %v: want each once, by all %d instances", len(by), total, twice, shares, instances)
			}
			t.Logf("shares %v", shares)
		})
	}
}

// A process that taps a topic it also consumes gets every message on it,
// as before shared subscriptions: the tap sees all, and so does the
// consumer (one plain subscription serves both), while a consumer of the
// topic in another process still gets its share. Once the tap is closed,
// the consumer goes on with its share.
func TestTapAndConsumerOfOneTopic(t *testing.T) {
	url := brokertest.MosquittoURL(t)
	b := dialMQTT(t, url, mqtt.Options{})
	defer b.Close()
	other := dialMQTT(t, url, mqtt.Options{})
	defer other.Close()
	ctx := context.Background()
	topic := brokertest.Role("tapped") + ".IN"
	mine, tapped := brokertest.NewInbox(100), brokertest.NewInbox(100)
	theirs := make(chan string, 100)
	sub, err := b.Consume(ctx, topic, 0, mine.Ack)
	must(t, err)
	defer sub.Close()
	sub2, err := other.Consume(ctx, topic, 0, func(d network.Delivery) { theirs <- string(d.Data()) })
	must(t, err)
	tap, err := b.Tap(ctx, topic, tapped.Data)
	must(t, err)
	want := []string{"1", "2", "3", "4", "5", "6"}
	for _, v := range want {
		must(t, other.Send(ctx, topic, []byte(v)))
	}
	tapped.Expect(t, want...)
	mine.Expect(t, want...)
	must(t, tap.Close())
	// The consumer still takes messages once the tap is gone (alone in
	// the group now).
	must(t, sub2.Close())
	must(t, other.Send(ctx, topic, []byte("after")))
	mine.Expect(t, "after")
}
