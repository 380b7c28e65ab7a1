package brokertest_test

import (
	"context"
	"net/url"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// RefuseConfirms turns the next confirms RabbitMQ sends into refusals, one
// per publish however the frames are cut into reads, and leaves the rest
// (and every other frame) alone.
func TestProxyRefusesConfirms(t *testing.T) {
	u, err := url.Parse(brokertest.RabbitMQURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := brokertest.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	conn, err := amqp.Dial(u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	publish := func() bool {
		t.Helper()
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", q.Name, false, false, amqp.Publishing{Body: []byte(`"x"`)})
		if err != nil {
			t.Fatal(err)
		}
		return dc.Wait()
	}
	if !publish() {
		t.Fatal("refused before RefuseConfirms")
	}
	proxy.RefuseConfirms(2)
	for i := range 2 {
		if publish() {
			t.Fatalf("publish %d after RefuseConfirms(2) confirmed", i)
		}
	}
	if !publish() {
		t.Fatal("the third publish after RefuseConfirms(2) refused")
	}
	if got := proxy.RefusedConfirms(); got != 2 {
		t.Fatalf("RefusedConfirms %d, want 2", got)
	}
	// The broker has all four: the connection is as healthy as before.
	if n, err := ch.QueueDeclarePassive(q.Name, false, true, true, false, nil); err != nil || n.Messages != 4 {
		t.Fatalf("queue has %d messages (%v), want 4", n.Messages, err)
	}
}
