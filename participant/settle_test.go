package participant_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/participant"
)

// settled is how a participant settled one delivery.
type settled struct {
	data     string
	ack      bool // false: nacked (or requeued)
	requeued bool
	multiple bool // acknowledged with every earlier one not settled yet
}

// recordingBroker is a real broker whose deliveries report how they are
// settled: the embedded (MQTT) broker's own Ack and Nack do nothing, so
// this is how a test on it tells an acknowledged message from a refused one.
// (On RabbitMQ, network/amqp's tests show a refused message dead-lettered.)
type recordingBroker struct {
	network.Broker
	settled chan settled
	// closing, when set, is closed when the first consumer's Close starts.
	closing chan struct{}
}

func newRecordingBroker(t *testing.T) *recordingBroker {
	return &recordingBroker{Broker: broker(t), settled: make(chan settled, 100)}
}

func (b *recordingBroker) Consume(ctx context.Context, queue string, prefetch int, h network.Handler) (network.Subscription, error) {
	sub, err := b.Broker.Consume(ctx, queue, prefetch, func(d network.Delivery) {
		h(&recordedDelivery{Delivery: d, to: b.settled})
	})
	if err != nil {
		return nil, err
	}
	return &recordedSubscription{Subscription: sub, closing: b.closing}, nil
}

type recordedDelivery struct {
	network.Delivery
	to chan<- settled
}

func (d *recordedDelivery) Ack() error {
	d.to <- settled{data: string(d.Data()), ack: true}
	return d.Delivery.Ack()
}

func (d *recordedDelivery) Nack() error {
	d.to <- settled{data: string(d.Data()), ack: false}
	return d.Delivery.Nack()
}

// Requeue makes the delivery a requeuer, as RabbitMQ's are.
func (d *recordedDelivery) Requeue() error {
	d.to <- settled{data: string(d.Data()), requeued: true}
	return nil
}

type recordedSubscription struct {
	network.Subscription
	closing chan struct{}
}

func (s *recordedSubscription) Close() error {
	if s.closing != nil {
		select {
		case <-s.closing:
		default:
			close(s.closing)
		}
	}
	return s.Subscription.Close()
}

// next waits for the next settlement.
func (b *recordingBroker) next(t *testing.T) settled {
	t.Helper()
	select {
	case s := <-b.settled:
		return s
	case <-time.After(brokertest.Timeout):
		t.Fatalf("no message settled within %s", brokertest.Timeout)
		return settled{}
	}
}

