package mqtt_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

// tlsBroker runs an MQTT broker (mochi, as the embedded one) that speaks
// only TLS, with a certificate made for the test, and returns its address
// and a pool trusting the certificate.
func tlsBroker(t *testing.T) (addr string, roots *x509.CertPool, serverTLS *tls.Config) {
	t.Helper()
	cert, roots := brokertest.SelfSigned(t, "mqtts test broker")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	tlsLn := tls.NewListener(ln, serverTLS)
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewNet("tls", tlsLn)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), roots, serverTLS
}

// tlsOnly is a TLS server that completes (or fails) the handshake and
// closes each connection: what an untrusting or plain-text client meets.
// It is not the MQTT broker, whose Close races with connections it is
// still refusing; this one waits for its own before the test ends.
func tlsOnly(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// mqtts:// connects over TLS, checking the broker's certificate, and the
// broker passes the whole conformance suite that way.
func TestConformanceOverTLS(t *testing.T) {
	addr, roots, serverTLS := tlsBroker(t)
	url := "mqtts://" + addr
	open := func(t *testing.T) network.Broker {
		b, err := mqtt.Dial(context.Background(), url, mqtt.Options{Logger: zerolog.Nop(), TLSConfig: &tls.Config{RootCAs: roots}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	brokertest.Run(t, open)

	// Without trusting the certificate, or in plain text, no connection.
	addr = tlsOnly(t, serverTLS)
	url = "mqtts://" + addr
	for name, tc := range map[string]struct {
		url  string
		opts mqtt.Options
	}{
		"untrusted certificate": {url, mqtt.Options{Logger: zerolog.Nop(), ConnectTimeout: 5 * time.Second}},
		"plain mqtt://":         {"mqtt://" + addr, mqtt.Options{Logger: zerolog.Nop(), ConnectTimeout: 5 * time.Second}},
	} {
		if b, err := mqtt.Dial(context.Background(), tc.url, tc.opts); err == nil {
			b.Close()
			t.Errorf("%s: connected", name)
		}
	}
}
