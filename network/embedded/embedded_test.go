package embedded_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
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

// The TCP listener lets in only clients with the credentials in URL:
// anonymous clients and wrong passwords are refused.
func TestTCPNeedsCredentials(t *testing.T) {
	srv := start(t)
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	if u.User.Username() == "" || len(pass) < 32 {
		t.Fatalf("URL %s carries no generated credentials", srv.URL())
	}
	connect := func(user, password string) error {
		o := paho.NewClientOptions().AddBroker("tcp://" + u.Host).SetClientID(brokertest.Role("cred")).
			SetUsername(user).SetPassword(password).SetConnectRetry(false).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(30 * time.Second) {
			t.Fatal("no answer to CONNECT")
		}
		if tok.Error() == nil {
			c.Disconnect(0)
		}
		return tok.Error()
	}
	for name, cred := range map[string][2]string{
		"anonymous":      {"", ""},
		"user only":      {u.User.Username(), ""},
		"wrong password": {u.User.Username(), pass[:len(pass)-1] + "x"},
		"wrong user":     {"guest", pass},
	} {
		if err := connect(cred[0], cred[1]); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
	if err := connect(u.User.Username(), pass); err != nil {
		t.Fatalf("with the URL's credentials: %v", err)
	}
	// Two servers never share a password.
	if other := start(t); other.URL()[:len("mqtt://msgflo:")+32] == srv.URL()[:len("mqtt://msgflo:")+32] {
		t.Fatal("two servers generated the same password")
	}
}
