package protocol

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/runtime"
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
func (s *Server) forward(c *client, caps *capabilitySet, protocol, command string, payload *jsonValue, rawPayload []byte) bool {
	f, ok := s.forwardTarget(protocol, command, payload)
	if !ok {
		return false
	}
	if !s.participantAllows(f.Capabilities(), protocol, command) {
		s.fail(c, protocol, fmt.Sprintf("%s:%s is not among the capabilities of participant %s", protocol, command, f.Participant()))
		return true
	}
	if err := s.validator.ValidateInputValue(protocol, command, payload); err != nil {
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
			if m.Command != "error" && !caps.allowsOutput(m.Protocol, m.Command) { // an error answers the client's own request
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

// forwardTarget decides whether a message is for a full FBP runtime
// participant rather than the coordinator: component:getsource of a
// component such a participant announces, graph:* and network:* of a graph
// it hosts (never one of the coordinator's own).
func (s *Server) forwardTarget(protocol, command string, payload *jsonValue) (*runtime.Forward, bool) {
	switch {
	case protocol == "component" && command == "getsource":
		return s.rt.ComponentHost(payload.stringMember("name"))
	case protocol == "graph" || protocol == "network":
		return s.rt.GraphHost(payload.stringMember("graph"))
	}
	return nil, false
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
