package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/embedded"
)

// Close disconnects every client connected over TCP, those with a clean
// session and those with a persistent one, and returns. (It does so
// itself: mochi-mqtt v2.7.9's own way, Clients.GetByListener, takes the
// clients' read lock twice and deadlocked with a client going away, seen
// once in CI; that interleaving cannot be forced from outside mochi.)
func TestCloseDisconnectsEveryClient(t *testing.T) {
	srv, err := embedded.Start(context.Background(), embedded.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	addr := hostOf(t, srv.URL())
	var conns []net.Conn
	for _, clean := range []bool{true, false, true} {
		c, err := connect(addr, srv.URL(), clean)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(brokertest.Timeout):
		t.Fatal("Close did not return")
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(brokertest.Timeout))
		buf := make([]byte, 64)
		for {
			if _, err := c.Read(buf); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("client %d still connected after Close", i)
				}
				break // EOF or reset: disconnected (after the DISCONNECT, if sent)
			}
		}
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after Close")
	}
}

// connect connects as an MQTT 3.1.1 client with the URL's credentials and
// reads the CONNACK.
func connect(addr, rawURL string, clean bool) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, brokertest.Timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(brokertest.Timeout))
	user, pass := credentials(rawURL)
	flags := byte(0xC0) // user and password
	if clean {
		flags |= 0x02
	}
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 60}
	body = appendString(body, fmt.Sprintf("closer-%d", leavers.Add(1)))
	body = appendString(body, user)
	body = appendString(body, pass)
	if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		c.Close()
		return nil, err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("CONNACK %x: %v", ack, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

var leavers atomic.Int64

func hostOf(t *testing.T, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func credentials(rawURL string) (user, pass string) {
	u, _ := url.Parse(rawURL)
	p, _ := u.User.Password()
	return u.User.Username(), p
}

// appendString appends an MQTT UTF-8 string: two bytes of length, then s.
func appendString(b []byte, s string) []byte {
	return append(append(b, byte(len(s)>>8), byte(len(s))), s...)
}
