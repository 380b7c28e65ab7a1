package amqp

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/msgflo/msgflo-runtime/network"
)

// Discovery on RabbitMQ, so that every coordinator sees every participant.
//
// msgflo's participants send their announcements to the durable queue
// "fbp", and a queue gives each message to one consumer only: with two
// coordinators, each would see a part of the participants. So:
//
//   - The fanout exchange "fbp.discovery" (network.DiscoveryExchange) is
//     where announcements are published for every coordinator. The "fbp"
//     queue is bound to it, so coordinators that only read "fbp" (msgflo's)
//     still get them.
//   - Announce (the Go participants, the runtime's in-process ones, the
//     register tool) publishes to that exchange, marked with the header
//     fanoutHeader.
//   - SubscribeDiscovery (a coordinator) reads its own exclusive,
//     auto-deleted queue bound to the exchange: it gets every announcement
//     published there. It also consumes "fbp", as msgflo's coordinator does,
//     and relays to the exchange what it takes from there unmarked (the
//     announcements of msgflo-nodejs, msgflo-python... participants, sent to
//     the queue directly); marked messages in "fbp" are copies of what the
//     exchange already delivered and are dropped. Only unmarked messages are
//     relayed, and the relayed copy is marked, so nothing goes round twice:
//     each coordinator gets each announcement once, whichever of them took
//     it from "fbp".
//   - Except a marked announcement published before the coordinator's own
//     queue was bound (announcedAtHeader, the publisher's clock): the
//     exchange could not deliver it, so its copy in "fbp" is handled. Go
//     participants that started before the runtime are thus discovered at
//     once, as msgflo's are, not at their next announcement; unless it is
//     older than maxEarlyAge (its participant has announced itself again
//     since, or is gone). (A publisher
//     whose clock is behind may make such a copy a duplicate, which is
//     harmless: an announcement only refreshes what is known.)

// fanoutHeader marks an announcement that went through the discovery
// exchange (its copy in "fbp" must not be relayed again).
const fanoutHeader = "msgflo-fanout"

// announcedAtHeader carries the time an announcement was published to the
// discovery exchange (Unix milliseconds).
const announcedAtHeader = "msgflo-announced-at"

// maxEarlyAge bounds the age of the announcements published before a
// coordinator listened that it handles: a participant that still runs has
// announced itself again since (every 60 s by default); older ones are of
// participants long gone, which "fbp" keeps while no coordinator reads it.
const maxEarlyAge = 2 * time.Minute

func fanoutMark() amqp.Table {
	return amqp.Table{fanoutHeader: true, announcedAtHeader: time.Now().UnixMilli()}
}

// relayTimeout bounds the relay of one announcement; one not relayed in
// time goes back to the queue for the next taker.
const relayTimeout = 10 * time.Second

func (b *Broker) discoveryExchange() string {
	if b.opts.DiscoveryQueue == network.DiscoveryQueue {
		return network.DiscoveryExchange
	}
	return b.opts.DiscoveryQueue + ".discovery"
}

// declareDiscovery declares the discovery queue and exchange, the queue
// bound to the exchange.
func (b *Broker) declareDiscovery(ch *amqp.Channel) error {
	if err := ch.ExchangeDeclare(b.discoveryExchange(), "fanout", true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare discovery exchange: %w", err)
	}
	if err := b.declareQueue(ch, b.opts.DiscoveryQueue, true, false, nil); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if err := ch.QueueBind(b.opts.DiscoveryQueue, "", b.discoveryExchange(), false, nil); err != nil {
		return fmt.Errorf("bind discovery queue: %w", err)
	}
	return nil
}

// Announce implements network.Broker: to the discovery exchange, so every
// coordinator (and the "fbp" queue) gets it.
func (b *Broker) Announce(ctx context.Context, msg []byte) error {
	if err := b.withTopo(ctx, b.declareDiscovery); err != nil {
		return err
	}
	return b.publishHeaders(ctx, b.discoveryExchange(), "", msg, fanoutMark())
}

// SubscribeDiscovery implements network.Broker: every announcement, once,
// from this subscriber's own queue on the discovery exchange; and, as a
// relay for the others, the "fbp" queue.
func (b *Broker) SubscribeDiscovery(ctx context.Context, handler network.DataHandler) (network.Subscription, error) {
	q := b.opts.DiscoveryQueue
	// boundAt is when the own queue was last bound (Unix milliseconds):
	// announcements published before it reached "fbp" only.
	var boundAt atomic.Int64
	own, err := b.startConsumer(ctx, &consumer{
		name:     "discovery",
		prefetch: 100,
		prepare: func(ch *amqp.Channel) (string, error) {
			if err := b.declareDiscovery(ch); err != nil {
				return "", err
			}
			mine, err := ch.QueueDeclare("", false, true, true, false, nil)
			if err != nil {
				return "", fmt.Errorf("declare own discovery queue: %w", err)
			}
			if err := ch.QueueBind(mine.Name, "", b.discoveryExchange(), false, nil); err != nil {
				return "", fmt.Errorf("bind own discovery queue: %w", err)
			}
			boundAt.Store(time.Now().UnixMilli())
			return mine.Name, nil
		},
		handle: func(_ string, d amqp.Delivery) {
			handler(q, d.Body)
			_ = d.Ack(false)
		},
	})
	if err != nil {
		return nil, err
	}
	relay, err := b.startConsumer(ctx, &consumer{
		name:     "discovery relay",
		prefetch: 100,
		prepare: func(ch *amqp.Channel) (string, error) {
			return q, b.declareDiscovery(ch)
		},
		handle: func(_ string, d amqp.Delivery) {
			if marked, _ := d.Headers[fanoutHeader].(bool); marked {
				if at, ok := d.Headers[announcedAtHeader].(int64); ok && at < boundAt.Load() && time.Now().UnixMilli()-at < maxEarlyAge.Milliseconds() {
					handler(q, d.Body) // published before this coordinator listened
				}
				_ = d.Ack(false) // otherwise delivered by the exchange already
				return
			}
			// Not the subscriber's ctx: it may have been a start-up
			// deadline; the relay lives as long as the subscription.
			rctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
			defer cancel()
			if err := b.publishHeaders(rctx, b.discoveryExchange(), "", d.Body, fanoutMark()); err != nil {
				b.log.Warn().Err(err).Msg("cannot relay a discovery message to the discovery exchange; another coordinator will take it")
				_ = d.Nack(false, true)
				return
			}
			_ = d.Ack(false)
		},
	})
	if err != nil {
		own.Close()
		return nil, err
	}
	return subscriptions{own, relay}, nil
}

// subscriptions closes several subscriptions as one.
type subscriptions []network.Subscription

func (s subscriptions) Close() error {
	for _, sub := range s {
		_ = sub.Close()
	}
	return nil
}
