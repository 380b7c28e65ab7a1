package amqp_test

import (
	"context"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/participant"
)

// A consumer drained stops its deliveries but keeps its channel: a message
// handled before can still be acknowledged, and stays acknowledged after
// Close (an acknowledgement after Close would be lost and the message
// delivered again: what a participant's held acknowledgements met when it
// stopped).
func TestDrainedConsumerStillAcknowledges(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	b := dialVia(t, url)
	ctx := context.Background()
	queue := brokertest.Role("drain") + ".IN"
	must(t, b.DeclareInport(ctx, queue, network.QueueOptions{}))
	got := make(chan network.Delivery, 1)
	sub, err := b.Consume(ctx, queue, 10, func(d network.Delivery) { got <- d })
	must(t, err)
	must(t, b.Send(ctx, queue, []byte(`"x"`)))
	var d network.Delivery
	select {
	case d = <-got:
	case <-time.After(brokertest.Timeout):
		t.Fatal("nothing delivered")
	}
	dr, ok := sub.(network.Drainer)
	if !ok {
		t.Fatal("an AMQP consumer is not a network.Drainer")
	}
	must(t, dr.Drain())
	if err := d.Ack(); err != nil {
		t.Fatalf("ack after Drain: %v", err)
	}
	must(t, sub.Close())
	ch := rawChannel(t, url)
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	must(t, err)
	if q.Messages != 0 {
		t.Fatalf("%d messages back in the queue: the acknowledgement after Drain was lost", q.Messages)
	}
}

// A participant stopped right after its output came out acknowledges the
// input before its channel closes: nothing goes back to the queue to be
// processed a second time by the next participant of the role (as fbp-spec
// saw: each case got the output of the case before).
func TestStoppedParticipantLeavesNothingToRedeliver(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	b := dialVia(t, url)
	ctx := context.Background()
	role := brokertest.Role("stopacks")
	rep, _ := participant.LookupCore("core/Repeat")
	p, err := participant.New(b, rep, role, participant.Options{})
	must(t, err)
	must(t, p.Declare(ctx))
	out := sink(t, b, role+".OUT")
	must(t, p.Start(ctx))
	must(t, b.Send(ctx, role+".IN", []byte(`"x"`)))
	out.Expect(t, `"x"`)
	must(t, p.Stop(ctx))
	ch := rawChannel(t, url)
	q, err := ch.QueueDeclarePassive(role+".IN", true, false, false, false, nil)
	must(t, err)
	if q.Messages != 0 {
		t.Fatalf("%d messages back in %s after the participant stopped: its acknowledgement was lost", q.Messages, role+".IN")
	}
}
