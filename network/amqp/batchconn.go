package amqp

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// batchConn hands a connection's writes to a goroutine of its own, which
// writes whatever has gathered in one system call. amqp091 flushes after
// every publish (its three frames) with a write of its own; a participant
// publishing as fast as the broker delivers made one system call per
// message, and on a machine the broker shares, the CPU those calls take
// is the broker's. Writes gather while the previous one is in the kernel,
// so an idle connection sends each at once; a busy one sends them in
// batches. Reads go straight to the connection.
type batchConn struct {
	net.Conn

	mu sync.Mutex
	// more is signalled when buf gets data or the connection closes;
	// room when the writer took buf (a writer waits for room while buf
	// holds batchMax bytes).
	more, room sync.Cond
	buf        []byte
	err        error // the first write error: every later write returns it
	waiting    int   // writers waiting for room
	closed     bool
	flushBy    time.Time     // the write deadline Close set
	done       chan struct{} // closed when the writing goroutine ends
}

// batchMax bounds the bytes waiting to be written: beyond it, a write
// waits for the one in the kernel to finish.
const batchMax = 256 << 10

// keepBuffer is the largest buffer kept for the next writes.
const keepBuffer = 64 << 10

// closeFlushWait bounds how long Close waits for the bytes still waiting
// (a connection.close-ok, say) to be written.
const closeFlushWait = time.Second

func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c, done: make(chan struct{})}
	b.more.L, b.room.L = &b.mu, &b.mu
	go b.writeLoop()
	return b
}

// Write copies p to be written; it returns the error of an earlier write
// that failed.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && !b.closed && len(b.buf) >= batchMax {
		b.waiting++
		b.room.Wait()
		b.waiting--
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.closed {
		return 0, net.ErrClosed
	}
	if len(b.buf) == 0 {
		b.more.Signal()
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *batchConn) writeLoop() {
	defer close(b.done)
	var spare []byte
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		// After a deadline passed (b.err), what waits is kept for Close.
		for (len(b.buf) == 0 || b.err != nil) && !b.closed {
			b.more.Wait()
		}
		if len(b.buf) == 0 {
			return // closed, and everything written
		}
		out := b.buf
		b.buf = spare[:0]
		b.room.Broadcast()
		b.mu.Unlock()
		n, err := b.Conn.Write(out)
		b.mu.Lock()
		spare = nil
		if errors.Is(err, os.ErrDeadlineExceeded) && (!b.closed || time.Now().Before(b.flushBy)) {
			// A deadline before Close's (tls.Conn.Close sets one right
			// after its close_notify): later writes fail, and Close writes
			// what was not written, in its own time.
			b.err, b.buf = err, append(out[n:], b.buf...)
			b.room.Broadcast()
			continue
		}
		if cap(out) <= keepBuffer {
			spare = out // reused; a large one goes, not held by an idle connection
		}
		if err != nil {
			b.err, b.buf = err, nil
			b.room.Broadcast()
			return
		}
	}
}

// Close writes what waits (for closeFlushWait at most), then closes the
// connection.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.flushBy = time.Now().Add(closeFlushWait)
		_ = b.Conn.SetWriteDeadline(b.flushBy)
		b.closed = true
	}
	b.more.Signal()
	b.room.Broadcast()
	b.mu.Unlock()
	<-b.done
	return b.Conn.Close()
}
