package network

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/msgflo/msgflo-runtime/internal/jsontext"
)

// AsJSON turns a message body into the JSON value it carries, the way
// msgflo-nodejs reads a body (UTF-8 text, then JSON.parse, falling back to
// the text itself):
//
//   - a body that is JSON (UTF-8 encoded) is returned as it is: the same
//     bytes, nothing decoded or re-encoded;
//   - any other body is data too: it becomes a JSON string of its text
//     (`on` -> `"on"`, an empty body -> `""`);
//   - bytes that are not valid UTF-8 are first replaced by U+FFFD, one per
//     maximal invalid sequence (as Node.js's Buffer.toString and the WHATWG
//     decoder do); if what is left is JSON it is returned, else its string.
//
// The result is always valid JSON in valid UTF-8. It may share memory with
// body.
func AsJSON(body []byte) json.RawMessage {
	text := body
	if !utf8.Valid(text) {
		text = toValidUTF8(text)
	}
	if json.Valid(text) {
		return text
	}
	return jsonString(text)
}

// IsJSON reports whether data is JSON encoded in UTF-8 (what a participant
// may publish).
func IsJSON(data []byte) bool { return utf8.Valid(data) && json.Valid(data) }

// jsonString encodes text (valid UTF-8) as a JSON string, escaping only
// what JSON requires (no HTML escapes: the text stays readable).
func jsonString(text []byte) json.RawMessage {
	data, _ := jsontext.Marshal(string(text)) // a string always encodes
	return data
}

// toValidUTF8 replaces each maximal subpart of an ill-formed UTF-8
// sequence by U+FFFD (Unicode's "substitution of maximal subparts", which
// is what Node.js does when it decodes a Buffer).
func toValidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			out = append(out, b[i:i+n]...)
			i += n
			continue
		}
		out = utf8.AppendRune(out, utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return out
}

// maximalSubpart is the length of the invalid sequence at the start of b:
// a lead byte and the continuation bytes that could still have made a
// valid sequence with it (at least 1).
func maximalSubpart(b []byte) int {
	lo, hi, need := byte(0x80), byte(0xBF), 0
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		lo, need = 0xA0, 2
	case c == 0xED:
		hi, need = 0x9F, 2
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		lo, need = 0x90, 3
	case c == 0xF4:
		hi, need = 0x8F, 3
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF // only the second byte has a narrower range
	}
	return n
}
