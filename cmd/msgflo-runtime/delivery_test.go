package main

import (
	"context"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	msgamqp "github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// The binary's participants, in-process and the processes it starts, send
// persistent messages on RabbitMQ, and transient ones with
// --persistent-messages=false (processes learn it from
// MSGFLO_PERSISTENT_MESSAGES): the broker says which in each delivery.
func TestPersistentMessagesOnRabbitMQ(t *testing.T) {
	t.Parallel()
	url := brokertest.RabbitMQURL(t)
	lib := writeFile(t, "library.json", mustJSON(map[string]any{
		"components": map[string]string{"procs/GoRepeat": runtimeBinary(t) + " participant core/Repeat --role #ROLE"},
	}))
	for _, tc := range []struct {
		component string
		args      []string
		want      uint8
	}{
		{"core/Repeat", nil, amqp.Persistent},
		{"core/Repeat", []string{"--persistent-messages=false"}, amqp.Transient},
		{"procs/GoRepeat", nil, amqp.Persistent},
		{"procs/GoRepeat", []string{"--persistent-messages=false"}, amqp.Transient},
	} {
		t.Run(tc.component+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			role := "mode" + uuid.New()[:8]
			t.Cleanup(func() {
				if b, err := msgamqp.Dial(context.Background(), url, msgamqp.Options{Logger: zerolog.Nop()}); err == nil {
					_ = b.Delete(context.Background(), role+".IN", role+".OUT", role+".SINK")
					b.Close()
				}
			})
			p := start(t, []string{"MSGFLO_BROKER=" + url, "MSGFLO_PERSISTENT_MESSAGES="},
				append([]string{"--port", "0", "--library", lib, "--componentdir", ""}, tc.args...)...)
			ws, _ := p.ready(t)
			c := dialClient(t, ws, "") // the replies are not needed here
			for _, m := range []map[string]any{
				{"protocol": "graph", "command": "clear", "payload": map[string]any{"id": "g", "main": true}},
				{"protocol": "graph", "command": "addnode", "payload": map[string]any{"id": role, "component": tc.component, "graph": "g"}},
				{"protocol": "network", "command": "start", "payload": map[string]any{"graph": "g"}},
			} {
				m["secret"] = testSecret
				c.write(m)
			}

			ac, err := amqp.Dial(url)
			noErr(t, err)
			defer ac.Close()
			ch, err := ac.Channel()
			noErr(t, err)
			noErr(t, ch.ExchangeDeclare(role+".OUT", "fanout", true, false, false, false, nil))
			_, err = ch.QueueDeclare(role+".SINK", true, false, false, false, nil)
			noErr(t, err)
			noErr(t, ch.QueueBind(role+".SINK", "", role+".OUT", false, nil))
			deliveries, err := ch.Consume(role+".SINK", "", true, false, false, false, nil)
			noErr(t, err)
			// The participant starts asynchronously: send until a message
			// comes out.
			deadline := time.After(brokertest.Timeout)
			for {
				noErr(t, ch.PublishWithContext(context.Background(), "", role+".IN", false, false,
					amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(`{"probe":1}`)}))
				select {
				case dl := <-deliveries:
					if string(dl.Body) != `{"probe":1}` || dl.DeliveryMode != tc.want {
						t.Fatalf("got %s with delivery mode %d, want mode %d", dl.Body, dl.DeliveryMode, tc.want)
					}
					return
				case <-time.After(200 * time.Millisecond):
				case <-deadline:
					t.Fatal("nothing came out of the participant")
				}
			}
		})
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
