package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/participant"
)

// publisherWindow is how many of the producer's publishes may wait for
// their confirms.
const publisherWindow = 1000

// throughput measures a 3-hop chain of core/Repeat nodes in the runtime
// binary on RabbitMQ, built through the FBP protocol, against plain
// amqp091-go relays doing the same three hops in the same run (#23's
// reference): persistent messages with publisher confirms (the runtime's
// default flags), then transient messages without confirms
// (--persistent-messages=false). Then the participant SDK's own figures,
// of both guarantees: Go participants inside this process, each on its
// own connection. The
// same producer and sink serve every chain: the producer publishes 100-byte
// JSON messages pipelined with confirms (window 1000), the sink checks that
// every message arrives once and in order. Each round prints both figures
// and their ratio; the medians of the ratios close each guarantee.
func throughput(bin, url string, n, rounds int, pprofAddr string) error {
	fmt.Printf("3-hop chain on RabbitMQ, %d messages of 100 bytes, publisher window %d\n", n, publisherWindow)
	for _, persistent := range []bool{true, false} {
		fmt.Printf("  %s:\n", guaranteeNote(persistent))
		var ratios []float64
		for r := 0; r < rounds; r++ {
			raw, err := chain(url, n, persistent, rawHops(persistent))
			if err != nil {
				return fmt.Errorf("plain relays: %w", err)
			}
			bin, err := chain(url, n, persistent, runtimeHops(bin, persistent, pprofAddr))
			if err != nil {
				return fmt.Errorf("runtime chain: %w", err)
			}
			ratios = append(ratios, bin/raw)
			fmt.Printf("    plain amqp091-go relays %8.0f msg/s, msgflo-runtime (%s) %8.0f msg/s: ratio %.2f\n", raw, runtimeFlagsNote(persistent), bin, bin/raw)
		}
		sort.Float64s(ratios)
		fmt.Printf("    median ratio of %d rounds (%s): %.2f\n", rounds, runtimeFlagsNote(persistent), ratios[len(ratios)/2])
	}
	for _, persistent := range []bool{true, false} {
		raw, err := chain(url, n, persistent, rawHops(persistent))
		if err != nil {
			return fmt.Errorf("plain relays: %w", err)
		}
		sdk, err := chain(url, n, persistent, sdkHops(persistent))
		if err != nil {
			return fmt.Errorf("participant chain: %w", err)
		}
		fmt.Printf("  participant SDK in one process (own connection each, %s): %.0f msg/s, plain relays %.0f msg/s: ratio %.2f\n", sdkNote(persistent), sdk, raw, sdk/raw)
	}
	return nil
}

func sdkNote(persistent bool) string {
	if persistent {
		return "persistent"
	}
	return "TransientMessages"
}

func guaranteeNote(persistent bool) string {
	if persistent {
		return "persistent, confirmed; relays ack each input once its copy is confirmed"
	}
	return "transient, no confirms; relays ack in batches (multiple, every 50 or 5 ms)"
}

// hopsFunc sets up three hops and returns the queue to publish into and
// the queue to consume the results from. ch may be used to declare.
type hopsFunc func(ctx context.Context, url string, ch *amqp.Channel) (in, out string, stop func(), err error)

var probe = []byte(`{"probe":true}`)