// A message whose processing fails, panics, sends on a port that does not
// exist or sends data that is not JSON is nacked, and nothing it tried to
// send goes out; the participant goes on with the next message, which is
// acknowledged. Messages on one inport are settled in order.
func TestFailuresAreNackedAndDoNotStop(t *testing.T) {
	b := newRecordingBroker(t)
	role := brokertest.Role("f")
	c := participant.Component{
		Name:     "test/Picky",
		Inports:  []participant.Port{{ID: "in"}},
		Outports: []participant.Port{{ID: "out"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			switch string(in.Data) {
			case `"fail"`:
				return errors.New("no")
			case `"panic"`:
				panic("boom")
			case `"badport"`:
				return out.Send("nope", in.Data)
			case `"badjson"`:
				return out.Send("out", json.RawMessage(`{`))
			case `"badutf8"`:
				return out.Send("out", json.RawMessage("\"\xff\""))
			}
			return out.Send("OUT", in.Data) // port names are case-insensitive
		},
	}
	p, err := participant.New(b, c, role, participant.Options{Prefetch: 1})
	must(t, err)
	must(t, p.Start(context.Background()))
	t.Cleanup(func() { p.Stop(context.Background()) })
	out := collect(t, b, role+".OUT")
	failing := []string{`"fail"`, `"panic"`, `"badport"`, `"badjson"`, `"badutf8"`}
	for _, v := range append(failing, `"ok"`) {
		must(t, b.Send(context.Background(), role+".IN", []byte(v)))
	}
	for _, v := range failing {
		if s := b.next(t); s.data != v || s.ack {
			t.Fatalf("settled %+v, want %s nacked", s, v)
		}
	}
	if s := b.next(t); s.data != `"ok"` || !s.ack {
		t.Fatalf("settled %+v, want \"ok\" acknowledged", s)
	}
	out.Expect(t, `"ok"`) // nothing from the failed ones came before it
}

// A message that is not JSON is data, as in msgflo-nodejs: the process
// function gets a JSON string of its text (bytes that are not UTF-8
// replaced as Node.js replaces them), and the message is acknowledged.
func TestNonJSONIsData(t *testing.T) {
	b := newRecordingBroker(t)
	role := brokertest.Role("nj")
	rep, _ := participant.LookupCore("core/Repeat")
	p, err := participant.New(b, rep, role, participant.Options{Prefetch: 1})
	must(t, err)
	must(t, p.Start(context.Background()))
	t.Cleanup(func() { p.Stop(context.Background()) })
	out := collect(t, b.Broker, role+".OUT") // its acks are not the participant's
	bodies := []string{`not json`, "\"b\xe2\x82d\"", `"ok"`}
	for _, v := range bodies {
		must(t, b.Send(context.Background(), role+".IN", []byte(v)))
	}
	for _, v := range bodies {
		if s := b.next(t); s.data != v || !s.ack {
			t.Fatalf("settled %+v, want %q acknowledged", s, v)
		}
	}
	out.Expect(t, `"not json"`, "\"b\ufffdd\"", `"ok"`)
}

// slowParticipantInProcess starts a participant and gives it one message,
// which its process function holds until release is closed.
func slowParticipantInProcess(t *testing.T) (b *recordingBroker, p *participant.Participant, release chan struct{}) {
	t.Helper()
	b = newRecordingBroker(t)
	b.closing = make(chan struct{})
	entered, release := make(chan struct{}), make(chan struct{})
	c := participant.Component{
		Name:    "test/Slow",
		Inports: []participant.Port{{ID: "in"}},
		Process: func(context.Context, participant.Input, participant.Output) error {
			close(entered)
			<-release
			return nil
		},
	}
	p, err := participant.New(b, c, brokertest.Role("slow"), participant.Options{})
	must(t, err)
	must(t, p.Start(context.Background()))
	must(t, p.Send(context.Background(), "in", json.RawMessage(`1`)))
	waitClosed(t, entered, "the message never reached the process function")
	return b, p, release
}

// Stop lets a message being processed finish, and it is acknowledged
// before Stop returns; a Stop whose context ends first says so instead of
// returning as if all was settled.
func TestStopFinishesInFlight(t *testing.T) {
	b, p, release := slowParticipantInProcess(t)

	// The message is still in process: a Stop that may not wait gives up.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Stop(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop with an ended context while a message is in process: %v, want context.Canceled", err)
	}
	select {
	case s := <-b.settled:
		t.Fatalf("settled %+v while still in process", s)
	default: // settling happens in the process' goroutine, which is blocked
	}
	close(release)
	if s := b.next(t); s.data != `1` || !s.ack {
		t.Fatalf("settled %+v, want 1 acknowledged", s)
	}
	must(t, p.Stop(context.Background())) // twice is fine
}

// Stop, given time, waits for the message in process and returns after it
// was acknowledged.
func TestStopWaitsForTheMessageInProcess(t *testing.T) {
	b, p, release := slowParticipantInProcess(t)
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(context.Background()) }()
	// Stop is under way (it closes the consumers first); only then does
	// the message finish.
	waitClosed(t, b.closing, "Stop never closed the consumer")
	close(release)
	select {
	case err := <-stopped:
		must(t, err)
	case <-time.After(brokertest.Timeout):
		t.Fatal("Stop did not return")
	}
	select {
	case s := <-b.settled:
		if s.data != `1` || !s.ack {
			t.Fatalf("settled %+v, want 1 acknowledged", s)
		}
	default:
		t.Fatal("Stop returned before the message in process was acknowledged")
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(brokertest.Timeout):
		t.Fatal(msg)
	}
}

