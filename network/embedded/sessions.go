package embedded

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// sessions makes mochi-mqtt's persistent sessions lose nothing and keep
// each publisher's order across connection cuts. mochi-mqtt v2.7.9, by
// itself, loses messages in four ways and re-sends out of order:
//
//   - Taking a session over copies the old client's messages in flight to
//     the new client and only then registers the new client: a message
//     routed in between goes to the old client and is lost. Here routing a
//     publish holds routing for reading, and a takeover holds it for
//     writing from just before mochi takes the session over until it has
//     re-sent the session's messages: nothing is routed meanwhile (nor
//     written to the new client before its CONNACK).
//   - mochi keeps the messages sent to a client and the acknowledgements
//     of the client's own publishes in one map by packet id, though the
//     two directions number their packets independently: a client's
//     publish with the id of a message sent to it and not yet acknowledged
//     overwrites, then deletes, that message. Here the messages sent to
//     each client are also kept in sent, and put back once the client's
//     publish is processed.
//   - For the same reason, mochi refuses a client's SUBSCRIBE or
//     UNSUBSCRIBE whose packet id is that of a message sent to the client
//     and not yet acknowledged ("packet identifier in use": a SUBACK
//     failure, an UNSUBACK that does not say so and a subscription kept).
//     Here such a message is taken out of flight while the packet is
//     processed, holding routing as a publish does, and put back after.
//   - A client's QoS 1 publish is acknowledged (and the acknowledgement
//     kept in flight) before it is routed, and not routed when the
//     acknowledgement cannot be written; the kept acknowledgement is then
//     re-sent to the client's next connection, which takes the message for
//     delivered. Here the acknowledgement of a publish that failed is
//     forgotten: the client publishes it again.
//   - The session's messages are re-sent sorted by the second they were
//     published in, in no order within a second. Here a publish's Created
//     is the broker's publish order instead, and the messages of a session
//     are renumbered 0, 1, 2... in that order before they are re-sent
//     (the sort compares 16 bits of Created). Created then means nothing
//     as a time: the broker is given no maximum message expiry.
//
// network/mqtt's outage tests cut connections under traffic on the
// embedded broker to show it.
type sessions struct {
	mochi.HookBase
	srv *mochi.Server
	log zerolog.Logger

	routing sync.RWMutex
	seq     atomic.Int64 // the last publish's Created
	// publishing holds the TCP clients whose publish holds routing, from
	// OnPublish to OnPacketProcessed (a client's packets are processed one
	// at a time), with the publish's packet id.
	publishing sync.Map

	mu        sync.Mutex                                  // guards the maps below
	takeovers map[*mochi.Client]func()                    // the release of routing, by the new client
	sent      map[*mochi.Client]map[uint16]packets.Packet // messages sent to a client, not yet acknowledged
	aside     map[*mochi.Client]packets.Packet            // the message out of flight during a client's (un)subscribe
}

// firstSeq is above every renumbered Created (a session holds at most
// 65535 messages, mochi's packet ids).
const firstSeq = 1 << 20

// takeoverHold bounds how long a takeover holds routing when the new
// connection fails before its session is established (mochi then calls
// no hook).
const takeoverHold = 2 * time.Second

func newSessions(srv *mochi.Server, log zerolog.Logger) *sessions {
	h := &sessions{srv: srv, log: log, takeovers: map[*mochi.Client]func(){}, sent: map[*mochi.Client]map[uint16]packets.Packet{}, aside: map[*mochi.Client]packets.Packet{}}
	h.seq.Store(firstSeq)
	return h
}

func (*sessions) ID() string { return "sessions" }

func (*sessions) Provides(b byte) bool {
	switch b {
	case mochi.OnPublish, mochi.OnPacketRead, mochi.OnPacketProcessed, mochi.OnQosPublish, mochi.OnQosComplete, mochi.OnQosDropped,
		mochi.OnSessionEstablish, mochi.OnSessionEstablished, mochi.OnDisconnect, mochi.OnPublishDropped:
		return true
	}
	return false
}

// OnPublish numbers the publish and, for a TCP client, holds routing
// until the packet is processed (inline publishes hold it in publish).
func (h *sessions) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if !cl.Net.Inline {
		h.routing.RLock()
		h.publishing.Store(cl, pk.PacketID)
	}
	pk.Created = h.seq.Add(1)
	return pk, nil
}

// publish routes an inline publish, holding routing.
func (h *sessions) publish(f func() error) error {
	h.routing.RLock()
	defer h.routing.RUnlock()
	return f()
}

// OnPacketRead takes the message in flight to the client with the packet
// id of the client's SUBSCRIBE or UNSUBSCRIBE out of flight, holding
// routing (a takeover must not copy the session without it), until
// OnPacketProcessed. Only a packet mochi will process: one it finds
// invalid ends the connection without OnPacketProcessed.
func (h *sessions) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	switch {
	case cl.Net.Inline:
		return pk, nil
	case pk.FixedHeader.Type == packets.Subscribe && pk.SubscribeValidate() == packets.CodeSuccess:
	case pk.FixedHeader.Type == packets.Unsubscribe && pk.UnsubscribeValidate() == packets.CodeSuccess:
	default:
		return pk, nil
	}
	h.routing.RLock()
	out, ok := cl.State.Inflight.Get(pk.PacketID)
	if !ok || out.FixedHeader.Type != packets.Publish {
		h.routing.RUnlock()
		return pk, nil
	}
	cl.State.Inflight.Delete(pk.PacketID)
	h.mu.Lock()
	h.aside[cl] = out
	h.mu.Unlock()
	return pk, nil
}

