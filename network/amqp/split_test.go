package amqp_test

import (
	"context"
	"testing"

	"github.com/msgflo/msgflo-runtime/network"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// A split shares what its Broker declared and bound. When only the split's
// connection drops, the non-persistent queue its consumer reads goes with
// it, and so do the queue's bindings, made on the Broker (whose connection
// stays up and restores nothing): the consumer declares the queue again
// and binds it again to the Broker's sources before it consumes again.
// (What is published meanwhile is lost, as it is for any non-persistent
// queue whose consumer is away: the probes.)
func TestSplitBindsAgainWhatItsBrokerBound(t *testing.T) {
	direct, through, proxy := proxied(t)
	b := dialVia(t, direct)
	defer b.Close()
	ctx := context.Background()
	s, err := msgamqp.SplitVia(ctx, b, through)
	must(t, err)
	defer s.Close()
	events := connectionEvents(s)
	src, tgt := brokertest.Role("a")+".OUT", brokertest.Role("b")+".IN"
	np := network.QueueOptions{NonPersistent: true}
	must(t, b.DeclareOutport(ctx, src, network.QueueOptions{}))
	must(t, s.DeclareInport(ctx, tgt, np))
	must(t, b.Bind(ctx, src, tgt))
	in := brokertest.NewInbox(100)
	sub, err := s.Consume(ctx, tgt, 0, in.Ack)
	must(t, err)
	defer sub.Close()
	must(t, b.Publish(ctx, src, []byte(`1`)))
	in.Expect(t, `1`)

	for round := range 2 {
		proxy.Cut()
		waitConnection(t, events, false)
		waitConnection(t, events, true)
		probe(t, b, src, in)
		v := []byte{'2' + byte(round)}
		must(t, b.Publish(ctx, src, v))
		expectAfterProbes(t, in, string(v))
	}
	if proxy.Accepted() < 3 {
		t.Fatalf("the split never reconnected through the proxy (%d connections)", proxy.Accepted())
	}
}
