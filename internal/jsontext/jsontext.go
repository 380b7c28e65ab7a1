// Package jsontext encodes JSON that keeps the bytes it is given: graphs,
// initial packets and message payloads are passed on as written.
package jsontext

import (
	"bytes"
	"encoding/json"
	"sync"
)

// Marshal is json.Marshal without HTML escapes: <, > and & stay as they
// are, in strings and in the json.RawMessage values of v (which
// json.Marshal would rewrite as \u003c, \u003e and \u0026). Edge ids read
// "a() OUT -> IN b()", and payloads reach participants as clients wrote
// them. The encoders are reused: every protocol message goes through it.
func Marshal(v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	defer func() {
		if e.buf.Cap() <= 64<<10 { // a big message's buffer is not kept
			e.buf.Reset()
			encoders.Put(e)
		}
	}()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))), nil
}

// encoder is a json.Encoder writing into its own buffer, kept for reuse.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}
