package brokertest

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a fault-injecting TCP proxy between a client and a broker:
// Cut breaks every connection through it (the broker itself stays up),
// Block refuses new ones until Unblock, HoldReplies stops passing what
// the broker sends on the open connections (publisher confirms among it)
// while what the client sends still reaches the broker, and
// RefuseConfirms turns RabbitMQ's publisher confirms into refusals.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   map[net.Conn]bool
	blocked bool
	accepts int
	// held, when not nil, stops the broker-to-client direction of the
	// connections open when HoldReplies was called; Cut closes it.
	held    chan struct{}
	holding map[net.Conn]bool
	// refuse is how many more publisher confirms become refusals (< 0:
	// all of them); refused counts those that did.
	refuse  int
	refused int
	wg      sync.WaitGroup
}

// NewProxy listens on a free local port and forwards to target
// (host:port). It closes with the test.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepted counts the connections the proxy has forwarded.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.blocked {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.accepts++
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up, true)
		go p.pipe(up, c, false)
	}
}

func (p *Proxy) pipe(dst, src net.Conn, fromBroker bool) {
	defer p.wg.Done()
	if fromBroker {
		buf := make([]byte, 32*1024)
		var frames amqpFrames
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.wait(src)
				frames.scan(buf[:n], p.refuseConfirm)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
	} else {
		_, _ = io.Copy(dst, src)
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// wait blocks while the connection from the broker src is held.
func (p *Proxy) wait(src net.Conn) {
	p.mu.Lock()
	held := p.held
	holding := p.holding[src]
	p.mu.Unlock()
	if held != nil && holding {
		<-held
	}
}

// HoldReplies stops passing the broker's bytes to the clients connected
// now, until Cut: publisher confirms, deliveries and heartbeats from the
// broker stay in the proxy, while the clients' own frames (publishes, acks)
// still reach the broker. Connections made later are not held.
func (p *Proxy) HoldReplies() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = make(chan struct{})
		p.holding = map[net.Conn]bool{}
	}
	for c := range p.conns {
		p.holding[c] = true
	}
}

// Cut breaks every open connection (and drops what HoldReplies held).
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	if p.held != nil {
		close(p.held)
		p.held, p.holding = nil, nil
	}
}

// RefuseConfirms makes the next n publisher confirms RabbitMQ sends
// through the proxy (basic.ack frames) reach the clients as refusals
// (basic.nack), as RabbitMQ refuses publishes while a quorum queue elects
// its leader; n < 0 refuses every one until RefuseConfirms(0). The broker
// keeps the messages: the client is told it did not. AMQP only.
func (p *Proxy) RefuseConfirms(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = n
}

// RefusedConfirms counts the confirms RefuseConfirms turned into refusals.
func (p *Proxy) RefusedConfirms() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// refuseConfirm reports whether a confirm on its way to a client is to be
// refused, and counts it.
func (p *Proxy) refuseConfirm() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refuse == 0 {
		return false
	}
	if p.refuse > 0 {
		p.refuse--
	}
	p.refused++
	return true
}

// Block refuses new connections (and Cut breaks the open ones) until
// Unblock: the broker is unreachable.
func (p *Proxy) Block() {
	p.mu.Lock()
	p.blocked = true
	p.mu.Unlock()
}

// Unblock lets connections through again.
func (p *Proxy) Unblock() {
	p.mu.Lock()
	p.blocked = false
	p.mu.Unlock()
}

// Close stops the proxy and breaks its connections.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

// amqpFrames follows the frames of the stream RabbitMQ sends a client
// (AMQP 0-9-1: type, channel, payload size, payload, frame end), chunk by
// chunk, to find publisher confirms in it.
type amqpFrames struct {
	header  [7]byte
	nheader int // bytes of header read of the current frame
	left    int // bytes of payload and frame end left of the current frame
	off     int // offset in the payload of the next byte
	method  [4]byte
}

// Frame type and method ids of the confirms (class basic, 60).
const (
	amqpMethodFrame = 1
	amqpBasicClass  = 60
	amqpBasicAck    = 80
	amqpBasicNack   = 120
)

// scan reads a chunk of the stream; at each basic.ack it asks refuse and,
// when told to, turns the frame into a basic.nack in place (the method id
// is the payload's fourth byte; the arguments, delivery tag and flags,
// have the same size in both, and the flag bit multiple is the same).
func (f *amqpFrames) scan(buf []byte, refuse func() bool) {
	for i := 0; i < len(buf); {
		if f.nheader < len(f.header) {
			f.header[f.nheader] = buf[i]
			f.nheader++
			i++
			if f.nheader == len(f.header) {
				f.left = int(binary.BigEndian.Uint32(f.header[3:7])) + 1
				f.off = 0
			}
			continue
		}
		if f.header[0] == amqpMethodFrame && f.off < len(f.method) {
			f.method[f.off] = buf[i]
			if f.off == 3 && f.method == [4]byte{0, amqpBasicClass, 0, amqpBasicAck} && refuse() {
				buf[i] = amqpBasicNack
			}
			f.off++
			f.left--
			i++
		} else {
			n := min(f.left, len(buf)-i)
			f.off += n
			f.left -= n
			i += n
		}
		if f.left == 0 {
			f.nheader = 0
		}
	}
}
