package participant_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/participant"
)

// fbpRequester asks an FBP-capable participant over the broker, as the
// runtime's proxy does, and returns the payload of its answer.
type fbpRequester struct {
	t       *testing.T
	b       network.Broker
	p       *participant.Participant
	answers *brokertest.Inbox
}

func (r *fbpRequester) ask(protocol, command string, payload any) map[string]any {
	r.t.Helper()
	pl, _ := json.Marshal(payload)
	msg, _ := json.Marshal(map[string]any{"protocol": protocol, "command": command, "payload": json.RawMessage(pl)})
	def := r.p.Definition()
	must(r.t, r.b.Send(context.Background(), def.Inqueue, msg))
	var answer struct {
		Command string
		Payload map[string]any
	}
	must(r.t, json.Unmarshal([]byte(r.answers.Next(r.t)), &answer))
	if answer.Command != command {
		r.t.Fatalf("%s:%s answered %s %v", protocol, command, answer.Command, answer.Payload)
	}
	return answer.Payload
}

// The trace buffer holds the last buffersize events, oldest first, across
// a change of size; a size asked for over the broker is capped at
// MaxFBPTraceBuffer, and trace:start says the size in use.
func TestTraceBufferIsCapped(t *testing.T) {
	b := broker(t)
	rep, _ := participant.LookupCore("core/Repeat")
	p, err := participant.New(b, rep, brokertest.Role("trace"), participant.Options{FBP: true})
	must(t, err)
	answers := brokertest.NewInbox(10)
	tap, err := b.Tap(context.Background(), p.Definition().Outqueue, answers.Data)
	must(t, err)
	defer tap.Close()
	must(t, p.Start(context.Background()))
	t.Cleanup(func() { p.Stop(context.Background()) })
	r := &fbpRequester{t: t, b: b, p: p, answers: answers}

	if got := r.ask("trace", "start", map[string]any{"graph": "g", "buffersize": 1 << 40}); got["buffersize"] != float64(participant.MaxFBPTraceBuffer) {
		t.Fatalf("trace:start of 2^40 events: buffersize %v, want %d", got["buffersize"], participant.MaxFBPTraceBuffer)
	}
	r.ask("trace", "start", map[string]any{"graph": "g", "buffersize": 3})
	out := collect(t, b, p.Definition().Outports[0].Queue)
	for i := range 3 {
		must(t, p.Send(context.Background(), "in", json.RawMessage(fmt.Sprint(i))))
		out.Expect(t, fmt.Sprint(i))
	}
	dump := func() []string {
		t.Helper()
		var ft struct {
			Events []struct {
				Payload struct {
					Data     json.RawMessage
					Src, Tgt *struct{ Port string }
				}
			}
		}
		must(t, json.Unmarshal([]byte(r.ask("trace", "dump", map[string]any{"graph": "g", "type": "flowtrace.json"})["flowtrace"].(string)), &ft))
		var got []string
		for _, e := range ft.Events {
			way := "out"
			if e.Payload.Tgt != nil {
				way = "in"
			}
			got = append(got, way+string(e.Payload.Data))
		}
		return got
	}
	if got := fmt.Sprint(dump()); got != "[out1 in2 out2]" {
		t.Fatalf("3 events kept: %s, want [out1 in2 out2]", got)
	}
	r.ask("trace", "start", map[string]any{"graph": "g", "buffersize": 2})
	if got := fmt.Sprint(dump()); got != "[in2 out2]" {
		t.Fatalf("after trace:start of 2: %s, want [in2 out2]", got)
	}
}
