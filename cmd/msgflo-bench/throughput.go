package main

import (
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

// throughput measures a 3-hop chain of Go Repeat participants on RabbitMQ
// (each with its own connection, as separate processes would have) and,
// in the same run, plain amqp091-go code doing the same three hops
// (consume, publish persistent with a confirm, ack). The same producer and
// sink serve both: the producer publishes 100-byte JSON messages
// pipelined with confirms, the sink checks every message arrives once and
// in order.
func throughput(url string, n int) error {
	fmt.Printf("3-hop chain on RabbitMQ, %d messages of 100 bytes\n", n)
	raw, err := chain(url, n, rawHops)
	if err != nil {
		return fmt.Errorf("raw chain: %w", err)
	}
	fmt.Printf("  plain amqp091-go, 3 hops: %8.0f msg/s\n", raw)
	sdk, err := chain(url, n, sdkHops)
	if err != nil {
		return fmt.Errorf("participant chain: %w", err)
	}
	fmt.Printf("  Go participants (SDK):    %8.0f msg/s  (ratio %.2f)\n", sdk, sdk/raw)
	return nil
}

type hopsFunc func(ctx context.Context, url string, queues []string) (stop func(), err error)

// chain sets up queues q0 -> hop -> q1 -> hop -> q2 -> hop -> q3, runs the
// hops, pushes n messages into q0 and times their arrival in q3.
func chain(url string, n int, hops hopsFunc) (float64, error) {
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
	prefix := "bench" + uuid.New()[:8]
	queues := make([]string, 4)
	for i := range queues {
		queues[i] = prefix + ".Q" + strconv.Itoa(i)
		// As msgflo declares an inport queue.
		args := amqp.Table{"x-dead-letter-exchange": "dead-" + queues[i]}
		if _, err := ch.QueueDeclare(queues[i], true, false, false, false, args); err != nil {
			return 0, err
		}
	}
	defer func() {
		c2, err := conn.Channel()
		if err != nil {
			return
		}
		for _, q := range queues {
			_, _ = c2.QueueDelete(q, false, false, false)
			_ = c2.ExchangeDelete(q, false, false)
		}
	}()
	stop, err := hops(ctx, url, queues)
	if err != nil {
		return 0, err
	}
	defer stop()

	// Sink.
	sink, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	_ = sink.Qos(500, 0, false)
	deliveries, err := sink.Consume(queues[3], "", false, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() {
		next := 0
		for d := range deliveries {
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

	// Producer: pipelined publishes with confirms.
	pub, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	if err := pub.Confirm(false); err != nil {
		return 0, err
	}
	pad := strings.Repeat("x", 100)
	start := time.Now()
	window := make(chan *amqp.DeferredConfirmation, 256)
	confirmErr := make(chan error, 1)
	go func() {
		for dc := range window {
			if !dc.Wait() {
				confirmErr <- fmt.Errorf("publish not confirmed")
				return
			}
		}
		confirmErr <- nil
	}()
	for i := range n {
		body := fmt.Appendf(nil, `{"seq":%d,"pad":"%s"}`, i, pad[:max(0, 100-len(fmt.Sprintf(`{"seq":%d,"pad":""}`, i)))])
		dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", queues[0], false, false,
			amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body})
		if err != nil {
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

// rawHops: each hop consumes queue i, publishes persistent to queue i+1
// with a confirm, and acks once confirmed; confirms are awaited
// asynchronously so the hop keeps a window of messages in flight.
func rawHops(_ context.Context, url string, queues []string) (func(), error) {
	var conns []*amqp.Connection
	stop := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for i := range 3 {
		conn, err := amqp.Dial(url)
		if err != nil {
			stop()
			return nil, err
		}
		conns = append(conns, conn)
		in, err := conn.Channel()
		if err != nil {
			stop()
			return nil, err
		}
		_ = in.Qos(100, 0, false)
		out, err := conn.Channel()
		if err != nil {
			stop()
			return nil, err
		}
		_ = out.Confirm(false)
		deliveries, err := in.Consume(queues[i], "", false, false, false, false, nil)
		if err != nil {
			stop()
			return nil, err
		}
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
		next := queues[i+1]
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
	return stop, nil
}

// sdkHops: three core/Repeat participants with roles r1..r3, each on its
// own connection; their outports are bound to the next queue.
func sdkHops(ctx context.Context, url string, queues []string) (func(), error) {
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
	}
	for i := range 3 {
		b, err := msgamqp.Dial(ctx, url, msgamqp.Options{Logger: zerolog.Nop(), DiscoveryQueue: queues[0] + ".fbp"})
		if err != nil {
			stop()
			return nil, err
		}
		brokers = append(brokers, b)
		c := rep
		c.Inports = []participant.Port{{ID: "in", Type: "any", Queue: queues[i]}}
		c.Outports = []participant.Port{{ID: "out", Type: "any", Queue: queues[i+1] + ".EX"}}
		p, err := participant.New(b, c, queues[0]+"r"+strconv.Itoa(i), participant.Options{Prefetch: 100})
		if err != nil {
			stop()
			return nil, err
		}
		if err := p.Start(ctx); err != nil {
			stop()
			return nil, err
		}
		parts = append(parts, p)
		if err := b.Bind(ctx, queues[i+1]+".EX", queues[i+1]); err != nil {
			stop()
			return nil, err
		}
	}
	return func() {
		stop()
		if b, err := msgamqp.Dial(context.Background(), url, msgamqp.Options{Logger: zerolog.Nop()}); err == nil {
			names := []string{queues[0] + ".fbp"}
			for _, q := range queues {
				names = append(names, q+".EX")
			}
			_ = b.Delete(context.Background(), names...)
			b.Close()
		}
	}, nil
}
