package mqtt_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

// closingConn is a connection whose Subscribe is under way until Close
// and then fails, as paho's does when the client disconnects under it.
type closingConn struct {
	subscribing chan struct{} // closed when Subscribe has begun
	closed      chan struct{}
	once        sync.Once
}

func (c *closingConn) Publish(context.Context, string, []byte) error { return nil }

func (c *closingConn) Subscribe(context.Context, string, func(string, []byte)) error {
	close(c.subscribing)
	<-c.closed
	return errors.New("connection closed")
}

func (c *closingConn) Unsubscribe(context.Context, string) error { return nil }

func (c *closingConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// Closing the broker while a consumer's subscription is under way fails
// that Consume (the connection closes under it); it does not panic on
// the topic Close forgot.
func TestCloseDuringConsume(t *testing.T) {
	conn := &closingConn{subscribing: make(chan struct{}), closed: make(chan struct{})}
	b := mqtt.NewBroker(conn, "mqtt://test", zerolog.Nop())
	done := make(chan error, 1)
	go func() {
		_, err := b.Consume(context.Background(), "close-during-consume", 1, func(network.Delivery) {})
		done <- err
	}()
	select {
	case <-conn.subscribing:
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not subscribe")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Consume succeeded on a closed broker")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return after Close")
	}
}
