package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol"
	"github.com/msgflo/msgflo-runtime/proxy"
)

const repeatSource = "package main\n\n// Repeat sends what it gets.\n"

func repeatComponent() participant.Component {
	return participant.Component{
		Name: "test/Repeat", Description: "Repeats", Icon: "forward",
		Inports:  []participant.Port{{ID: "in", Type: "any"}},
		Outports: []participant.Port{{ID: "out", Type: "any"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			return out.Send("out", in.Data)
		},
	}
}

// validate checks a participant's answer against the fbp-protocol output
// schema of its command.
func validate(t *testing.T, v *protocol.Validator, m proxy.Message) {
	t.Helper()
	var payload any
	if err := json.Unmarshal(m.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	msg := map[string]any{"protocol": m.Protocol, "command": m.Command, "payload": payload}
	if err := v.ValidateOutput(m.Protocol, m.Command, msg); err != nil {
		t.Fatalf("%s:%s does not match its schema: %v\n%s", m.Protocol, m.Command, err, m.Payload)
	}
}

func TestGoParticipantServesFBPThroughTheProxy(t *testing.T) {
	v, err := protocol.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, br := range brokers {
		t.Run(br.name, func(t *testing.T) {
			url := br.url(t)
			pb := open(t, url)
			role := "gofbp" + uuid.New()[:8]
			part, err := participant.New(pb, repeatComponent(), role, participant.Options{FBP: true, Source: repeatSource})
			if err != nil {
				t.Fatal(err)
			}
			if err := part.Start(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			def := part.Definition()
			if def.Inqueue != ".fbp."+def.ID+".receive" || def.Outqueue != ".fbp."+def.ID+".send" || def.Type != participant.FBPRuntimeType || def.Version == "" {
				t.Fatalf("definition does not announce FBP queues: %+v", def)
			}

			p := newProxy(t, url, 2*time.Second)
			c, err := p.Lookup(testCtx(t), def)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Endpoint().Announced || !c.Endpoint().Can("component:getsource") {
				t.Fatalf("endpoint %+v", c.Endpoint())
			}
			rt, err := c.Request(testCtx(t), "runtime", "getruntime", map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			validate(t, v, rt[0])

			list, err := c.Request(testCtx(t), "component", "list", map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].Command != "component" || list[1].Command != "componentsready" || !strings.Contains(string(list[0].Payload), `"name":"test/Repeat"`) {
				t.Fatalf("component:list answered %+v", list)
			}
			validate(t, v, list[0])
			validate(t, v, list[1])

			src, err := c.Request(testCtx(t), "component", "getsource", map[string]string{"name": "test/Repeat"})
			if err != nil {
				t.Fatal(err)
			}
			validate(t, v, src[0])
			var source struct{ Code, Language string }
			_ = json.Unmarshal(src[0].Payload, &source)
			if source.Code != repeatSource || source.Language != "go" {
				t.Fatalf("source %s", src[0].Payload)
			}
			_, err = c.Request(testCtx(t), "component", "getsource", map[string]string{"name": "other/Thing"})
			var re *proxy.RemoteError
			if !errors.As(err, &re) || !strings.Contains(re.Message, "other/Thing") {
				t.Fatalf("getsource of another component: %v", err)
			}

			// Trace: what goes in and out, in order, with the bytes sent.
			st, err := c.Request(testCtx(t), "trace", "start", map[string]any{"graph": "default", "buffersize": 10})
			if err != nil {
				t.Fatal(err)
			}
			validate(t, v, st[0])
			outs := brokertest.NewInbox(10)
			tap, err := pb.Tap(testCtx(t), def.Outports[0].Queue, outs.Data)
			if err != nil {
				t.Fatal(err)
			}
			defer tap.Close()
			for i := 1; i <= 2; i++ {
				data := fmt.Sprintf(`{"n": %d}`, i)
				if err := part.Send(testCtx(t), "in", json.RawMessage(data)); err != nil {
					t.Fatal(err)
				}
				outs.Expect(t, data)
			}
			dump, err := c.Request(testCtx(t), "trace", "dump", map[string]any{"graph": "default", "type": "flowtrace.json"})
			if err != nil {
				t.Fatal(err)
			}
			validate(t, v, dump[0])
			var pl struct{ Flowtrace string }
			_ = json.Unmarshal(dump[0].Payload, &pl)
			var ft struct {
				Header struct{ Graphs map[string]json.RawMessage }
				Events []struct {
					Command string
					Payload struct {
						Graph    string
						Src, Tgt *struct{ Node, Port string }
						Data     json.RawMessage
						Time     string
					}
				}
			}
			if err := json.Unmarshal([]byte(pl.Flowtrace), &ft); err != nil {
				t.Fatalf("flowtrace %q: %v", pl.Flowtrace, err)
			}
			if _, ok := ft.Header.Graphs[role]; !ok || len(ft.Events) != 4 {
				t.Fatalf("flowtrace %s: want the participant's graph and 4 events", pl.Flowtrace)
			}
			for i, ev := range ft.Events {
				data := fmt.Sprintf(`{"n": %d}`, i/2+1)
				in := i%2 == 0
				if ev.Command != "data" || string(ev.Payload.Data) != data || (in && (ev.Payload.Tgt == nil || ev.Payload.Tgt.Port != "in")) || (!in && (ev.Payload.Src == nil || ev.Payload.Src.Port != "out")) {
					t.Fatalf("event %d: %+v, want %s %s", i, ev, data, map[bool]string{true: "in", false: "out"}[in])
				}
			}
			for _, cmd := range []string{"stop", "clear"} {
				m, err := c.Request(testCtx(t), "trace", cmd, map[string]any{"graph": "default"})
				if err != nil {
					t.Fatal(err)
				}
				validate(t, v, m[0])
			}

			// Killed: requests fail, naming it, instead of hanging.
			if err := part.Stop(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if err := pb.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = c.Request(testCtx(t), "component", "list", map[string]any{})
			if !(errors.Is(err, proxy.ErrGone) || errors.Is(err, proxy.ErrTimeout)) || !strings.Contains(err.Error(), def.ID) {
				t.Fatalf("request to a killed participant: %v", err)
			}
		})
	}
}
