package procs

import (
	"bytes"
	"io"
	"sync"
)

// maxLine is the longest line forwarded whole; a longer one is written in
// pieces of this size, each prefixed. A line ends with \n (a \r before it
// is dropped, as bufio.ScanLines does).
const maxLine = 64 << 10

// lineWriter writes each line it is given as one write of prefix+line, so
// that lines of several processes sharing out never mix.
type lineWriter struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
	buf    []byte // the start of a line not ended yet
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i >= 0 && i <= maxLine {
			w.emit(bytes.TrimSuffix(w.buf[:i], []byte("\r")))
			w.buf = w.buf[i+1:]
		} else if len(w.buf) > maxLine {
			w.emit(w.buf[:maxLine])
			w.buf = w.buf[maxLine:]
		} else {
			break
		}
	}
	if len(w.buf) == 0 {
		w.buf = nil // let a large buffer go
	}
	return len(p), nil
}

// flush writes what is left of a line not ended by a newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *lineWriter) emit(line []byte) {
	out := make([]byte, 0, len(w.prefix)+len(line)+1)
	out = append(out, w.prefix...)
	out = append(out, line...)
	out = append(out, '\n')
	_, _ = w.out.Write(out)
}
