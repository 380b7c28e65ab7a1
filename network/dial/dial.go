// Package dial opens a network.Broker from a broker URL.
package dial

import (
	"context"
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
	Logger            zerolog.Logger
}

// Open connects to the broker at rawURL: amqp:// or amqps:// for RabbitMQ,
// mqtt:// or tcp:// for MQTT, mqtts:// (or ssl://, tls://) for MQTT over TLS.
func Open(ctx context.Context, rawURL string, opts Options) (network.Broker, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("broker URL %q: %w", network.RedactURL(rawURL), err)
	}
	switch u.Scheme {
	case "mqtt", "tcp", "mqtts", "ssl", "tls":
		return mqtt.Dial(ctx, rawURL, mqtt.Options{ClientID: opts.ClientID, PersistentSession: opts.PersistentSession, Logger: opts.Logger})
	case "amqp", "amqps":
		return amqp.Dial(ctx, rawURL, amqp.Options{Logger: opts.Logger})
	default:
		return nil, fmt.Errorf("broker URL %q: unknown scheme %q (want amqp://, amqps://, mqtt:// or mqtts://)", network.RedactURL(rawURL), u.Scheme)
	}
}
