package protocol

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// HubOptions configure a Hub.
type HubOptions struct {
	Logger zerolog.Logger
	// CheckOutput, when set, validates every outgoing message against the
	// output schemas and reports the result (tests use it).
	CheckOutput func(protocol, command string, msg []byte, err error)
}

// Hub owns the set of connected clients and fans the runtime's events out
// to them: it is the runtime's Sink. Make it first, give it to
// runtime.New (Options.Sink), then to New with the runtime.
//
// It never blocks: a client whose send queue is full is dropped (it would
// otherwise hold every other client up).
type Hub struct {
	log zerolog.Logger
	enc *encoder

	mu      sync.Mutex // guards clients
	clients map[runtime.ClientID]*client
}

// NewHub makes the hub of a protocol server.
func NewHub(opts HubOptions) (*Hub, error) {
	enc := &encoder{check: opts.CheckOutput}
	if opts.CheckOutput != nil {
		v, err := NewValidator()
		if err != nil {
			return nil, fmt.Errorf("load protocol schemas: %w", err)
		}
		enc.validator = v
	}
	return &Hub{log: opts.Logger, enc: enc, clients: map[runtime.ClientID]*client{}}, nil
}

func (h *Hub) add(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c.id] = c
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c.id)
}

func (h *Hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// all is every connected client.
func (h *Hub) all() []*client {
	h.mu.Lock()
	defer h.mu.Unlock()
	clients := make([]*client, 0, len(h.clients))
	for _, c := range h.clients {
		clients = append(clients, c)
	}
	return clients
}

// Broadcast implements runtime.Sink.
func (h *Hub) Broadcast(ev runtime.Event) {
	msg, err := h.enc.encode(ev.Message)
	if err != nil {
		h.log.Error().Err(err).Msg("cannot encode event")
		return
	}
	protocol, command := ev.Protocol(), ev.Command()
	h.mu.Lock()
	defer h.mu.Unlock()
	deliver := func(c *client) {
		if c.mayReceive(protocol, command) {
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

// encoder turns messages into wire text, optionally checking each against
// the output schemas (tests switch that on).
type encoder struct {
	validator *Validator
	check     func(protocol, command string, msg []byte, err error)
}

func (e *encoder) encode(m wire.Message) ([]byte, error) {
	msg, err := wire.Encode(m)
	if err != nil {
		return nil, err
	}
	if e.check != nil {
		var generic any
		verr := json.Unmarshal(msg, &generic)
		if verr == nil {
			verr = e.validator.ValidateOutput(m.Protocol(), m.Command(), generic)
		}
		e.check(m.Protocol(), m.Command(), msg, verr)
	}
	return msg, nil
}
