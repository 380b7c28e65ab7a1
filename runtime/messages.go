package runtime

import "github.com/msgflo/msgflo-runtime/protocol/wire"

// Event is a message the runtime has for clients: one of protocol/wire's
// messages, which the protocol layer encodes. It never leaves the process
// in any other form.
type Event struct {
	wire.Message
	// To, when non-nil, restricts delivery to these clients (network:data
	// for clients that watch the edge). Nil means every client allowed to
	// receive the message.
	To []ClientID
}

// ClientID identifies a connected client to the runtime (for edge watches).
type ClientID uint64

// Sink receives the runtime's events, in the order the runtime produced
// them. It is called with no lock of the runtime held, one event at a time
// (so it may take its time to encode), and must not call the runtime.
type Sink interface {
	Broadcast(ev Event)
}
