package protocol

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/logtext"

	"github.com/msgflo/msgflo-runtime/runtime"
)

const (
	// DefaultWriteWait is how long one message may take to write; a client
	// that does not read for that long is dropped.
	DefaultWriteWait = 10 * time.Second
	// pongWait is how long the peer may stay silent (pongs included).
	pongWait = 60 * time.Second
	// pingPeriod must be shorter than pongWait.
	pingPeriod = pongWait * 9 / 10
	// DefaultSendQueueBytes bounds the bytes waiting for a slow client;
	// beyond them the client is disconnected.
	DefaultSendQueueBytes = 16 << 20
	// queuedOverhead is what a queued message counts for beyond its
	// bytes (its place in the queue): many small messages are bounded too.
	queuedOverhead = 64
	// DefaultMaxConnections is how many clients may be connected at once.
	DefaultMaxConnections = 1000
	// DefaultReadLimit is the largest message a client may send; a larger
	// frame closes that connection (status 1009).
	DefaultReadLimit = 8 << 20
)

// client is one WebSocket connection: a reader goroutine handling requests
// in order and a writer goroutine draining the bounded send queue.
//
// Every message goes through the queue, in order. The reader flushes the
// queue itself after each request, so a reply leaves without a hand-over to
// another goroutine (and thread); the writer flushes what other goroutines
// queue (broadcasts, data events) and sends pings. wmu makes one of them
// the writer at a time, holding it while it takes messages off the queue,
// so order is kept.
type client struct {
	id   runtime.ClientID
	conn *websocket.Conn
	log  zerolog.Logger
	// clientLog limits the log lines clients cause (the server's).
	clientLog *logtext.Limiter
	// qmu guards the send queue: the messages waiting, in order, and
	// what they count for (their bytes and queuedOverhead each), which
	// maxQueued bounds. The queue is bounded by bytes only: a request
	// answered with many messages (component:list of a large library)
	// is not a slow client.
	qmu       sync.Mutex
	pending   [][]byte
	spare     [][]byte // the slice the last flush emptied, for reuse
	queued    int64
	maxQueued int64
	writeWait time.Duration
	wake      chan struct{} // tells the writer the queue has something
	wmu       sync.Mutex
	// handling is set while the reader handles a request; it will flush
	// afterwards, so the writer need not be woken.
	handling atomic.Bool
	// caps is the capability set of the client's latest message; broadcasts
	// are filtered with it.
	caps atomic.Pointer[capabilitySet]

	// remoteHost is the peer's IP, against which wrong secrets count.
	remoteHost string
	// authenticated is set once the client presented the secret (from the
	// start without one); evicted once it was closed to make room.
	authenticated, evicted atomic.Bool
	// wrongSecrets and secret (the right secret, once presented) belong
	// to the reader goroutine.
	wrongSecrets int
	secret       string

	closeOnce sync.Once
	done      chan struct{} // closed when the client is going away
	closeCode int           // the status the writer says goodbye with; set before done closes
	closeText string
}

// queue hands a message to the writer without blocking; a client that
// cannot keep up is disconnected.
func (c *client) queue(msg []byte) {
	select {
	case <-c.done:
		return
	default:
	}
	size := int64(len(msg)) + queuedOverhead
	limit := c.maxQueued
	if limit <= 0 {
		limit = DefaultSendQueueBytes
	}
	c.qmu.Lock()
	// One message larger than the limit still goes to an empty queue.
	full := c.queued > 0 && c.queued+size > limit
	if !full {
		c.pending = append(c.pending, msg)
		c.queued += size
	}
	queued, n := c.queued, len(c.pending)
	c.qmu.Unlock()
	if full {
		c.clientLog.Event(c.log.Warn()).Int64("queued_bytes", queued).Int("queued_messages", n).Msg("client too slow: send queue full, disconnecting")
		c.closeWith(websocket.ClosePolicyViolation, "too slow: send queue full")
		return
	}
	if !c.handling.Load() {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// take returns the messages queued, in order, and empties the queue; what
// they count for is given back as they are written (written). Only the
// writer of the moment (wmu) takes.
func (c *client) take() [][]byte {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	msgs := c.pending
	c.pending = c.spare[:0]
	c.spare = nil
	return msgs
}

// written gives back what msgs counted for in the queue and keeps the
// slice for the next take.
func (c *client) written(msgs [][]byte) {
	var size int64
	for i, m := range msgs {
		size += int64(len(m)) + queuedOverhead
		msgs[i] = nil
	}
	c.qmu.Lock()
	c.queued -= size
	if c.spare == nil && cap(msgs) <= 4096 {
		c.spare = msgs[:0]
	}
	c.qmu.Unlock()
}

// flush writes every queued message.
func (c *client) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for {
		msgs := c.take()
		if len(msgs) == 0 {
			c.written(msgs)
			return nil
		}
		for _, msg := range msgs {
			_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeWait))
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				c.written(msgs) // the connection is going away
				return err
			}
		}
		c.written(msgs)
	}
}

func (c *client) close() {
	c.closeWith(websocket.CloseNormalClosure, "")
}

// closeWith makes the writer say goodbye with this status, unless the
// client is already going away.
func (c *client) closeWith(code int, text string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.done)
	})
}

func (c *client) mayReceive(protocol, command string) bool {
	caps := c.caps.Load()
	return caps.allowsOutput(protocol, command)
}

// writePump writes queued messages and pings until the client goes away.
func (c *client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		_ = c.conn.Close()
	}()
	for {
		select {
		case <-c.wake:
			if err := c.flush(); err != nil {
				c.log.Debug().Err(err).Msg("write failed")
				c.close()
				return
			}
		case <-ticker.C:
			c.wmu.Lock()
			_ = c.conn.SetWriteDeadline(time.Now().Add(c.writeWait))
			err := c.conn.WriteMessage(websocket.PingMessage, nil)
			c.wmu.Unlock()
			if err != nil {
				c.close()
				return
			}
		case <-c.done:
			c.wmu.Lock()
			defer c.wmu.Unlock()
			_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.closeCode, c.closeText), time.Now().Add(c.writeWait))
			return
		}
	}
}