// chain runs the hops, waits until a probe crosses them (bindings may be
// made asynchronously), then pushes n messages in and times their arrival.
func chain(url string, n int, persistent bool, hops hopsFunc) (float64, error) {
	ctx := context.Background()
	conn, err := amqp.Dial(url)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	in, out, stop, err := hops(ctx, url, ch)
	if err != nil {
		return 0, err
	}
	defer stop()
	probed, done, err := consumeSink(conn, out, n)
	if err != nil {
		return 0, err
	}
	p, err := newProducer(conn, in, persistent)
	if err != nil {
		return 0, err
	}
	if err := p.probe(probed, done); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := p.publish(n); err != nil {
		return 0, err
	}
	select {
	case err := <-done:
		if err != nil {
			return 0, err
		}
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("messages still missing after 5 minutes")
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// consumeSink consumes queue out: probed is closed at the first probe,
// then the n messages must come in order; done says when they all have.
func consumeSink(conn *amqp.Connection, out string, n int) (probed chan struct{}, done chan error, err error) {
	sink, err := conn.Channel()
	if err != nil {
		return nil, nil, err
	}
	_ = sink.Qos(500, 0, false)
	deliveries, err := sink.Consume(out, "", false, false, false, false, nil)
	if err != nil {
		return nil, nil, err
	}
	probed, done = make(chan struct{}), make(chan error, 1)
	go func() {
		next := 0
		seenProbe := false
		for d := range deliveries {
			if bytes.Equal(d.Body, probe) {
				_ = d.Ack(false)
				if !seenProbe {
					seenProbe = true
					close(probed)
				}
				continue
			}
			var m struct {
				Seq int `json:"seq"`
			}
			if err := json.Unmarshal(d.Body, &m); err != nil {
				done <- err
				return
			}
			if m.Seq != next {
				done <- fmt.Errorf("message %d arrived when %d was due", m.Seq, next)
				return
			}
			next++
			if next%100 == 0 || next == n {
				_ = d.Ack(true)
			}
			if next == n {
				done <- nil
				return
			}
		}
		done <- fmt.Errorf("sink stopped after %d messages", next)
	}()
	return probed, done, nil
}

// producer publishes into the chain's first queue with confirms.
type producer struct {
	ch   *amqp.Channel
	in   string
	mode uint8
}

func newProducer(conn *amqp.Connection, in string, persistent bool) (*producer, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		return nil, err
	}
	p := &producer{ch: ch, in: in, mode: amqp.Persistent}
	if !persistent {
		p.mode = amqp.Transient
	}
	return p, nil
}

func (p *producer) send(body []byte) (*amqp.DeferredConfirmation, error) {
	return p.ch.PublishWithDeferredConfirmWithContext(context.Background(), "", p.in, false, false,
		amqp.Publishing{ContentType: "application/json", DeliveryMode: p.mode, Body: body})
}

// probe publishes probes until one has crossed the chain.
func (p *producer) probe(probed <-chan struct{}, done <-chan error) error {
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := p.send(probe); err != nil {
			return err
		}
		select {
		case <-probed:
			return nil
		case err := <-done:
			return fmt.Errorf("before the probe: %v", err)
		case <-deadline:
			return fmt.Errorf("no probe crossed the chain in 60 s")
		case <-tick.C:
		}
	}
}

// publish sends n messages of 100 bytes, at most publisherWindow of them
// waiting for their confirms, and returns once all are confirmed.
func (p *producer) publish(n int) error {
	pad := strings.Repeat("x", 100)
	window := make(chan *amqp.DeferredConfirmation, publisherWindow)
	confirmErr := make(chan error, 1)
	go func() {
		for dc := range window {
			if !dc.Wait() {
				confirmErr <- fmt.Errorf("publish not confirmed")
				for range window {
				}
				return
			}
		}
		confirmErr <- nil
	}()
	for i := range n {
		body := fmt.Appendf(nil, `{"seq":%d,"pad":"%s"}`, i, pad[:max(0, 100-len(fmt.Sprintf(`{"seq":%d,"pad":""}`, i)))])
		dc, err := p.send(body)
		if err != nil {
			close(window)
			return err
		}
		window <- dc
	}
	close(window)
	return <-confirmErr
}

// declareQueues declares four queues as msgflo declares inports, and
// returns them with a function deleting them.
func declareQueues(ch *amqp.Channel) ([]string, func(), error) {
	prefix := "bench" + uuid.New()[:8]
	queues := make([]string, 4)
	for i := range queues {
		queues[i] = prefix + ".Q" + strconv.Itoa(i)
		args := amqp.Table{"x-dead-letter-exchange": "dead-" + queues[i]}
		if _, err := ch.QueueDeclare(queues[i], true, false, false, false, args); err != nil {
			return nil, nil, err
		}
	}
	return queues, func() {
		for _, q := range queues {
			_, _ = ch.QueueDelete(q, false, false, false)
			_ = ch.ExchangeDelete(q, false, false)
		}
	}, nil
}

// Reference relays, as #23 states them: each on its own connection,
// consuming with prefetch relayPrefetch. Persistent: persistent messages
// with confirms pipelined, each delivery acked when its copy is
// confirmed. Transient: transient messages without confirms, deliveries
// acked in batches (multiple) every relayAckBatch messages or
// relayAckEvery, whichever comes first.
const (
	relayPrefetch = 200
	relayAckBatch = 50
	relayAckEvery = 5 * time.Millisecond
)

// rawHops: each hop consumes queue i and publishes to queue i+1.
func rawHops(persistent bool) hopsFunc {
	return func(_ context.Context, url string, ch *amqp.Channel) (string, string, func(), error) {
		queues, del, err := declareQueues(ch)
		if err != nil {
			return "", "", nil, err
		}
		var conns []*amqp.Connection
		stop := func() {
			for _, c := range conns {
				c.Close()
			}
			del()
		}
		for i := range 3 {
			conn, err := amqp.Dial(url)
			if err != nil {
				stop()
				return "", "", nil, err
			}
			conns = append(conns, conn)
			if err := startRelay(conn, queues[i], queues[i+1], persistent); err != nil {
				stop()
				return "", "", nil, err
			}
		}
		return queues[0], queues[3], stop, nil
	}
}

