package runtime

import (
	"encoding/json"
	"fmt"
)

// valueOf is JSON text decoded and printed, for comparisons in tests.
func valueOf(data json.RawMessage) string {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return "invalid JSON " + string(data)
	}
	return fmt.Sprint(v)
}
