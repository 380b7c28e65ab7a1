// Package jsontext encodes JSON that keeps the bytes it is given: graphs,
// initial packets and message payloads are passed on as written.
package jsontext

import (
	"bytes"
	"encoding/json"
)

// Marshal is json.Marshal without HTML escapes: <, > and & stay as they
// are, in strings and in the json.RawMessage values of v (which
// json.Marshal would rewrite as \u003c, \u003e and \u0026).
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
