package fbpclient

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// Replies lists the commands that answer protocol:command, as fbp-client
// (Flowhub's and fbp-spec's client) reads them: most commands are answered
// by the same command, these by another. A <protocol>:error answers any
// request of its protocol.
func Replies(protocol, command string) []string {
	switch protocol + ":" + command {
	case "runtime:getruntime":
		return []string{"runtime"}
	case "runtime:packet":
		return []string{"packetsent"}
	case "component:getsource":
		return []string{"source"}
	case "component:source":
		return []string{"component"}
	case "component:list":
		return []string{"componentsready"}
	case "network:start":
		return []string{"started"}
	case "network:stop":
		return []string{"stopped"}
	case "network:getstatus":
		return []string{"status"}
	}
	return []string{command}
}

// IsReply reports whether m answers protocol:command (its reply or a
// <protocol>:error).
func IsReply(m Message, protocol, command string) bool {
	if m.Protocol != protocol {
		return false
	}
	if m.Command == "error" {
		return true
	}
	for _, r := range Replies(protocol, command) {
		if m.Command == r {
			return true
		}
	}
	return false
}

// Request sends protocol:command and waits for its reply (see Replies);
// a <protocol>:error reply is a *RemoteError. The messages received before
// the reply stay for Next, in their order.
func (c *Client) Request(ctx context.Context, protocol, command string, payload any) (Message, error) {
	if err := c.Send(protocol, command, payload); err != nil {
		return Message{}, err
	}
	return c.awaitReply(ctx, protocol, command, nil)
}

// awaitReply takes messages until the reply to protocol:command; the others
// go back to the queue, except those collect takes (it returns whether it
// took the message).
func (c *Client) awaitReply(ctx context.Context, protocol, command string, collect func(Message) bool) (Message, error) {
	var others []Message
	defer func() { c.unread(others) }()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return Message{}, fmt.Errorf("%s:%s: %w", protocol, command, err)
		}
		if IsReply(m, protocol, command) {
			if m.Command == "error" {
				return m, &RemoteError{Protocol: protocol, Command: command, Message: errorText(m)}
			}
			return m, nil
		}
		if collect != nil && collect(m) {
			continue
		}
		others = append(others, m)
	}
}

func errorText(m Message) string {
	var p struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.Message == "" {
		return string(m.Payload)
	}
	return p.Message
}

// Components sends component:list and returns the components that arrive
// before componentsready.
func (c *Client) Components(ctx context.Context) ([]wire.Component, error) {
	if err := c.SendMessage(wire.ListComponents{}); err != nil {
		return nil, err
	}
	var list []wire.Component
	var bad error
	_, err := c.awaitReply(ctx, "component", "list", func(m Message) bool {
		if !m.Is("component", "component") {
			return false
		}
		var comp wire.Component
		if err := m.Decode(&comp); err != nil && bad == nil {
			bad = fmt.Errorf("component:component: %w", err)
		}
		list = append(list, comp)
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	return list, nil
}

// Runtime is what runtime:runtime says of a runtime.
type Runtime struct{ wire.Runtime }

// Has reports whether the runtime offers capability.
func (r Runtime) Has(capability string) bool {
	return slices.Contains(r.Capabilities, capability)
}

// GetRuntime sends runtime:getruntime and returns the runtime's answer.
func (c *Client) GetRuntime(ctx context.Context) (Runtime, error) {
	m, err := c.RequestMessage(ctx, wire.GetRuntime{})
	if err != nil {
		return Runtime{}, err
	}
	var r Runtime
	if err := m.Decode(&r.Runtime); err != nil {
		return Runtime{}, fmt.Errorf("runtime:runtime: %w", err)
	}
	return r, nil
}

// SendMessage sends a typed message (see protocol/wire).
func (c *Client) SendMessage(m wire.Message) error {
	return c.Send(m.Protocol(), m.Command(), m)
}

// RequestMessage is Request for a typed message.
func (c *Client) RequestMessage(ctx context.Context, m wire.Message) (Message, error) {
	return c.Request(ctx, m.Protocol(), m.Command(), m)
}

// Wire decodes the message into its protocol/wire type.
func (m Message) Wire() (wire.Message, error) {
	return wire.Decode(m.Protocol, m.Command, m.Payload)
}
