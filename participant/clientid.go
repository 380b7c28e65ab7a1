package participant

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
)

// maxSlots bounds the processes of one role on one host that get a
// stable client id; beyond, an id is random.
const maxSlots = 1000

// MQTTClientID is the MQTT client id of a participant process with role
// on this host: msgflo-ROLE-HOST-N, N the lowest number that no other
// process of the role on this host holds (a lock file in the temporary
// directory, released when the process ends, however it ends). N
// processes of one role thus each have their own persistent session and
// share the role's work (see network/mqtt), and a process that died and
// is started again takes its session back, with the role's messages the
// broker kept for it meanwhile (Mosquitto and the embedded broker go on
// giving a disconnected member of a shared subscription its share).
// release gives the number back.
func MQTTClientID(role string) (id string, release func()) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	prefix := "msgflo-" + role + "-" + idSafe(host)
	dir := os.TempDir()
	for n := range maxSlots {
		lock := filepath.Join(dir, fmt.Sprintf("msgflo-mqtt-%s-%d.lock", idSafe(role), n))
		if f, ok := takeLock(lock); ok {
			return fmt.Sprintf("%s-%d", prefix, n), func() { f.Close() }
		}
	}
	return prefix + "-" + uuid.New()[:8], func() {}
}

// idSafe keeps letters, digits and - _ . of s (a client id or file name
// part), the rest as _.
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
