//go:build !linux

package supervise

import (
	"fmt"
	"os"
)

// Supported is true where Main works (Linux).
const Supported = false

// Main refuses to run: the supervisor needs Linux.
func Main([]string) int {
	fmt.Fprintln(os.Stderr, "supervise: needs Linux")
	return 127
}
