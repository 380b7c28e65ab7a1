package amqp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Writes from many goroutines arrive whole and in each writer's order,
// and Close sends what still waits before it closes.
func TestBatchConnKeepsEveryWrite(t *testing.T) {
	client, server := net.Pipe()
	b := newBatchConn(client)
	got := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(server)
		got <- data
	}()
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := fmt.Fprintf(b, "<%d:%d>", w, i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	data := <-got
	next := make([]int, writers)
	for len(data) > 0 {
		end := bytes.IndexByte(data, '>')
		if data[0] != '<' || end < 0 {
			t.Fatalf("a write was cut: %q", data[:min(len(data), 40)])
		}
		var w, i int
		if _, err := fmt.Sscanf(string(data[:end+1]), "<%d:%d>", &w, &i); err != nil {
			t.Fatalf("%q: %v", data[:end+1], err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: got write %d, want %d", w, i, next[w])
		}
		next[w]++
		data = data[end+1:]
	}
	for w, n := range next {
		if n != each {
			t.Errorf("writer %d: %d writes arrived, want %d", w, n, each)
		}
	}
}

// Writes that come while one is in the kernel are written together, in
// one call to the connection's Write.
func TestBatchConnGathersWrites(t *testing.T) {
	inner := &heldConn{Conn: nopConn{}, entered: make(chan struct{}, 10), release: make(chan struct{})}
	b := newBatchConn(inner)
	defer b.Close()
	mustWrite(t, b, "a")
	<-inner.entered // "a" is being written, and held there
	mustWrite(t, b, "b")
	mustWrite(t, b, "c")
	close(inner.release)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "bc"}; fmt.Sprint(inner.writes) != fmt.Sprint(want) {
		t.Errorf("the connection's writes: %q, want %q", inner.writes, want)
	}
}

// A write error is returned by every later write.
func TestBatchConnReturnsTheWriteError(t *testing.T) {
	client, server := net.Pipe()
	b := newBatchConn(client)
	defer b.Close()
	_ = server.Close()
	mustWrite(t, b, "x")
	<-b.done // the writing goroutine ends on the error
	if _, err := b.Write([]byte("y")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after the connection failed: %v, want %v", err, io.ErrClosedPipe)
	}
}

// A writer waits while batchMax bytes wait to be written; Close releases
// it, and does not wait forever for a peer that never reads.
func TestBatchConnBoundsWhatWaits(t *testing.T) {
	client, server := net.Pipe() // nobody reads server: its writes block
	defer server.Close()
	b := newBatchConn(client)
	done := make(chan error, 1)
	writes := 0
	go func() {
		big := make([]byte, batchMax)
		for range 4 {
			if _, err := b.Write(big); err != nil {
				done <- err
				return
			}
			writes++
		}
		done <- nil
	}()
	// A buffer waiting (another in the pipe, or not taken yet), the writer
	// waiting for room.
	deadline := time.Now().Add(time.Minute)
	for {
		b.mu.Lock()
		waiting, held := b.waiting, len(b.buf)
		b.mu.Unlock()
		if waiting == 1 && held == batchMax {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("4 writes of %d bytes returned (%v) while none was written", batchMax, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no writer waits for room")
		}
		runtime.Gosched()
	}
	_ = b.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		t.Errorf("the waiting writer got %v", err)
	}
	// The first one may wait before the writing goroutine took it.
	if writes < 1 || writes > 2 {
		t.Errorf("%d writes taken before the bound, want 1 or 2", writes)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func mustWrite(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
}

// heldConn records its writes and holds the first one until release.
type heldConn struct {
	net.Conn
	entered chan struct{}
	release chan struct{}
	writes  []string
}

func (c *heldConn) Write(p []byte) (int, error) {
	c.entered <- struct{}{}
	<-c.release
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

type nopConn struct{ net.Conn }

func (nopConn) Close() error                     { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }

// A write deadline that passes just before Close does not lose what
// waits: tls.Conn.Close (amqps) writes its close_notify, sets the write
// deadline to the present so that no other write follows, then closes
// the connection, whose Close is to write what waits (the close_notify, a
// connection.close-ok before it).
func TestBatchConnCloseWritesWhatADeadlineCut(t *testing.T) {
	client, server := net.Pipe() // nothing written until the reader reads
	b := newBatchConn(client)
	mustWrite(t, b, "close-ok")
	_ = b.SetWriteDeadline(time.Now())
	// Wait for the writing goroutine to meet the deadline.
	deadline := time.Now().Add(time.Minute)
	for {
		b.mu.Lock()
		err := b.err
		b.mu.Unlock()
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write never met the deadline")
		}
		runtime.Gosched()
	}
	if _, err := b.Write([]byte("more")); !isTimeout(err) {
		t.Errorf("a write after the deadline: %v, want a timeout", err)
	}
	got := make(chan []byte, 1)
	go func() {
		data, _ := io.ReadAll(server)
		got <- data
	}()
	_ = b.Close()
	if data := <-got; string(data) != "close-ok" {
		t.Errorf("the peer got %q, want %q", data, "close-ok")
	}
}
