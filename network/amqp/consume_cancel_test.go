package amqp_test

import (
	"context"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// A consumer the broker cancels (its queue deleted) consumes again on a
// new channel and closes the old one, which would otherwise stay open on
// the connection for as long as it lives, one more at each cancel.
func TestCancelledConsumerClosesItsChannel(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	b := dialVia(t, url)
	ctx := context.Background()
	queue := brokertest.Role("cancelled") + ".IN"
	must(t, b.DeclareInport(ctx, queue, network.QueueOptions{}))
	t.Cleanup(func() { _ = b.Delete(context.Background(), queue) })
	sub, err := b.Consume(ctx, queue, 10, func(d network.Delivery) { _ = d.Ack() })
	must(t, err)
	defer sub.Close()
	old := msgamqp.ConsumerChannel(sub)
	_, err = rawChannel(t, url).QueueDelete(queue, false, false, false)
	must(t, err)
	// The consumer has no event to wait on: poll, with a deadline.
	deadline := time.After(brokertest.Timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for msgamqp.ConsumerChannel(sub) == old {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the consumer never consumed again after its queue was deleted")
		}
	}
	if !old.IsClosed() {
		t.Fatal("the channel of the cancelled consumer is still open")
	}
}
