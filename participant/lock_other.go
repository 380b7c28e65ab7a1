//go:build !unix

package participant

import "os"

// takeLock cannot lock here: MQTTClientID gives random ids.
func takeLock(string) (*os.File, bool) { return nil, false }
