package main

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

// The embedded broker's listener takes the credentials of the ready line's
// URL and no anonymous client; the password is shown on that line only.
func TestEmbeddedBrokerNeedsTheReadyLineCredentials(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER=", "CLOUDAMQP_URL=", "DEBUG=msgflo*"}, "--port", "0")
	_, broker := p.ready(t)
	if !embeddedURL.MatchString(broker) {
		t.Fatalf("embedded broker URL %q", broker)
	}
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()

	// Anonymous: refused.
	o := paho.NewClientOptions().AddBroker("tcp://" + u.Host).SetClientID("anon" + uuid.New()[:8]).
		SetConnectRetry(false).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(30*time.Second) || tok.Error() == nil {
		c.Disconnect(0)
		t.Fatalf("an anonymous client connected to the embedded broker (%v)", tok.Error())
	}
	// With the URL: a participant joins.
	b, err := mqtt.Dial(context.Background(), broker, mqtt.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatalf("with the ready line's URL: %v", err)
	}
	b.Close()

	p.signalAndWait(t, syscall.SIGTERM)
	if log := p.stderrText(); strings.Contains(log, pass) {
		t.Fatalf("the broker password is in the log:\n%s", log)
	}
	if !strings.Contains(p.stderrText(), "embedded broker refused a client without its credentials") {
		t.Fatalf("the refused client is not logged:\n%s", p.stderrText())
	}
}

// --embedded-port and --embedded-host place the embedded broker's listener:
// the ready line's URL names them and a participant joins there.
func TestEmbeddedHostAndPortFlags(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // a free port for the broker
	p := start(t, []string{"MSGFLO_BROKER=", "CLOUDAMQP_URL="}, "--port", "0", "--embedded-host", "127.0.0.1", "--embedded-port", port)
	_, broker := p.ready(t)
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "127.0.0.1:"+port {
		t.Fatalf("embedded broker URL %q, want host 127.0.0.1:%s", broker, port)
	}
	b, err := mqtt.Dial(context.Background(), broker, mqtt.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatalf("with the ready line's URL: %v", err)
	}
	b.Close()
}
