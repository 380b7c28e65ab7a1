package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/dial"
)

// scaleInstances processes of one role share scaleMessages messages.
const (
	scaleInstances = 3
	scaleMessages  = 3000
	// scaleTimeout guards the run against a hang; it is not a speed
	// requirement.
	scaleTimeout = 2 * time.Minute
)

// #23 "Roles scale out on MQTT": three participant processes of one role
// (`msgflo-runtime participant core/Output`, each a process with its own
// connection and client id) on Mosquitto and on the runtime's embedded
// broker share 3,000 messages: each is processed (logged, then passed on)
// by exactly one of them, and every one processes some. Seen failing with
// the processes' broker URL ending in ?shared=false (plain subscriptions:
// nearly every message processed three times).
func TestThreeProcessesOfOneRoleShareItsWork(t *testing.T) {
	t.Parallel()
	for _, bk := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"mosquitto", mosquitto},
		{"embedded", func(t *testing.T) string {
			_, url := start(t, []string{"MSGFLO_BROKER="}, "--port", "0").ready(t)
			return url
		}},
	} {
		t.Run(bk.name, func(t *testing.T) { shareOneRole(t, bk.url(t)) })
	}
}

func shareOneRole(t *testing.T, url string) {
	role := "share" + uuid.New()[:8]
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	b, err := dial.Open(ctx, url, dial.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := make(chan string, 2*scaleMessages)
	tap, err := b.Tap(ctx, role+".OUT", func(_ string, data []byte) { out <- string(data) })
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()

	var logs []*syncBuffer
	var stops []func() error
	for range scaleInstances {
		log, stop := startParticipant(t, url, role, "core/Output", "--role", role)
		logs, stops = append(logs, log), append(stops, stop)
	}
	for n := range scaleMessages {
		if err := b.Send(ctx, role+".IN", []byte(strconv.Itoa(n))); err != nil {
			t.Fatal(err)
		}
	}
	for passed := map[string]bool{}; len(passed) < scaleMessages; {
		select {
		case v := <-out:
			passed[v] = true
		case <-ctx.Done():
			t.Fatalf("%d of %d messages came out of the role", len(passed), scaleMessages)
		}
	}
	// Stopped, each process has written its whole log.
	for i, stop := range stops {
		if err := stop(); err != nil {
			t.Fatalf("instance %d: %v\n%s", i, err, logs[i].String())
		}
	}
	checkShares(t, logs)
}

var outputLine = regexp.MustCompile(`\boutput data=(\d+)\b`)

// checkShares fails unless the logs of the instances hold each message
// exactly once between them, and each holds some.
func checkShares(t *testing.T, logs []*syncBuffer) {
	t.Helper()
	by := map[int]int{} // message -> the instance that processed it
	shares := make([]int, len(logs))
	twice, example := 0, ""
	for i, log := range logs {
		for _, m := range outputLine.FindAllStringSubmatch(log.String(), -1) {
			n, _ := strconv.Atoi(m[1])
			if other, seen := by[n]; seen {
				if twice++; example == "" {
					example = fmt.Sprintf("message %d by instances %d and %d", n, other, i)
				}
			}
			by[n] = i
			shares[i]++
		}
	}
	if twice > 0 {
		t.Errorf("%d messages processed more than once (%s)", twice, example)
	}
	if len(by) != scaleMessages {
		t.Errorf("%d of %d messages processed", len(by), scaleMessages)
	}
	for i, share := range shares {
		if share == 0 {
			t.Errorf("instance %d processed nothing (shares %v)", i, shares)
		}
	}
	t.Logf("shares %v", shares)
}
