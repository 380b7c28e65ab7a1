package brokertest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a fault-injecting TCP proxy between a client and a broker:
// Cut breaks every connection through it (the broker itself stays up),
// Block refuses new ones until Unblock, and HoldReplies stops passing what
// the broker sends on the open connections (publisher confirms among it)
// while what the client sends still reaches the broker.
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
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.wait(src)
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
