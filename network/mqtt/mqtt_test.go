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

// A publish waits until it leaves paho's store, found by a key paho does
// not export ("o." and the message id): if paho named it otherwise, the
// wait would be skipped without a word, and a publish re-sent after a
// reconnect counted as acknowledged too early.
// The broker's acknowledgement is held back (it would delete the publish
// from the store before the test looks).
func TestPublishIsFoundInPahoStore(t *testing.T) {
	url, proxy := proxiedURL(t, brokertest.MosquittoURL(t))
	b, err := mqtt.Dial(context.Background(), url, mqtt.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	proxy.HoldReplies()
	if !mqtt.PublishFoundInStore(b, "msgflo-test/storekey", []byte(`1`)) {
		t.Fatal("the publish was not in paho's store under o.MID")
	}
}
