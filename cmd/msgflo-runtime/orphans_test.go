package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// processesWith lists the pids of processes whose command line holds marker.
func processesWith(marker string) map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if cmd := strings.ReplaceAll(string(data), "\x00", " "); strings.Contains(cmd, marker) {
			out[pid] = cmd
		}
	}
	return out
}

// A runtime killed with SIGKILL leaves no participant process behind: not
// the program, not what it started (a child in its process group, and one
// that left the group with setsid), on every broker. Nor does one stopped
// with SIGTERM.
func TestNoOrphansWhenTheRuntimeIsKilled(t *testing.T) {
	t.Parallel()
	for _, bk := range []struct {
		name string
		url  func(*testing.T) string
		sig  syscall.Signal
	}{
		{"embedded", func(*testing.T) string { return "" }, syscall.SIGKILL},
		{"amqp", rabbit, syscall.SIGKILL},
		{"mqtt", mosquitto, syscall.SIGKILL},
		{"embedded SIGTERM", func(*testing.T) string { return "" }, syscall.SIGTERM},
	} {
		t.Run(bk.name, func(t *testing.T) {
			t.Parallel()
			// sleep takes fractions: the marker is in every process's arguments.
			mark := fmt.Sprintf("%09d", rand.IntN(1e9))
			sleep := func(s int) string { return fmt.Sprintf("sleep %d.%s", s, mark) }
			script := fmt.Sprintf("%s & setsid %s & %s; wait", sleep(3600), sleep(3601), sleep(3602))
			lib := writeFile(t, "lib.json", mustJSON(map[string]any{"components": map[string]string{
				"Sleeper": "sh -c '" + script + "' sleeper",
			}}))
			gf := writeFile(t, "g.fbp", "s"+mark+"(Sleeper)\n")
			p := start(t, []string{"MSGFLO_BROKER=" + bk.url(t)}, "--port", "0", "--library", lib, "--componentdir", "", "--graph", gf, "--wait-timeout", "600")
			p.ready(t)
			deadline := time.Now().Add(30 * time.Second)
			for len(processesWith(mark)) < 4 {
				if time.Now().After(deadline) {
					t.Fatalf("participant processes: %v\n%s", processesWith(mark), p.stderrText())
				}
				time.Sleep(20 * time.Millisecond) // polling the process table
			}
			t.Cleanup(func() {
				for pid := range processesWith(mark) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			if err := p.cmd.Process.Signal(bk.sig); err != nil {
				t.Fatal(err)
			}
			deadline = time.Now().Add(30 * time.Second)
			for {
				left := processesWith(mark)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("processes survived the runtime: %v", left)
				}
				time.Sleep(20 * time.Millisecond) // polling the process table
			}
		})
	}
}
