package protocol

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/msgflo/msgflo-runtime/network"
)

// forward passes a client message on to the full FBP runtime participant
// it is for (component:getsource of its component, graph:* and network:*
// of the graph it hosts) and relays the answer; it reports whether it
// took the message. A message the participant's capabilities do not
// cover is refused, never forwarded. The answer comes from its own
// goroutine: the client's other requests go on while the participant
// takes its time (at most the proxy's timeout). rawPayload is the
// message's payload as the client sent it (readEnvelope), passed on
// without being decoded again.
func (s *Server) forward(c *client, caps *capabilitySet, protocol, command string, msg map[string]any, rawPayload []byte) bool {
	payload, _ := msg["payload"].(map[string]any)
	var key string
	switch {
	case protocol == "component" && command == "getsource":
		key, _ = payload["name"].(string)
	case protocol == "graph" || protocol == "network":
		key, _ = payload["graph"].(string)
	default:
		return false
	}
	f, ok := s.rt.ForwardTarget(protocol, command, key)
	if !ok {
		return false
	}
	if !s.participantAllows(f.Capabilities(), protocol, command) {
		s.fail(c, protocol, fmt.Sprintf("%s:%s is not among the capabilities of participant %s", protocol, command, f.Participant()))
		return true
	}
	if err := s.validator.ValidateInput(protocol, command, msg); err != nil {
		s.fail(c, protocol, err.Error())
		return true
	}
	fields := map[string]json.RawMessage{}
	if rawPayload != nil {
		_ = members(rawPayload, func(key string, value []byte) error {
			if key != "secret" { // the runtime's secret stays here
				fields[key] = value
			}
			return nil
		})
	}
	raw := network.RawObject(fields)
	go func() {
		replies, err := f.Do(context.Background(), protocol, command, raw)
		if err != nil {
			s.fail(c, protocol, err.Error())
			return
		}
		for _, m := range replies {
			if !caps.allowsOutput(m.Protocol, m.Command) {
				continue
			}
			p := m.Payload
			if len(p) == 0 {
				p = json.RawMessage(`{}`)
			}
			pr, _ := json.Marshal(m.Protocol)
			cm, _ := json.Marshal(m.Command)
			c.queue(network.RawObject(map[string]json.RawMessage{"protocol": pr, "command": cm, "payload": p}))
		}
	}()
	return true
}

// participantAllows reports whether capabilities cover protocol:command
// as an input.
func (s *Server) participantAllows(capabilities []string, protocol, command string) bool {
	for _, name := range capabilities {
		in, _ := s.validator.CapabilityMessages(name)
		for _, m := range in {
			if m == protocol+":"+command {
				return true
			}
		}
	}
	return false
}
