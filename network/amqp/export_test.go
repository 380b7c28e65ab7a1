package amqp

import (
	"context"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/msgflo/msgflo-runtime/network"
)

// SplitVia is Split, the split connecting to url instead of b's nodes.
func SplitVia(ctx context.Context, b *Broker, url string) (*Broker, error) {
	return b.splitTo(ctx, url, []string{url}, 0)
}

// ConsumerChannel is the channel sub (of Consume or a tap) consumes on now.
func ConsumerChannel(sub network.Subscription) *amqp.Channel {
	c := sub.(*consumer)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}
