package amqp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// tlsFront terminates TLS in front of the test RabbitMQ (whose listener is
// plain): what a RabbitMQ with a TLS listener does, without reconfiguring
// the shared broker. It returns its address and a pool trusting its
// certificate.
func tlsFront(t *testing.T, backend string) (addr string, roots *x509.CertPool) {
	t.Helper()
	cert, roots := brokertest.SelfSigned(t, "amqps test front")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			front, err := ln.Accept()
			if err != nil {
				return
			}
			back, err := net.Dial("tcp", backend)
			if err != nil {
				front.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, front, back)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(back, front); back.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(front, back); front.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), roots
}

// amqps:// connects over TLS, checking the broker's certificate, and
// passes the conformance suite that way.
func TestConformanceOverTLS(t *testing.T) {
	plain, err := url.Parse(brokertest.RabbitMQURL(t))
	if err != nil {
		t.Fatal(err)
	}
	addr, roots := tlsFront(t, plain.Host)
	secure := *plain
	secure.Scheme, secure.Host = "amqps", addr
	open := func(t *testing.T) network.Broker {
		b, err := msgamqp.Dial(context.Background(), secure.String(), msgamqp.Options{Logger: zerolog.Nop(), DiscoveryQueue: discoveryQueue, TLSConfig: &tls.Config{RootCAs: roots}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	brokertest.Run(t, open)

	for name, u := range map[string]string{
		"untrusted certificate": secure.String(),
		"plain amqp://":         (&url.URL{Scheme: "amqp", User: plain.User, Host: addr, Path: plain.Path}).String(),
	} {
		if b, err := msgamqp.Dial(context.Background(), u, msgamqp.Options{Logger: zerolog.Nop(), DiscoveryQueue: discoveryQueue, ConnectTimeout: 5 * time.Second}); err == nil {
			b.Close()
			t.Errorf("%s: connected", name)
		}
	}
}