// unconfirmingBroker confirms publishes asynchronously (network.
// AsyncPublisher) and its confirms fail as long as refuse is open: as
// RabbitMQ's do when the broker is closed under a publish it refused.
type unconfirmingBroker struct {
	*recordingBroker
	refuse chan struct{}
}

func (b *unconfirmingBroker) PublishAsync(ctx context.Context, queue string, data []byte) (network.Pending, error) {
	select {
	case <-b.refuse:
		return done{}, b.Publish(ctx, queue, data)
	default:
		return done{network.ErrClosed}, nil
	}
}

type done struct{ err error }

func (d done) Wait(context.Context) error { return d.err }

// An input whose output could not be confirmed is not the participant's
// failure: it is not refused (which dead-letters it on RabbitMQ) but given
// back to its queue, and the participant goes on.
func TestUnconfirmedOutputRequeuesItsInput(t *testing.T) {
	b := &unconfirmingBroker{recordingBroker: newRecordingBroker(t), refuse: make(chan struct{})}
	role := brokertest.Role("unconfirmed")
	rep, _ := participant.LookupCore("core/Repeat")
	p, err := participant.New(b, rep, role, participant.Options{Prefetch: 1})
	must(t, err)
	must(t, p.Start(context.Background()))
	t.Cleanup(func() { p.Stop(context.Background()) })
	must(t, b.Send(context.Background(), role+".IN", []byte(`"x"`)))
	if s := b.next(t); s.data != `"x"` || !s.requeued {
		t.Fatalf("settled %+v, want \"x\" requeued", s)
	}
	close(b.refuse)
	must(t, b.Send(context.Background(), role+".IN", []byte(`"y"`)))
	if s := b.next(t); s.data != `"y"` || !s.ack {
		t.Fatalf("settled %+v, want \"y\" acknowledged", s)
	}
}

// batchingBroker's deliveries can be acknowledged together (AMQP's
// multiple), and its publishes are confirmed asynchronously at once.
type batchingBroker struct{ *unconfirmingBroker }

func (b *batchingBroker) Consume(ctx context.Context, queue string, prefetch int, h network.Handler) (network.Subscription, error) {
	return b.unconfirmingBroker.Consume(ctx, queue, prefetch, func(d network.Delivery) {
		h(&multiDelivery{recordedDelivery: d.(*recordedDelivery)})
	})
}

type multiDelivery struct{ *recordedDelivery }

func (d *multiDelivery) AckMultiple() error {
	d.to <- settled{data: string(d.Data()), ack: true, multiple: true}
	return nil
}

// transientBatchingBroker is a batchingBroker that also publishes
// transient messages (AMQP's, without confirms).
type transientBatchingBroker struct{ *batchingBroker }

func (b transientBatchingBroker) PublishTransient(ctx context.Context, queue string, data []byte) error {
	return b.Publish(ctx, queue, data)
}

// Acknowledgements go in batches: one for a run of messages (AMQP's
// multiple) rather than one each, and every message is settled: a failed
// one refused on its own once those before it are acknowledged, the
// others by a batch that comes after them, the last run too once no more
// messages come. Persistent messages are settled by the inport's acker,
// transient ones where they are processed: the same rules.
func TestAcksGoInBatches(t *testing.T) {
	for _, transient := range []bool{false, true} {
		t.Run(fmt.Sprintf("transient=%v", transient), func(t *testing.T) { acksGoInBatches(t, transient) })
	}
}

