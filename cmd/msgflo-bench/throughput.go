package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
// binary on RabbitMQ, built through the FBP protocol, and, in the same run,
// plain amqp091-go relays doing the same three hops with the same
// guarantee: persistent messages with publisher confirms (the runtime's
// default), then transient messages without confirms
// (--persistent-messages=false). Then the participant SDK's own figure:
// Go participants inside this process, each on its own connection. The
// same producer and sink serve every chain: the producer publishes 100-byte
// JSON messages pipelined with confirms (window 1000), the sink checks that
// every message arrives once and in order.
func throughput(bin, url string, n, rounds int, pprofAddr string) error {
	fmt.Printf("3-hop chain on RabbitMQ, %d messages of 100 bytes, publisher window %d\n", n, publisherWindow)
	for _, persistent := range []bool{true, false} {
		guarantee := "persistent, confirmed, ack after confirm"
		if !persistent {
			guarantee = "transient, no confirms, ack after publish"
		}
		fmt.Printf("  %s:\n", guarantee)
		for r := 0; r < rounds; r++ {
			raw, err := chain(url, n, persistent, rawHops(persistent))
			if err != nil {
				return fmt.Errorf("plain relays: %w", err)
			}
			bin, err := chain(url, n, persistent, runtimeHops(bin, persistent, pprofAddr))
			if err != nil {
				return fmt.Errorf("runtime chain: %w", err)
			}
			fmt.Printf("    plain amqp091-go relays %8.0f msg/s, msgflo-runtime (%s) %8.0f msg/s: ratio %.2f\n", raw, runtimeFlagsNote(persistent), bin, bin/raw)
		}
	}
	raw, err := chain(url, n, true, rawHops(true))
	if err != nil {
		return fmt.Errorf("plain relays: %w", err)
	}
	sdk, err := chain(url, n, true, sdkHops)
	if err != nil {
		return fmt.Errorf("participant chain: %w", err)
	}
	fmt.Printf("  participant SDK in one process (own connection each, persistent): %.0f msg/s, plain relays %.0f msg/s: ratio %.2f\n", sdk, raw, sdk/raw)
	return nil
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

	// Sink: probes are skipped, data must come in order.
	sink, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	_ = sink.Qos(500, 0, false)
	deliveries, err := sink.Consume(out, "", false, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	probed := make(chan struct{})
	done := make(chan error, 1)
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

	pub, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	if err := pub.Confirm(false); err != nil {
		return 0, err
	}
	mode := amqp.Persistent
	if !persistent {
		mode = amqp.Transient
	}
	publish := func(body []byte) (*amqp.DeferredConfirmation, error) {
		return pub.PublishWithDeferredConfirmWithContext(ctx, "", in, false, false,
			amqp.Publishing{ContentType: "application/json", DeliveryMode: mode, Body: body})
	}
	// Until the chain carries a probe.
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		if _, err := publish(probe); err != nil {
			return 0, err
		}
		select {
		case <-probed:
			break wait
		case err := <-done:
			return 0, fmt.Errorf("before the probe: %v", err)
		case <-deadline:
			return 0, fmt.Errorf("no probe crossed the chain in 60 s")
		case <-tick.C:
		}
	}

	pad := strings.Repeat("x", 100)
	start := time.Now()
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
		dc, err := publish(body)
		if err != nil {
			close(window)
			return 0, err
		}
		window <- dc
	}
	close(window)
	if err := <-confirmErr; err != nil {
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

// rawHops: each hop consumes queue i (prefetch 100) and publishes to queue
// i+1. Persistent: persistent messages with confirms, acked once confirmed
// (confirms awaited asynchronously so the hop keeps a window in flight).
// Transient: transient messages without confirms, acked after publishing,
// as msgflo-nodejs relays.
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
		fail := func(err error) (string, string, func(), error) {
			stop()
			return "", "", nil, err
		}
		for i := range 3 {
			conn, err := amqp.Dial(url)
			if err != nil {
				return fail(err)
			}
			conns = append(conns, conn)
			in, err := conn.Channel()
			if err != nil {
				return fail(err)
			}
			_ = in.Qos(100, 0, false)
			out, err := conn.Channel()
			if err != nil {
				return fail(err)
			}
			deliveries, err := in.Consume(queues[i], "", false, false, false, false, nil)
			if err != nil {
				return fail(err)
			}
			next := queues[i+1]
			if !persistent {
				go func() {
					for d := range deliveries {
						err := out.PublishWithContext(context.Background(), "", next, false, false,
							amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Transient, Body: d.Body})
						if err != nil {
							_ = d.Nack(false, false)
							continue
						}
						_ = d.Ack(false)
					}
				}()
				continue
			}
			_ = out.Confirm(false)
			type pending struct {
				tag uint64
				dc  *amqp.DeferredConfirmation
			}
			acks := make(chan pending, 100)
			go func() {
				for p := range acks {
					if p.dc.Wait() {
						_ = in.Ack(p.tag, false)
					} else {
						_ = in.Nack(p.tag, false, false)
					}
				}
			}()
			go func() {
				defer close(acks)
				for d := range deliveries {
					dc, err := out.PublishWithDeferredConfirmWithContext(context.Background(), "", next, false, false,
						amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: d.Body})
					if err != nil {
						_ = d.Nack(false, false)
						continue
					}
					acks <- pending{d.DeliveryTag, dc}
				}
			}()
		}
		return queues[0], queues[3], stop, nil
	}
}

// sdkHops: three core/Repeat participants with roles r1..r3, each on its
// own connection; their outports are bound to the next queue.
func sdkHops(ctx context.Context, url string, ch *amqp.Channel) (string, string, func(), error) {
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
		p, err := participant.New(b, c, queues[0]+"r"+strconv.Itoa(i), participant.Options{})
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
