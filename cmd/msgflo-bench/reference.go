package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/gorilla/websocket"
)

// The getruntime round trip is compared with the smallest Go FBP server
// one can write: gorilla/websocket answering runtime:getruntime with
// runtime:runtime, nothing validated, no secret, no log. It runs as a
// process of its own (this program, --serve-reference), as the runtime
// does, and both are measured in the same run, in alternating blocks,
// so that both see the same machine: the ratio is the figure (#20: at
// most 1.2; compareGetruntime says how it is taken).

// serveReference is the reference server; it prints its address as the
// runtime does and serves until it is killed.
func serveReference() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("reference server ready on ws://%s\n", ln.Addr())
	up := websocket.Upgrader{Subprotocols: []string{"noflo"}}
	type runtimeInfo struct {
		ID, Label, Version, Type      string
		AllCapabilities, Capabilities []string
	}
	reply, err := json.Marshal(struct {
		Protocol string      `json:"protocol"`
		Command  string      `json:"command"`
		Payload  runtimeInfo `json:"payload"`
	}{"runtime", "runtime", runtimeInfo{"reference", "smallest Go FBP server", "0.8", "reference", []string{"protocol:runtime"}, []string{"protocol:runtime"}}})
	if err != nil {
		return err
	}
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m struct{ Protocol, Command string }
			if json.Unmarshal(data, &m) == nil && m.Protocol == "runtime" && m.Command == "getruntime" {
				if conn.WriteMessage(websocket.TextMessage, reply) != nil {
					return
				}
			}
		}
	}))
}

// startReference starts the reference server process.
func startReference() (addr string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "--serve-reference")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	m := ready.FindStringSubmatch(line)
	if m == nil {
		stop()
		return "", nil, fmt.Errorf("reference server did not start: %q %v", line, err)
	}
	return m[1], stop, nil
}

// getruntimeFrame is the request, ready-made: the client's own JSON work
// is not counted.
var getruntimeFrame = []byte(`{"protocol":"runtime","command":"getruntime","payload":{},"secret":"` + benchSecret + `"}`)

// roundTrips times n getruntime round trips.
func roundTrips(c *client, n int, into []time.Duration) ([]time.Duration, error) {
	for range n {
		t0 := time.Now()
		if err := c.raw(getruntimeFrame, `{"protocol":"runtime","command":"runtime"`); err != nil {
			return into, err
		}
		into = append(into, time.Since(t0))
	}
	return into, nil
}

// Round trips are measured in rounds, each a block of the runtime's and a
// block of the reference server's, the two in the order that alternates
// from one round to the next (neither always goes first, after the other
// has had the CPU); both are warmed up first. A round's ratio is the
// median of its runtime block over the median of its reference block:
// both saw the same moment of the machine, so that load from elsewhere
// cancels out of it more than out of the whole run's p50s. The figure is
// the median of the rounds' ratios, printed with their spread.
const (
	roundBlock = 250 // round trips of each server in a round
	warmUp     = 500 // round trips of each server before the first round
)

// comparison is what compareGetruntime measured: both p50s over every
// round, and the median of the rounds' ratios.
type comparison struct {
	p50, refP50 time.Duration
	ratio       float64
}

// compareGetruntime measures n getruntime round trips of the runtime (c)
// and as many of the reference server, in rounds (see roundBlock), and
// prints both and the ratio.
func compareGetruntime(c *client, n int) (comparison, error) {
	addr, stop, err := startReference()
	if err != nil {
		return comparison{}, err
	}
	defer stop()
	ref, err := dial(addr)
	if err != nil {
		return comparison{}, err
	}
	defer ref.conn.Close()
	servers := [2]struct {
		c    *client
		name string
	}{{c, "runtime"}, {ref, "reference server"}}
	for _, s := range servers {
		if _, err := roundTrips(s.c, warmUp, nil); err != nil {
			return comparison{}, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	var all [2][]time.Duration
	var ratios []float64
	for round := 0; round*roundBlock < n; round++ {
		size := min(roundBlock, n-round*roundBlock)
		var block [2][]time.Duration
		for k := range 2 {
			i := (k + round) % 2 // the runtime first in even rounds
			if block[i], err = roundTrips(servers[i].c, size, nil); err != nil {
				return comparison{}, fmt.Errorf("%s: %w", servers[i].name, err)
			}
			all[i] = append(all[i], block[i]...)
		}
		ratios = append(ratios, float64(median(block[0]))/float64(median(block[1])))
	}
	ours, theirs := all[0], all[1]
	slices.Sort(ours)
	slices.Sort(theirs)
	slices.Sort(ratios)
	p := func(lat []time.Duration, q int) int64 { return lat[len(lat)*q/100].Microseconds() }
	cmp := comparison{p50: ours[len(ours)/2], refP50: theirs[len(theirs)/2], ratio: ratios[len(ratios)/2]}
	fmt.Printf("  getruntime round trip over %d requests: p50 %d µs, p90 %d µs, p99 %d µs\n", len(ours),
		p(ours, 50), p(ours, 90), p(ours, 99))
	fmt.Printf("  smallest Go FBP server, same run: p50 %d µs, p90 %d µs, p99 %d µs\n",
		p(theirs, 50), p(theirs, 90), p(theirs, 99))
	fmt.Printf("  getruntime / smallest Go FBP server: %.2f (median of %d rounds' ratios of the p50s; quartiles %.2f-%.2f, range %.2f-%.2f)\n",
		cmp.ratio, len(ratios), ratios[len(ratios)/4], ratios[len(ratios)*3/4], ratios[0], ratios[len(ratios)-1])
	return cmp, nil
}

// median is the middle of lat (which it sorts).
func median(lat []time.Duration) time.Duration {
	slices.Sort(lat)
	return lat[len(lat)/2]
}