// startRelay consumes from on conn and publishes each message to to.
func startRelay(conn *amqp.Connection, from, to string, persistent bool) error {
	in, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := in.Qos(relayPrefetch, 0, false); err != nil {
		return err
	}
	out, err := conn.Channel()
	if err != nil {
		return err
	}
	deliveries, err := in.Consume(from, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	if !persistent {
		go transientRelay(deliveries, in, out, to)
		return nil
	}
	if err := out.Confirm(false); err != nil {
		return err
	}
	go persistentRelay(deliveries, in, out, to)
	return nil
}

func persistentRelay(deliveries <-chan amqp.Delivery, in, out *amqp.Channel, to string) {
	type pending struct {
		tag uint64
		dc  *amqp.DeferredConfirmation
	}
	acks := make(chan pending, relayPrefetch)
	go func() {
		for p := range acks {
			if p.dc.Wait() {
				_ = in.Ack(p.tag, false)
			} else {
				_ = in.Nack(p.tag, false, false)
			}
		}
	}()
	defer close(acks)
	for d := range deliveries {
		dc, err := out.PublishWithDeferredConfirmWithContext(context.Background(), "", to, false, false,
			amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: d.Body})
		if err != nil {
			_ = d.Nack(false, false)
			continue
		}
		acks <- pending{d.DeliveryTag, dc}
	}
}

func transientRelay(deliveries <-chan amqp.Delivery, in, out *amqp.Channel, to string) {
	tick := time.NewTicker(relayAckEvery)
	defer tick.Stop()
	var last uint64 // the last delivery published and not acked
	unacked := 0
	ack := func() {
		if unacked > 0 {
			_ = in.Ack(last, true)
			unacked = 0
		}
	}
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return
			}
			err := out.PublishWithContext(context.Background(), "", to, false, false,
				amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Transient, Body: d.Body})
			if err != nil {
				ack()
				_ = d.Nack(false, false)
				continue
			}
			last = d.DeliveryTag
			if unacked++; unacked >= relayAckBatch {
				ack()
			}
		case <-tick.C:
			ack()
		}
	}
}

// sdkHops: three core/Repeat participants with roles r1..r3, each on its
// own connection, sending transient messages unless persistent; their
// outports are bound to the next queue.
func sdkHops(persistent bool) hopsFunc {
	return func(ctx context.Context, url string, ch *amqp.Channel) (string, string, func(), error) {
		return sdkChain(ctx, url, ch, participant.Options{TransientMessages: !persistent})
	}
}

func sdkChain(ctx context.Context, url string, ch *amqp.Channel, opts participant.Options) (string, string, func(), error) {
	queues, del, err := declareQueues(ch)
	if err != nil {
		return "", "", nil, err
	}
	rep, _ := participant.LookupCore("core/Repeat")
	var brokers []*msgamqp.Broker
	var parts []*participant.Participant
	stop := func() {
		for _, p := range parts {
			_ = p.Stop(context.Background())
		}
		for _, b := range brokers {
			_ = b.Close()
		}
		if b, err := msgamqp.Dial(context.Background(), url, msgamqp.Options{Logger: zerolog.Nop()}); err == nil {
			names := []string{queues[0] + ".fbp"}
			for _, q := range queues {
				names = append(names, q+".EX")
			}
			_ = b.Delete(context.Background(), names...)
			b.Close()
		}
		del()
	}
	fail := func(err error) (string, string, func(), error) {
		stop()
		return "", "", nil, err
	}
	for i := range 3 {
		b, err := msgamqp.Dial(ctx, url, msgamqp.Options{Logger: zerolog.Nop(), DiscoveryQueue: queues[0] + ".fbp"})
		if err != nil {
			return fail(err)
		}
		brokers = append(brokers, b)
		c := rep
		c.Inports = []participant.Port{{ID: "in", Type: "any", Queue: queues[i]}}
		c.Outports = []participant.Port{{ID: "out", Type: "any", Queue: queues[i+1] + ".EX"}}
		p, err := participant.New(b, c, queues[0]+"r"+strconv.Itoa(i), opts)
		if err != nil {
			return fail(err)
		}
		if err := p.Start(ctx); err != nil {
			return fail(err)
		}
		parts = append(parts, p)
		if err := b.Bind(ctx, queues[i+1]+".EX", queues[i+1]); err != nil {
			return fail(err)
		}
	}
	return queues[0], queues[3], stop, nil
}
