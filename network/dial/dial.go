// Package dial opens a network.Broker from a broker URL.
package dial

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

// Options configure Open.
type Options struct {
	// ClientID is used where the transport has one (MQTT).
	ClientID string
	// PersistentSession asks MQTT for a session that outlives the
	// connection (see mqtt.Options.PersistentSession): participants and
	// the runtime use one; tools that only publish or peek do not.
	PersistentSession bool
	// QueueType is the type of the durable queues declared on RabbitMQ
	// (amqp.QueueTypeClassic or amqp.QueueTypeQuorum; "" is classic).
	// MQTT has no queue types: quorum there is an error.
	QueueType string
	Logger    zerolog.Logger
}

// Open connects to the broker at rawURL: amqp:// or amqps:// for RabbitMQ,
// mqtt:// or tcp:// for MQTT, mqtts:// (or ssl://, tls://) for MQTT over TLS.
// rawURL may be a comma-separated list of URLs of one kind, the nodes of a
// cluster: the first that answers is used, the next ones after a drop.
func Open(ctx context.Context, rawURL string, opts Options) (network.Broker, error) {
	urls := network.SplitURLs(rawURL)
	if len(urls) == 0 {
		return nil, errors.New("no broker URL given")
	}
	if err := amqp.CheckQueueType(opts.QueueType); err != nil {
		return nil, err
	}
	var scheme string
	for _, one := range urls {
		u, err := url.Parse(one)
		if err != nil {
			return nil, network.BrokerURLError(one, err)
		}
		kind := u.Scheme
		switch kind {
		case "mqtt", "tcp", "mqtts", "ssl", "tls":
			kind = "mqtt"
		case "amqp", "amqps":
			kind = "amqp"
		}
		if scheme != "" && kind != scheme {
			return nil, fmt.Errorf("broker URLs %q: all must be amqp(s):// or all mqtt(s)://", network.RedactURL(rawURL))
		}
		scheme = kind
	}
	switch scheme {
	case "mqtt":
		if opts.QueueType == amqp.QueueTypeQuorum {
			return nil, errors.New("queue type quorum is for RabbitMQ (amqp://); MQTT brokers have no queue types")
		}
		return mqtt.Dial(ctx, rawURL, mqtt.Options{ClientID: opts.ClientID, PersistentSession: opts.PersistentSession, Logger: opts.Logger})
	case "amqp":
		return amqp.Dial(ctx, rawURL, amqp.Options{QueueType: opts.QueueType, Logger: opts.Logger})
	default:
		return nil, fmt.Errorf("broker URL %q: unknown scheme %q (want amqp://, amqps://, mqtt:// or mqtts://)", network.RedactURL(rawURL), scheme)
	}
}
