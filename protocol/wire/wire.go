// Package wire holds the payloads of the FBP network protocol (version
// 0.8): one Go type per message, with exactly the keys the protocol's
// schemas allow (optional keys are left out when they have no value).
// The runtime emits these types, the protocol server encodes them, and a
// client decodes what the runtime sends into them.
//
// Every type knows its sub-protocol and command: a value is a whole
// message, so code never pairs a payload with the strings that name it.
// A type serves both directions when the protocol gives the message the
// same shape both ways (graph:addnode is the request and its
// acknowledgement).
package wire

import (
	"encoding/json"
	"fmt"

	"github.com/msgflo/msgflo-runtime/internal/jsontext"
)

// Message is a payload that knows which message it is.
type Message interface {
	Protocol() string
	Command() string
}

// envelope is the frame of every message on the wire.
type envelope struct {
	Protocol string `json:"protocol"`
	Command  string `json:"command"`
	Payload  any    `json:"payload"`
	Secret   string `json:"secret,omitempty"`
}

// Encode is the wire text of m: {"protocol", "command", "payload"}.
func Encode(m Message) ([]byte, error) {
	return encode(envelope{Protocol: m.Protocol(), Command: m.Command(), Payload: m})
}

// EncodeWithSecret is the wire text of m as a client sends it, the secret
// at the top level (protocol 0.8).
func EncodeWithSecret(m Message, secret string) ([]byte, error) {
	return encode(envelope{Protocol: m.Protocol(), Command: m.Command(), Payload: m, Secret: secret})
}

// encode marshals without HTML escapes (internal/jsontext).
func encode(env envelope) ([]byte, error) {
	data, err := jsontext.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode %s:%s: %w", env.Protocol, env.Command, err)
	}
	return data, nil
}

// Decode reads the payload of protocol:command into its type. It is
// lenient, as a client should be: unknown keys are ignored. An error
// names the message; a command this package does not know is an error
// too.
func Decode(protocol, command string, payload []byte) (Message, error) {
	if command == "error" && protocol != "network" {
		e := Error{Proto: protocol}
		if err := decodeInto(payload, &e); err != nil {
			return nil, fmt.Errorf("decode %s:error: %w", protocol, err)
		}
		return e, nil
	}
	dec, ok := decoders[protocol+":"+command]
	if !ok {
		return nil, fmt.Errorf("decode %s:%s: unknown message", protocol, command)
	}
	m, err := dec(payload)
	if err != nil {
		return nil, fmt.Errorf("decode %s:%s: %w", protocol, command, err)
	}
	return m, nil
}

func decodeInto(payload []byte, v any) error {
	if len(payload) == 0 {
		return nil
	}
	return json.Unmarshal(payload, v)
}

func decoder[T Message]() func([]byte) (Message, error) {
	return func(payload []byte) (Message, error) {
		var v T
		if err := decodeInto(payload, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
}

// decoders are the messages Decode knows, by "protocol:command".
var decoders = map[string]func([]byte) (Message, error){}

func register(decs ...func([]byte) (Message, error)) {
	for _, d := range decs {
		m, _ := d(nil)
		decoders[m.Protocol()+":"+m.Command()] = d
	}
}

// Error is <protocol>:error, the answer to a request that failed (for
// network:error, which also reports the network's own problems, see
// NetworkError).
type Error struct {
	// Proto is the sub-protocol of the request that failed.
	Proto   string `json:"-"`
	Message string `json:"message"`
}

func (e Error) Protocol() string { return e.Proto }
func (Error) Command() string    { return "error" }