// OnPacketProcessed puts back the message sent to the client that the
// client's publish overwrote (or its (un)subscribe's id took out of
// flight), or forgets the acknowledgement of a publish that failed (it
// was not routed); then it releases what OnPublish (OnPacketRead) holds.
func (h *sessions) OnPacketProcessed(cl *mochi.Client, pk packets.Packet, err error) {
	if cl.Net.Inline {
		return
	}
	if t := pk.FixedHeader.Type; t == packets.Subscribe || t == packets.Unsubscribe {
		h.mu.Lock()
		out, held := h.aside[cl]
		delete(h.aside, cl)
		h.mu.Unlock()
		if held {
			if _, busy := cl.State.Inflight.Get(out.PacketID); !busy {
				cl.State.Inflight.Set(out)
			}
			h.routing.RUnlock()
		}
		return
	}
	if pk.FixedHeader.Type != packets.Publish {
		return
	}
	if pk.FixedHeader.Qos > 0 {
		h.mu.Lock()
		out, wasSent := h.sent[cl][pk.PacketID]
		h.mu.Unlock()
		cur, ok := cl.State.Inflight.Get(pk.PacketID)
		switch {
		case wasSent && (!ok || cur.FixedHeader.Type != packets.Publish):
			cl.State.Inflight.Set(out)
		case err != nil && ok && cur.FixedHeader.Type != packets.Publish:
			cl.State.Inflight.Delete(pk.PacketID)
		}
	}
	if _, held := h.publishing.LoadAndDelete(cl); held {
		h.routing.RUnlock()
	}
}

// OnQosPublish records a message sent (or sent again) to a client.
func (h *sessions) OnQosPublish(cl *mochi.Client, pk packets.Packet, _ int64, _ int) {
	if pk.FixedHeader.Type != packets.Publish {
		return // an acknowledgement of the client's publish
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sent[cl] == nil {
		h.sent[cl] = map[uint16]packets.Packet{}
	}
	h.sent[cl][pk.PacketID] = pk
}

// OnQosComplete: the client acknowledged a message sent to it (or mochi
// acknowledged the client's publish being processed, which is no message
// sent to it).
func (h *sessions) OnQosComplete(cl *mochi.Client, pk packets.Packet) {
	if id, ok := h.publishing.Load(cl); ok && id == pk.PacketID {
		return
	}
	h.forget(cl, pk.PacketID)
}

// OnQosDropped: mochi dropped a message in flight.
func (h *sessions) OnQosDropped(cl *mochi.Client, pk packets.Packet) { h.forget(cl, pk.PacketID) }

func (h *sessions) forget(cl *mochi.Client, id uint16) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sent[cl], id)
}

// OnDisconnect forgets a client whose session ends with the connection.
func (h *sessions) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	if expire {
		h.mu.Lock()
		delete(h.sent, cl)
		h.mu.Unlock()
	}
}

// OnSessionEstablish runs just before mochi takes the session of a client
// id over: with routing held, it renumbers the old client's messages in
// flight, which the new client inherits.
func (h *sessions) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	if pk.Connect.Clean {
		return // nothing is inherited
	}
	h.routing.Lock()
	release := sync.OnceFunc(h.routing.Unlock)
	h.mu.Lock()
	h.takeovers[cl] = release
	if old, ok := h.srv.Clients.Get(cl.ID); ok {
		delete(h.sent, old) // the new client records them again as they are re-sent
		renumber(old.State.Inflight)
	}
	h.mu.Unlock()
	time.AfterFunc(takeoverHold, func() { h.endTakeover(cl) })
}

// OnSessionEstablished runs once the session's messages are re-sent.
func (h *sessions) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.endTakeover(cl)
}

func (h *sessions) endTakeover(cl *mochi.Client) {
	h.mu.Lock()
	release := h.takeovers[cl]
	delete(h.takeovers, cl)
	h.mu.Unlock()
	if release != nil {
		release()
	}
}

// OnPublishDropped: a client's pending writes are full (mochi's
// MaximumClientWritesPending); the message is lost for it.
func (h *sessions) OnPublishDropped(cl *mochi.Client, pk packets.Packet) {
	h.log.Warn().Str("client", cl.ID).Str("queue", pk.TopicName).Msg("embedded broker dropped a message: the client's pending writes are full")
}

// renumber gives the messages of a session Created 0, 1, 2... in their
// publish order, which is the order mochi re-sends them in.
func renumber(inflight *mochi.Inflight) {
	pks := inflight.GetAll(false)
	sort.SliceStable(pks, func(i, j int) bool { return pks[i].Created < pks[j].Created })
	for i, pk := range pks {
		pk.Created = int64(i)
		inflight.Set(pk)
	}
}
