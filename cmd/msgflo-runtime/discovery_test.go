package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/participant"
)

// Two runtimes on one broker both list every participant, msgflo-nodejs's
// and ours, whatever the order they all start in. A participant announces
// itself when it starts and then every discovery period / 2.2: a runtime
// that starts after a participant hears of it at its next announcement
// (as with msgflo), so those orders run with a short period. With the
// runtimes first, the participants announce themselves once only (period
// 600 s): each announcement must reach both runtimes. (On RabbitMQ the
// "fbp" queue alone gives it to one of them.)
func TestTwoRuntimesSeeEveryParticipant(t *testing.T) {
	nodes := nodeDir(t)
	for _, bk := range []struct {
		name string
		url  func(t *testing.T) string
	}{{"amqp", rabbit}, {"mqtt", mosquitto}} {
		for _, order := range []struct {
			name   string
			steps  string // R: a runtime starts, P: the participants start
			period int
		}{
			{"runtimes first", "RRP", 600},
			{"participants first", "PRR", 2},
			{"one runtime, the participants, the other runtime", "RPR", 2},
		} {
			t.Run(bk.name+"/"+order.name, func(t *testing.T) {
				url := bk.url(t)
				s := uuid.New()[:8]
				njRole, goRole := "njtwo"+s, "gotwo"+s
				njComp, goComp := "two/NodeRepeat"+s, "two/GoRepeat"+s
				if bk.name == "amqp" {
					t.Cleanup(func() { deleteQueues(url, njRole, goRole) })
				}
				var clients []*fbpClient
				for _, step := range order.steps {
					switch step {
					case 'R':
						p := start(t, []string{"MSGFLO_BROKER=" + url}, "--port", "0")
						ws, _ := p.ready(t)
						clients = append(clients, connectFBP(t, ws))
					case 'P':
						startNodeParticipant(t, nodes, url, njComp, njRole, order.period)
						startGoParticipant(t, url, goComp, goRole, order.period)
					}
				}
				for i, c := range clients {
					if missing := waitListed(c, njComp, goComp); len(missing) > 0 {
						t.Fatalf("runtime %d never listed %v", i+1, missing)
					}
				}
			})
		}
	}
}

// startNodeParticipant runs a msgflo-nodejs participant of component comp.
func startNodeParticipant(t *testing.T, nodes, url, comp, role string, period int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "repeat.js")
	js := fmt.Sprintf(`var msgflo = require(%q);
module.exports = function (client, role) {
  var def = {component: %q, label: 'repeats', inports: [{id: 'in', type: 'any'}], outports: [{id: 'out', type: 'any'}]};
  return new msgflo.participant.Participant(client, def, function (port, data, done) { done('out', null, data); }, role);
};
`, filepath.Join(nodes, "node_modules", "msgflo-nodejs"), comp)
	if err := os.WriteFile(file, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	startNode(t, nodes, []string{"MSGFLO_DISCOVERY_PERIOD=" + strconv.Itoa(period)}, "msgflo-nodejs", "--name", role, "--broker", url, file)
}

// startGoParticipant runs a participant of the Go SDK of component comp.
func startGoParticipant(t *testing.T, url, comp, role string, period int) {
	t.Helper()
	ctx := context.Background()
	b, err := dial.Open(ctx, url, dial.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	stop := serveParticipant(t, b, participant.Component{
		Name:     comp,
		Inports:  []participant.Port{{ID: "in", Type: "any"}},
		Outports: []participant.Port{{ID: "out", Type: "any"}},
		Process: func(_ context.Context, in participant.Input, out participant.Output) error {
			return out.Send("out", in.Data)
		},
	}, role, participant.Options{DiscoveryPeriod: time.Duration(period) * time.Second})
	t.Cleanup(func() { stop(); b.Close() })
}

// serveParticipant starts a participant of the Go SDK on b and returns
// what stops it (before b is closed).
func serveParticipant(t *testing.T, b network.Broker, comp participant.Component, role string, opts participant.Options) (stop func()) {
	t.Helper()
	ctx := context.Background()
	p, err := participant.New(b, comp, role, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return func() { _ = p.Stop(ctx) }
}

// waitListed waits (up to 60 s) until c's runtime lists every component
// in names, and returns those it never did.
func waitListed(c *fbpClient, names ...string) []string {
	c.t.Helper()
	missing := map[string]bool{}
	for _, n := range names {
		missing[n] = true
	}
	c.send("component", "list", map[string]any{})
	deadline := time.After(60 * time.Second)
	for len(missing) > 0 {
		select {
		case m, ok := <-c.in:
			if !ok {
				c.t.Fatal("connection closed")
			}
			// The list, and what the runtime pushes when it discovers more.
			if p, _ := m["payload"].(map[string]any); m["command"] == "component" {
				name, _ := p["name"].(string)
				delete(missing, name)
			}
		case <-deadline:
			var out []string
			for n := range missing {
				out = append(out, n)
			}
			sort.Strings(out)
			return out
		}
	}
	return nil
}

// A participant that announces a short heartbeat is reported gone soon
// after it falls silent, though the runtime's own --heartbeat-expiry is
// 600 s.
func TestParticipantHeartbeatDecidesItsExpiry(t *testing.T) {
	t.Parallel()
	url := mosquitto(t)
	s := uuid.New()[:8]
	role, comp := "beat"+s, "beat/Repeat"+s
	p := start(t, []string{"MSGFLO_BROKER=" + url, "MSGFLO_HEARTBEAT_EXPIRY="}, "--port", "0")
	ws, _ := p.ready(t)
	c := connectFBP(t, ws)
	c.edit("clear", map[string]any{"id": "g" + s})
	c.edit("addnode", map[string]any{"id": role, "component": comp, "graph": "g" + s})

	ctx := context.Background()
	b, err := dial.Open(ctx, url, dial.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	gp, err := participant.New(b, participant.Component{Name: comp, Outports: []participant.Port{{ID: "out"}}}, role,
		participant.Options{DiscoveryPeriod: 440 * time.Millisecond}) // announces every 0.2 s
	if err != nil {
		t.Fatal(err)
	}
	if err := gp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitFor("component", "component", func(p map[string]any) bool { return p["name"] == comp })
	if err := gp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	gone := c.waitFor("network", "processerror", func(p map[string]any) bool { return p["id"] == role })
	if msg, _ := gone["error"].(string); !strings.Contains(msg, "not heard from within 600ms") {
		t.Fatalf("processerror %v", gone)
	}
}
