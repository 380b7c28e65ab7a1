package participant_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/participant"
)

// Processes of one role on one host get distinct client ids, the lowest
// free number first: a process started after one ended takes its id (and
// so its session) back.
func TestMQTTClientIDs(t *testing.T) {
	role := "idtest" + uuid.New()[:8]
	a, releaseA := participant.MQTTClientID(role)
	b, releaseB := participant.MQTTClientID(role)
	defer releaseB()
	if a == b || !strings.HasPrefix(a, "msgflo-"+role+"-") || !strings.HasSuffix(a, "-0") || !strings.HasSuffix(b, "-1") {
		t.Fatalf("ids %q and %q: want msgflo-%s-HOST-0 and -1", a, b, role)
	}
	releaseA()
	c, releaseC := participant.MQTTClientID(role)
	defer releaseC()
	if c != a {
		t.Fatalf("after the first ended: %q, want its id %q", c, a)
	}
}

// A symbolic link where a slot's lock file would be (another user's, in
// the shared temporary directory) is not followed: that slot is skipped
// and the link's target is not created.
func TestMQTTClientIDFollowsNoLink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no lock files on Windows")
	}
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	role := "idlink" + uuid.New()[:8]
	target := filepath.Join(dir, "victim")
	if err := os.Symlink(target, filepath.Join(dir, "msgflo-mqtt-"+role+"-0.lock")); err != nil {
		t.Fatal(err)
	}
	id, release := participant.MQTTClientID(role)
	defer release()
	if !strings.HasSuffix(id, "-1") {
		t.Errorf("id %q: want the slot after the link's, -1", id)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the link's target was created (%v)", err)
	}
}
