package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/msgflo/msgflo-runtime/internal/backoff"
	"github.com/msgflo/msgflo-runtime/network"
)

// consumer is a consumer on its own channel that re-opens itself on the
// next connection when its channel or connection is lost.
type consumer struct {
	b        *Broker
	name     string // for logs
	prefetch int
	autoAck  bool
	// prepare declares what the consumer needs on ch and returns the queue
	// to consume (taps get a new server-named queue each time).
	prepare func(ch *amqp.Channel) (string, error)
	handle  func(queue string, d amqp.Delivery)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	ch  *amqp.Channel
	tag string

	drained sync.Once
}

func (b *Broker) startConsumer(ctx context.Context, c *consumer) (*consumer, error) {
	c.b = b
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = make(chan struct{})
	var (
		queue      string
		deliveries <-chan amqp.Delivery
	)
	err := b.retry(ctx, func(conn *amqp.Connection) error {
		var err error
		queue, deliveries, err = c.open(conn)
		return err
	})
	if err != nil {
		c.cancel()
		return nil, err
	}
	go c.run(queue, deliveries)
	return c, nil
}

func (c *consumer) open(conn *amqp.Connection) (string, <-chan amqp.Delivery, error) {
	ch, err := conn.Channel()
	if err != nil {
		return "", nil, err
	}
	fail := func(err error) (string, <-chan amqp.Delivery, error) {
		_ = ch.Close()
		return "", nil, err
	}
	if !c.autoAck {
		if err := ch.Qos(c.prefetch, 0, false); err != nil {
			return fail(err)
		}
	}
	queue, err := c.prepare(ch)
	if err != nil {
		return fail(err)
	}
	tag := c.b.tag("consumer")
	deliveries, err := ch.Consume(queue, tag, c.autoAck, false, false, false, nil)
	if err != nil {
		return fail(fmt.Errorf("consume %s: %w", queue, err))
	}
	c.mu.Lock()
	c.ch, c.tag = ch, tag
	c.mu.Unlock()
	return queue, deliveries, nil
}

func (c *consumer) run(queue string, deliveries <-chan amqp.Delivery) {
	defer close(c.done)
	for {
		for d := range deliveries {
			c.handle(queue, d)
		}
		if c.ctx.Err() != nil {
			return
		}
		// The broker may have cancelled the consumer (its queue deleted)
		// and left the channel open: it is not used again.
		c.mu.Lock()
		lost := c.ch
		c.mu.Unlock()
		_ = lost.Close()
		c.b.log.Debug().Str("consumer", c.name).Msg("consumer channel lost; re-opening")
		delays := backoff.New(c.b.opts.BackoffMin, c.b.opts.BackoffMax)
		for {
			err := c.b.retry(c.ctx, func(conn *amqp.Connection) error {
				var err error
				queue, deliveries, err = c.open(conn)
				return err
			})
			if err == nil {
				break
			}
			if c.ctx.Err() != nil || errors.Is(err, network.ErrClosed) {
				return
			}
			delay := delays.Next()
			c.b.log.Warn().Err(err).Str("consumer", c.name).Dur("retry_in", delay).Msg("cannot restart consumer")
			if backoff.Sleep(c.ctx, delay) != nil {
				return
			}
		}
		if c.ctx.Err() != nil {
			// Closed while re-opening: Close may have cancelled the old
			// channel, not this one, and would wait for it forever.
			c.mu.Lock()
			ch := c.ch
			c.mu.Unlock()
			_ = ch.Close()
			return
		}
	}
}

// Drain stops the deliveries and waits for the message being handled
// (network.Drainer). The channel stays open until Close, so that the
// messages handled can still be acknowledged.
func (c *consumer) Drain() error {
	c.drained.Do(func() {
		c.cancel()
		c.mu.Lock()
		ch, tag := c.ch, c.tag
		c.mu.Unlock()
		if ch != nil {
			_ = ch.Cancel(tag, false)
		}
		<-c.done
	})
	return nil
}

// Close stops the consumer and waits for the message being handled.
// Messages prefetched but not handled, and those handled but not
// acknowledged, go back to the queue.
func (c *consumer) Close() error {
	_ = c.Drain()
	c.mu.Lock()
	ch := c.ch
	c.mu.Unlock()
	if ch != nil {
		_ = ch.Close()
	}
	return nil
}

// delivery is a network.Delivery: what of an amqp.Delivery settling it
// needs (not the whole of it, some 300 bytes, on every message).
type delivery struct {
	queue string
	body  []byte
	ch    amqp.Acknowledger
	tag   uint64
}

// A delivery can be requeued (the participant SDK and `receive` ask).
var _ network.Requeuer = (*delivery)(nil)

func newDelivery(queue string, d *amqp.Delivery) *delivery {
	return &delivery{queue: queue, body: d.Body, ch: d.Acknowledger, tag: d.DeliveryTag}
}

func (d *delivery) Queue() string { return d.queue }
func (d *delivery) Data() []byte  { return d.body }
func (d *delivery) Ack() error    { return d.ch.Ack(d.tag, false) }

