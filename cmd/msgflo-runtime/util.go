package main

import (
	"bytes"
	"io"
	"sync"

	"github.com/msgflo/msgflo-runtime/network"
)

// splitList splits a comma-separated flag value, dropping blanks and empty
// items: the rule broker URL lists follow, so the one in network is used.
func splitList(s string) []string {
	return network.SplitURLs(s)
}

// gatedWriter holds log output back until open is called: fbp-spec and the
// compliance suite treat anything on stderr before the ready line as a
// failed start, so start-up logs are written just after it.
type gatedWriter struct {
	mu   sync.Mutex
	out  io.Writer
	buf  bytes.Buffer
	open bool
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return g.out.Write(p)
	}
	if g.buf.Len() > 1<<20 { // a runaway start-up log is cut, not buffered forever
		return len(p), nil
	}
	return g.buf.Write(p)
}

// Open writes what was held back and lets everything through from now on.
func (g *gatedWriter) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return
	}
	g.open = true
	_, _ = g.out.Write(g.buf.Bytes())
	g.buf.Reset()
}
