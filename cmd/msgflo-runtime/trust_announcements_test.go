package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/dial"
)

// #19 "An announcement starts a library process" and "An announcement
// starts an in-process participant on someone's queue": announcements
// describe, never command. Any client of the broker publishes, to the
// discovery queue fbp, a participant of role x/S whose component the
// runtime's library can start, and one of role victimS of the built-in
// core/Drop on the queue victimS.IN. The runtime (no graph file of its
// own: the live graph, auto-saved) shows both and starts nothing: no
// process for x_S, no in-process participant consuming victimS.IN; loaded
// from the saved file by another runtime, they start nothing either.
// Seen failing on the binary of main before the observations were marked:
// a process for x_S and an in-process victimS.

// statusParticipants is GET /status.json's list of participants.
type statusParticipants struct {
	Participants []struct {
		Role      string `json:"role"`
		Component string `json:"component"`
		InProcess bool   `json:"in_process"`
		PID       int    `json:"pid"`
		ExitCode  *int   `json:"exit_code"`
	} `json:"participants"`
}

func participantsOf(t *testing.T, ws string) statusParticipants {
	t.Helper()
	code, body := getWithAuth(t, "http"+strings.TrimPrefix(ws, "ws")+"/status.json", "Bearer "+testSecret)
	if code != http.StatusOK {
		t.Fatalf("/status.json: %d %s", code, body)
	}
	var st statusParticipants
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/status.json: %v\n%s", err, body)
	}
	return st
}

// publishRaw publishes msg to the discovery queue as any broker client can:
// to the queue fbp (AMQP's default exchange), or the topic fbp (MQTT).
func publishRaw(t *testing.T, b network.Broker, msg string) {
	t.Helper()
	if err := b.Send(context.Background(), network.DiscoveryQueue, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// announcedRoles hands the test the roles announced on b from now on.
func announcedRoles(t *testing.T, b network.Broker) <-chan string {
	t.Helper()
	roles := make(chan string, 1000)
	sub, err := b.SubscribeDiscovery(context.Background(), func(_ string, data []byte) {
		if def, err := network.DecodeDiscovery(data); err == nil {
			select {
			case roles <- def.Role:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return roles
}

// probePass makes the runtime at ws run a participant of its own (in a
// graph of its own) and waits for its announcement: the reconcile pass that
// started it came after everything the runtime had heard before.
func probePass(t *testing.T, c *fbpClient, roles <-chan string, s string) {
	t.Helper()
	probe := "probe" + s
	c.send("graph", "clear", map[string]any{"id": probe})
	c.waitFor("graph", "clear", nil)
	c.edit("addnode", map[string]any{"id": probe, "component": "core/Repeat", "graph": probe})
	deadline := time.After(60 * time.Second)
	for {
		select {
		case role := <-roles:
			if role == probe {
				return
			}
		case <-deadline:
			t.Fatalf("the runtime never started %s", probe)
		}
	}
}

// trustBroker is a broker the trust tests publish announcements on:
// RabbitMQ (the tests' own vhost) or the runtime's embedded MQTT broker;
// never the shared Mosquitto, whose every other runtime would get them.
type trustBroker struct {
	name string
	// url is RabbitMQ's; "" for the embedded broker (the ready line names it).
	url string
}

func (bk trustBroker) env() []string { return []string{"MSGFLO_BROKER=" + bk.url} }

// dial connects to the broker, the runtime's embedded one at ready (the
// URL its ready line printed) when bk has none of its own.
func (bk trustBroker) dial(t *testing.T, ready string) network.Broker {
	t.Helper()
	url := bk.url
	if url == "" {
		url = ready
	}
	b, err := dial.Open(context.Background(), url, dial.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func eachTrustBroker(t *testing.T, f func(t *testing.T, bk trustBroker)) {
	t.Run("amqp", func(t *testing.T) { f(t, trustBroker{"amqp", brokertest.RabbitMQURL(t)}) })
	t.Run("mqtt", func(t *testing.T) { f(t, trustBroker{name: "mqtt"}) })
}

func TestTrustAnnouncementsStartNothing(t *testing.T) {
	eachTrustBroker(t, func(t *testing.T, bk trustBroker) {
		s := uuid.New()[:8]
		victim, evil := "victim"+s, "x/"+s
		if bk.url != "" {
			t.Cleanup(func() { deleteQueues(bk.url, victim, "probe"+s, "probe"+s+"b") })
		}
		dir := t.TempDir()
		touched := filepath.Join(dir, "touched")
		lib := writeFile(t, "lib.json", mustJSON(map[string]any{"components": map[string]string{"evil/Touch": "touch " + touched}}))
		saved := filepath.Join(dir, "system.json")
		p := start(t, bk.env(), "--port", "0", "--library", lib, "--graph", saved, "--auto-save")
		ws, ready := p.ready(t)
		c := openMainGraphAsFlowhub(t, ws, "system")
		b := bk.dial(t, ready)
		roles := announcedRoles(t, b)
		publishRaw(t, b, `{"protocol":"discovery","command":"participant","payload":{"id":"v`+s+`","role":"`+victim+`","component":"core/Drop","inports":[{"id":"in","queue":"`+victim+`.IN"}],"outports":[]}}`)
		publishRaw(t, b, `{"protocol":"discovery","command":"participant","payload":{"id":"e`+s+`","role":"`+evil+`","component":"evil/Touch","inports":[],"outports":[]}}`)
		for shown := map[string]bool{}; !shown[victim] || !shown[evil]; {
			n := c.waitFor("graph", "addnode", func(p map[string]any) bool { return p["graph"] == "system" })
			shown[n["id"].(string)] = true
		}
		probePass(t, c, roles, s)
		checkNothingStarted(t, participantsOf(t, ws), victim, "x_"+s)
		if _, err := os.Stat(touched); err == nil {
			t.Errorf("the library command of evil/Touch ran")
		}

		// Saved as observations; a runtime started with the file starts
		// nothing for them.
		waitSavedObservations(t, saved, victim, evil)
		p2 := start(t, bk.env(), "--port", "0", "--library", lib, "--graph", saved)
		ws2, ready2 := p2.ready(t)
		c2 := connectFBP(t, ws2)
		probePass(t, c2, announcedRoles(t, bk.dial(t, ready2)), s+"b")
		checkNothingStarted(t, participantsOf(t, ws2), victim, "x_"+s)
	})
}

func checkNothingStarted(t *testing.T, st statusParticipants, victim, evilRole string) {
	t.Helper()
	for _, pt := range st.Participants {
		if pt.Role == victim && pt.InProcess {
			t.Errorf("an in-process participant serves %s: %+v", victim, pt)
		}
		if pt.Role == evilRole {
			t.Errorf("a participant process was started for %s: %+v", evilRole, pt)
		}
	}
}

// waitSavedObservations waits until auto-save has written the observed
// nodes, marked as observations.
func waitSavedObservations(t *testing.T, file string, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(file)
		g := &graph.Graph{}
		missing := ""
		if err := g.UnmarshalJSON(data); err != nil {
			missing = err.Error()
		}
		for _, id := range ids {
			if n := g.Node(id); missing == "" && (n == nil || n.Metadata["msgflo-observed"] != true) {
				missing = id
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the graph file does not hold %s as an observation:\n%s", missing, data)
		}
		time.Sleep(20 * time.Millisecond) // polling the file the runtime writes
	}
}