// AckMultiple acknowledges the message and every earlier one of the
// consumer not acknowledged or refused yet.
func (d *delivery) AckMultiple() error { return d.ch.Ack(d.tag, true) }

// Nack refuses the message without requeueing: it goes to the queue's
// dead-letter exchange (dead-QUEUE) when there is one, else it is dropped.
func (d *delivery) Nack() error { return d.ch.Nack(d.tag, false, false) }

// Requeue gives the message back to the queue, to be delivered again (to
// this consumer or another): for a message that did not fail but whose
// outputs could not be confirmed.
func (d *delivery) Requeue() error { return d.ch.Nack(d.tag, false, true) }

// Consume implements network.Broker.
func (b *Broker) Consume(ctx context.Context, queue string, prefetch int, handler network.Handler) (network.Subscription, error) {
	if prefetch <= 0 {
		prefetch = b.opts.Prefetch
	}
	return b.startConsumer(ctx, &consumer{
		name:     queue,
		prefetch: prefetch,
		prepare: func(ch *amqp.Channel) (string, error) {
			// After a reconnect a non-persistent queue may be gone (or go
			// once the broker has noticed the old connection is), and its
			// bindings with it: declare and bind again before consuming.
			b.decl.mu.Lock()
			o, declared := b.decl.inports[queue]
			var sources []string
			srcOpts := map[string]network.QueueOptions{}
			for bd := range b.decl.bindings {
				if bd[1] == queue {
					sources = append(sources, bd[0])
					if so, ok := b.decl.outports[bd[0]]; ok {
						srcOpts[bd[0]] = so
					}
				}
			}
			b.decl.mu.Unlock()
			if declared {
				if err := b.declareInport(ch, queue, o); err != nil {
					return "", err
				}
			}
			for _, src := range sources {
				if so, ok := srcOpts[src]; ok {
					if err := declareOutport(ch, src, so); err != nil {
						return "", err
					}
				}
				if err := ch.QueueBind(queue, "", src, false, nil); err != nil {
					return "", fmt.Errorf("bind %s -> %s: %w", src, queue, err)
				}
			}
			return queue, nil
		},
		handle: func(q string, d amqp.Delivery) { handler(newDelivery(q, &d)) },
	})
}

// Tap implements network.Broker: a private, exclusive, auto-deleted queue
// bound to the outport's exchange.
func (b *Broker) Tap(ctx context.Context, exchange string, handler network.DataHandler) (network.Subscription, error) {
	return b.startConsumer(ctx, &consumer{
		name:    "tap " + exchange,
		autoAck: true,
		prepare: func(ch *amqp.Channel) (string, error) {
			b.decl.mu.Lock()
			o, ours := b.decl.outports[exchange]
			b.decl.mu.Unlock()
			if ours {
				if err := declareOutport(ch, exchange, o); err != nil {
					return "", err
				}
			}
			q, err := ch.QueueDeclare("", false, true, true, false, nil)
			if err != nil {
				return "", fmt.Errorf("declare tap queue: %w", err)
			}
			if err := ch.QueueBind(q.Name, "", exchange, false, nil); err != nil {
				return "", fmt.Errorf("tap %s: %w", exchange, err)
			}
			return q.Name, nil
		},
		handle: func(_ string, d amqp.Delivery) { handler(exchange, d.Body) },
	})
}

// TapExchange implements network.Broker: as Tap, but the exchange is
// declared with opts before every bind and is not remembered, so that a
// participant's auto-deleted exchange stays alive while the tap lives and
// goes with it.
func (b *Broker) TapExchange(ctx context.Context, exchange string, opts network.QueueOptions, handler network.DataHandler) (network.Subscription, error) {
	return b.startConsumer(ctx, &consumer{
		name:    "tap " + exchange,
		autoAck: true,
		prepare: func(ch *amqp.Channel) (string, error) {
			if err := declareOutport(ch, exchange, opts); err != nil {
				return "", err
			}
			q, err := ch.QueueDeclare("", false, true, true, false, nil)
			if err != nil {
				return "", fmt.Errorf("declare tap queue: %w", err)
			}
			if err := ch.QueueBind(q.Name, "", exchange, false, nil); err != nil {
				return "", fmt.Errorf("tap %s: %w", exchange, err)
			}
			return q.Name, nil
		},
		handle: func(_ string, d amqp.Delivery) { handler(exchange, d.Body) },
	})
}

// ExchangeExists implements network.Broker with a passive declare on a
// channel of its own: RabbitMQ closes the channel when the exchange is
// missing, which must not disturb the shared ones.
func (b *Broker) ExchangeExists(ctx context.Context, name string) (bool, error) {
	var exists bool
	err := b.retry(ctx, func(conn *amqp.Connection) error {
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		defer ch.Close()
		err = ch.ExchangeDeclarePassive(name, "fanout", false, false, false, false, nil)
		var ae *amqp.Error
		switch {
		case err == nil:
			exists = true
			return nil
		case errors.As(err, &ae) && ae.Code == amqp.NotFound:
			exists = false
			return nil
		default:
			return fmt.Errorf("check exchange %s: %w", name, err)
		}
	})
	return exists, err
}