func acksGoInBatches(t *testing.T, transient bool) {
	// The failed message is not the first after a full batch (Prefetch/4).
	const failed = 45
	bb := &batchingBroker{&unconfirmingBroker{recordingBroker: newRecordingBroker(t), refuse: make(chan struct{})}}
	bb.settled = make(chan settled, 1000)
	close(bb.refuse)
	var b interface {
		network.Broker
		next(*testing.T) settled
	} = bb
	if transient {
		b = transientBatchingBroker{bb}
	}
	role := brokertest.Role("batch")
	c := participant.Component{
		Name:     "test/Picky",
		Inports:  []participant.Port{{ID: "in"}},
		Outports: []participant.Port{{ID: "out"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			if string(in.Data) == strconv.Itoa(failed) {
				return errors.New("no")
			}
			return out.Send("out", in.Data)
		},
	}
	p, err := participant.New(b, c, role, participant.Options{Prefetch: 40, TransientMessages: transient})
	must(t, err)
	must(t, p.Start(context.Background()))
	t.Cleanup(func() { p.Stop(context.Background()) })
	const n = 100
	for i := range n {
		must(t, b.Send(context.Background(), role+".IN", []byte(fmt.Sprint(i))))
	}
	covered, acks := 0, 0 // messages 0..covered-1 are settled
	for covered < n {
		s := b.next(t)
		i, _ := strconv.Atoi(s.data)
		switch {
		case i == failed:
			if s.ack {
				t.Fatalf("the failed message was acknowledged")
			}
			if covered != failed {
				t.Fatalf("the failed message refused before %d..%d were acknowledged", covered, failed-1)
			}
		case !s.ack:
			t.Fatalf("%s refused", s.data)
		case i < covered:
			t.Fatalf("%s acknowledged again", s.data)
		default:
			acks++
			if !s.multiple && i != covered && !(i == covered+1 && covered == failed) {
				t.Fatalf("%s acknowledged alone before %d was", s.data, covered)
			}
		}
		covered = max(covered, i+1)
	}
	if acks >= n/2 {
		t.Fatalf("%d acknowledgements for %d messages: not in batches", acks, n)
	}
}

// confirmingBroker confirms each publish when the test closes its channel
// (confirms), and its pendings tell whether their confirm has come, as
// RabbitMQ's do.
type confirmingBroker struct {
	*batchingBroker
	confirms chan chan struct{}
}

func (b *confirmingBroker) PublishAsync(ctx context.Context, queue string, data []byte) (network.Pending, error) {
	c := make(chan struct{})
	b.confirms <- c
	return heldConfirm(c), b.Publish(ctx, queue, data)
}

type heldConfirm chan struct{}

func (h heldConfirm) Done() <-chan struct{} { return h }

func (h heldConfirm) Wait(ctx context.Context) error {
	select {
	case <-h:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// An acknowledgement is not held while the participant waits for a
// confirm that has not come: the messages whose outputs are confirmed are
// acknowledged first, as a relay acknowledging each message once its copy
// is confirmed would, so that the broker sends more meanwhile. (Seen
// failing with the first acknowledgement held until the second confirm.)
func TestAcksDoNotWaitForLaterConfirms(t *testing.T) {
	b := &confirmingBroker{
		batchingBroker: &batchingBroker{&unconfirmingBroker{recordingBroker: newRecordingBroker(t)}},
		confirms:       make(chan chan struct{}, 10),
	}
	role := brokertest.Role("held")
	rep, _ := participant.LookupCore("core/Repeat")
	p, err := participant.New(b, rep, role, participant.Options{})
	must(t, err)
	must(t, p.Start(context.Background()))
	t.Cleanup(func() { p.Stop(context.Background()) })
	must(t, b.Send(context.Background(), role+".IN", []byte(`1`)))
	must(t, b.Send(context.Background(), role+".IN", []byte(`2`)))
	var confirms []chan struct{}
	for range 2 {
		select {
		case c := <-b.confirms:
			confirms = append(confirms, c)
		case <-time.After(brokertest.Timeout):
			t.Fatal("the participant did not publish its outputs")
		}
	}
	close(confirms[0])
	if s := b.next(t); s.data != `1` || !s.ack {
		t.Fatalf("settled %+v, want 1 acknowledged", s)
	}
	close(confirms[1])
	if s := b.next(t); s.data != `2` || !s.ack {
		t.Fatalf("settled %+v, want 2 acknowledged", s)
	}
}
