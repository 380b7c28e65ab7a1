package mqtt_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

func TestConformanceMosquitto(t *testing.T) {
	url := brokertest.MosquittoURL(t)
	open := func(t *testing.T) network.Broker {
		b, err := mqtt.Dial(context.Background(), url, mqtt.Options{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	brokertest.Run(t, open)
	brokertest.RunParticipant(t, open)
}

func TestDialErrors(t *testing.T) {
	for _, url := range []string{"amqp://localhost", "::bad", "mqtt://127.0.0.1:1"} {
		if b, err := mqtt.Dial(context.Background(), url, mqtt.Options{Logger: zerolog.Nop(), ConnectTimeout: 1e9}); err == nil {
			b.Close()
			t.Errorf("Dial(%q) succeeded", url)
		}
	}
}
