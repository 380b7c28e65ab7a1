package brokertest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
)

// RunParticipant is the conformance suite's participant cases: Go
// participants on the broker open returns, announcing themselves, passing
// data along bound edges, and carrying on after a failed message. (That a
// failed message is refused is the broker's own business: on RabbitMQ,
// network/amqp's tests find it in the dead letters.)
func RunParticipant(t *testing.T, open func(t *testing.T) network.Broker) {
	t.Run("ParticipantChain", func(t *testing.T) {
		b := open(t)
		defer b.Close()
		seen := NewInbox(1000)
		disc, err := b.SubscribeDiscovery(ctx(t), seen.Data)
		must(t, err)
		defer disc.Close()
		rep, _ := participant.LookupCore("core/Repeat")
		r1, r2 := Role("p1"), Role("p2")
		var parts []*participant.Participant
		for _, r := range []string{r1, r2} {
			p, err := participant.New(b, rep, r, participant.Options{})
			must(t, err)
			must(t, p.Start(ctx(t)))
			defer p.Stop(context.Background())
			parts = append(parts, p)
		}
		// Both announced themselves.
		announced := map[string]bool{}
		for !announced[r1] || !announced[r2] {
			if def, err := network.DecodeDiscovery([]byte(seen.Next(t))); err == nil {
				announced[def.Role] = true
			}
		}
		out := Role("sink") + ".IN"
		in := inport(t, b, out)
		must(t, b.Bind(ctx(t), r1+".OUT", r2+".IN"))
		must(t, b.Bind(ctx(t), r2+".OUT", out))
		for _, v := range []string{`{"a":1}`, `"two"`, `[3]`} {
			must(t, parts[0].Send(ctx(t), "in", json.RawMessage(v)))
		}
		in.Expect(t, `{"a":1}`, `"two"`, `[3]`)
	})
	t.Run("ParticipantNonJSONIsData", func(t *testing.T) {
		// A device publishing plain text (MQTT `on`) or bytes that are not
		// UTF-8: a Go participant gets the text as a JSON string, as
		// msgflo-nodejs does, and a core/Repeat chain carries it on; JSON
		// keeps its bytes.
		b := open(t)
		defer b.Close()
		rep, _ := participant.LookupCore("core/Repeat")
		r1, r2 := Role("raw1"), Role("raw2")
		for _, r := range []string{r1, r2} {
			p, err := participant.New(b, rep, r, participant.Options{})
			must(t, err)
			must(t, p.Start(ctx(t)))
			defer p.Stop(context.Background())
		}
		out := Role("sink") + ".IN"
		in := inport(t, b, out)
		must(t, b.Bind(ctx(t), r1+".OUT", r2+".IN"))
		must(t, b.Bind(ctx(t), r2+".OUT", out))
		for _, body := range []string{"on", "", "a\xffb", `{"id":12345678901234567890,"z":1,"a":-0,"f":1.10}`} {
			must(t, b.Send(ctx(t), r1+".IN", []byte(body)))
		}
		in.Expect(t, `"on"`, `""`, "\"a\ufffdb\"", `{"id":12345678901234567890,"z":1,"a":-0,"f":1.10}`)
	})
	t.Run("ParticipantCarriesOnAfterAFailure", func(t *testing.T) {
		b := open(t)
		defer b.Close()
		role := Role("picky")
		c := participant.Component{
			Name:     "test/Picky",
			Inports:  []participant.Port{{ID: "in"}},
			Outports: []participant.Port{{ID: "out"}},
			Process: func(_ context.Context, in participant.Input, out participant.Output) error {
				if string(in.Data) == `"bad"` {
					return errors.New("refused")
				}
				return out.Send("out", in.Data)
			},
		}
		p, err := participant.New(b, c, role, participant.Options{})
		must(t, err)
		must(t, p.Start(ctx(t)))
		defer p.Stop(context.Background())
		out := Role("sink") + ".IN"
		in := inport(t, b, out)
		must(t, b.Bind(ctx(t), role+".OUT", out))
		for _, v := range []string{`"bad"`, `"good"`} {
			must(t, p.Send(ctx(t), "in", json.RawMessage(v)))
		}
		in.Expect(t, `"good"`) // the failed message sent nothing before it
	})
}
