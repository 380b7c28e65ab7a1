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
	Logger   zerolog.Logger
}

// Open connects to the broker at rawURL: amqp:// or amqps:// for RabbitMQ,
// mqtt:// or tcp:// for MQTT.
func Open(ctx context.Context, rawURL string, opts Options) (network.Broker, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("broker URL %q: %w", redact(rawURL), err)
	}
	switch u.Scheme {
	case "mqtt", "tcp":
		return mqtt.Dial(ctx, rawURL, mqtt.Options{ClientID: opts.ClientID, Logger: opts.Logger})
	case "amqp", "amqps":
		return amqp.Dial(ctx, rawURL, amqp.Options{Logger: opts.Logger})
	default:
		return nil, fmt.Errorf("broker URL %q: unknown scheme %q (want amqp://, amqps:// or mqtt://)", redact(rawURL), u.Scheme)
	}
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
