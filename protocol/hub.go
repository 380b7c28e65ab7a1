package protocol

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/runtime"
)

// hub owns the set of connected clients and fans the runtime's events out
// to them. It never blocks: a client whose send queue is full is dropped
// (it would otherwise hold every other client up).
type hub struct {
	log zerolog.Logger
	enc *encoder

	mu      sync.Mutex // guards clients
	clients map[runtime.ClientID]*client
}

func newHub(log zerolog.Logger, enc *encoder) *hub {
	return &hub{log: log, enc: enc, clients: map[runtime.ClientID]*client{}}
}

func (h *hub) add(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c.id] = c
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c.id)
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Broadcast implements runtime.Sink.
func (h *hub) Broadcast(ev runtime.Event) {
	msg, err := h.enc.encode(ev.Protocol, ev.Command, ev.Payload)
	if err != nil {
		h.log.Error().Err(err).Str("protocol", ev.Protocol).Str("command", ev.Command).Msg("cannot encode event")
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	deliver := func(c *client) {
		if c.mayReceive(ev.Protocol, ev.Command) {
			c.queue(msg)
		}
	}
	if ev.To != nil {
		for _, id := range ev.To {
			if c, ok := h.clients[id]; ok {
				deliver(c)
			}
		}
		return
	}
	for _, c := range h.clients {
		deliver(c)
	}
}

// message is the envelope of every message the runtime sends.
type message struct {
	Protocol string `json:"protocol"`
	Command  string `json:"command"`
	Payload  any    `json:"payload"`
}

// encoder turns messages into wire text, optionally checking each against
// the output schemas (tests switch that on).
type encoder struct {
	validator *Validator
	check     func(protocol, command string, msg []byte, err error)
}

func (e *encoder) encode(protocol, command string, payload any) ([]byte, error) {
	// Not json.Marshal: edge ids read "a() OUT -> IN b()", and escaping
	// '>' as \u003e only makes logs and traces harder to read.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(message{Protocol: protocol, Command: command, Payload: payload}); err != nil {
		return nil, err
	}
	msg := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if e.check != nil {
		var generic any
		verr := json.Unmarshal(msg, &generic)
		if verr == nil {
			verr = e.validator.ValidateOutput(protocol, command, generic)
		}
		e.check(protocol, command, msg, verr)
	}
	return msg, nil
}
