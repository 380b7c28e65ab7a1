package amqp_test

import (
	"context"
	"errors"
	"io"
	"net"
	neturl "net/url"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// reconnectFront is a TCP front to RabbitMQ that forwards the first
// connection at once and holds the second (a reconnection) until release
// is closed.
type reconnectFront struct {
	url     string
	first   chan net.Conn // the first connection, client side
	held    chan struct{} // closed once the second connection is held
	release chan struct{} // close to let it through
	closed  chan struct{} // closed once the client closed the second
}

func newReconnectFront(t *testing.T) *reconnectFront {
	direct := brokertest.RabbitMQURL(t)
	u, err := neturl.Parse(direct)
	must(t, err)
	target := u.Host
	if u.Port() == "" {
		target += ":5672"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	f := &reconnectFront{
		first:   make(chan net.Conn, 1),
		held:    make(chan struct{}),
		release: make(chan struct{}),
		closed:  make(chan struct{}),
	}
	t.Cleanup(func() {
		select {
		case <-f.release:
		default:
			close(f.release)
		}
	})
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			switch n {
			case 0:
				f.first <- c
			case 1:
				close(f.held)
				<-f.release
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			go func() { _, _ = io.Copy(c, up); c.Close() }()
			go func() {
				_, _ = io.Copy(up, c) // until the client closes c
				up.Close()
				if n == 1 {
					close(f.closed)
				}
			}()
		}
	}()
	v := *u
	v.Host = ln.Addr().String()
	f.url = v.String()
	return f
}

// lose breaks the first connection and waits for the reconnection to be
// held.
func (f *reconnectFront) lose(t *testing.T) {
	t.Helper()
	(<-f.first).Close()
	select {
	case <-f.held:
	case <-time.After(brokertest.Timeout):
		t.Fatal("the broker never reconnected")
	}
}

// A Broker closed while it reconnects does not keep the connection that
// reconnection then makes: Close closes it (the connection was left open,
// heartbeating for ever, and the listeners were told it was up).
func TestCloseWhileReconnectingLeavesNoConnection(t *testing.T) {
	f := newReconnectFront(t)
	b := dialVia(t, f.url)
	f.lose(t)
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	// Close has begun once the Broker refuses to publish.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	deadline := time.After(brokertest.Timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !errors.Is(b.Send(gone, "nowhere", nil), network.ErrClosed) {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("Close never began")
		}
	}
	close(f.release)
	select {
	case <-closed:
	case <-time.After(brokertest.Timeout):
		t.Fatal("Close did not return")
	}
	select {
	case <-f.closed:
	case <-time.After(brokertest.Timeout):
		t.Fatal("the connection made while the broker was closed is still open")
	}
}

// Close does not wait for a reconnection under way to end: it ends it
// (it waited for the AMQP handshake, up to ConnectTimeout for each node).
func TestCloseEndsAReconnection(t *testing.T) {
	f := newReconnectFront(t)
	b := dialOpts(t, f.url, msgamqp.Options{ConnectTimeout: time.Hour})
	f.lose(t)
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case <-closed:
	case <-time.After(brokertest.Timeout):
		t.Fatal("Close waits for the reconnection under way")
	}
	close(f.release)
	select {
	case <-f.closed:
	case <-time.After(brokertest.Timeout):
		t.Fatal("the connection of the reconnection is still open")
	}
}
