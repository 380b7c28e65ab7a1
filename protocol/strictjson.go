package protocol

// Strict JSON: Go's encoding/json takes the last of repeated keys and
// matches struct fields case-insensitively ("Payload", "ID", even
// "ſecret"), while schema validation sees keys exactly. So that what is
// validated is what is handled, repeated keys are refused (readStrict),
// and a key that differs from a field of the handler's payload only by
// case is refused (decodeStrict).

// The scanners below read JSON that json.Valid accepted; they never
// allocate for values, only for keys.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just after the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
			i++
		}
		return i
	}
}

// members calls fn with each key and raw value of the object obj (valid
// JSON, an object) in order, and stops at fn's first error.
func members(obj []byte, fn func(key string, value []byte) error) error {
	i := skipSpace(obj, 0) + 1 // '{'
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return nil
		}
		ks := i
		i = skipString(obj, i)
		key := keyText(obj[ks:i])
		i = skipSpace(obj, i) + 1 // ':'
		i = skipSpace(obj, i)
		vs := i
		i = skipValue(obj, i)
		if err := fn(key, obj[vs:i]); err != nil {
			return err
		}
		i = skipSpace(obj, i)
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
}
