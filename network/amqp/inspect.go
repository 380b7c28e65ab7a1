package amqp

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/msgflo/msgflo-runtime/network"
)

// QueueStats implements network.QueueInspector with passive declares on a
// channel of its own: RabbitMQ closes the channel when a queue is
// missing, which must not disturb the shared ones (a new channel is opened
// for the queues after it).
func (b *Broker) QueueStats(ctx context.Context, queues []string) (map[string]network.QueueStats, error) {
	out := make(map[string]network.QueueStats, len(queues))
	err := b.retry(ctx, func(conn *amqp.Connection) error {
		var ch *amqp.Channel
		defer func() {
			if ch != nil {
				ch.Close()
			}
		}()
		for _, q := range queues {
			if _, done := out[q]; done {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if ch == nil || ch.IsClosed() {
				var err error
				if ch, err = conn.Channel(); err != nil {
					return err
				}
			}
			st, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
			var ae *amqp.Error
			switch {
			case err == nil:
				out[q] = network.QueueStats{Ready: st.Messages, Consumers: st.Consumers}
			case errors.As(err, &ae) && ae.Code == amqp.NotFound:
				// Not declared (yet): nothing to say about it.
			default:
				return fmt.Errorf("inspect queue %s: %w", q, err)
			}
		}
		return nil
	})
	return out, err
}
