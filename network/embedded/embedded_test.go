package embedded_test

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

func start(t *testing.T) *embedded.Server {
	t.Helper()
	srv, err := embedded.Start(context.Background(), embedded.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestConformanceInline(t *testing.T) {
	srv := start(t)
	brokertest.Run(t, func(*testing.T) network.Broker { return srv.Broker() })
	brokertest.RunParticipant(t, func(*testing.T) network.Broker { return srv.Broker() })
}

// Other processes reach the embedded broker over TCP, as they would reach
// Mosquitto.
func TestConformanceTCP(t *testing.T) {
	srv := start(t)
	open := func(t *testing.T) network.Broker {
		b, err := mqtt.Dial(context.Background(), srv.URL(), mqtt.Options{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	brokertest.Run(t, open)
	brokertest.RunParticipant(t, open)
}

// An in-process connection and a TCP client see each other's messages.
func TestInlineAndTCPTogether(t *testing.T) {
	srv := start(t)
	inline := srv.Broker()
	defer inline.Close()
	remote, err := mqtt.Dial(context.Background(), srv.URL(), mqtt.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	q := brokertest.Role("x") + ".IN"
	in := brokertest.NewInbox(2)
	sub, err := remote.Consume(context.Background(), q, 0, in.Ack)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := inline.Send(context.Background(), q, []byte(`"to remote"`)); err != nil {
		t.Fatal(err)
	}
	in.Expect(t, `"to remote"`)
}

func TestPortsAreDistinct(t *testing.T) {
	a, b := start(t), start(t)
	if a.URL() == b.URL() {
		t.Fatalf("two servers on one URL %s", a.URL())
	}
}
