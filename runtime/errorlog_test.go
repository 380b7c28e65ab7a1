package runtime

import (
	"strconv"
	"testing"
)

// The status page shows the last 50 errors (README, Status page): the
// log keeps the newest 50, oldest first.
func TestErrorLogKeepsTheLast50(t *testing.T) {
	var l errorLog
	for i := range 60 {
		l.add(ErrorRecord{Message: strconv.Itoa(i)})
	}
	got := l.list()
	if len(got) != 50 {
		t.Fatalf("kept %d errors, want 50", len(got))
	}
	if got[0].Message != "10" || got[49].Message != "59" {
		t.Fatalf("kept errors %v to %v, want 10 to 59", got[0].Message, got[49].Message)
	}
}
