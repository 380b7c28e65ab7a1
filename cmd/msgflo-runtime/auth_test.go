package main

import (
	"net/http"
	neturl "net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func capabilitiesOf(t *testing.T, reply map[string]any) []any {
	t.Helper()
	if reply["command"] != "runtime" {
		t.Fatalf("getruntime answered %v", reply)
	}
	caps, _ := reply["payload"].(map[string]any)["capabilities"].([]any)
	return caps
}

var hexSecret = regexp.MustCompile(`^[0-9a-f]{32}$`)

// With no secret configured, one is generated: it is in the Flowhub and
// status page links (their fragments) and nowhere in the log; a client presenting it (in the payload as
// fbp-client does, or at the top level as Flowhub does) gets everything,
// others only getruntime.
func TestGeneratedSecret(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0", "--log-level", "debug")
	ws, _ := p.ready(t)
	link := p.flowhubLink(t)
	u, err := neturl.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	_, query, _ := strings.Cut(u.Fragment, "?")
	q, _ := neturl.ParseQuery(query)
	secret := q.Get("secret")
	if !hexSecret.MatchString(secret) || u.RawQuery != "" {
		t.Fatalf("Flowhub link %q: want a 128-bit hex secret in the fragment", link)
	}
	if line, err := p.stdout.ReadString('\n'); err != nil || line != "Status page: http"+strings.TrimPrefix(ws, "ws")+"/#secret="+secret+"\n" {
		t.Fatalf("third line %q (%v), want the status page link with the secret in the fragment", line, err)
	}

	anon, _, err := dialWS(t, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	if caps := capabilitiesOf(t, anon.roundTrip(map[string]any{"protocol": "runtime", "command": "getruntime", "payload": map[string]any{}})); len(caps) != 0 {
		t.Fatalf("capabilities without the secret: %v", caps)
	}
	reply := anon.roundTrip(map[string]any{"protocol": "graph", "command": "clear", "payload": map[string]any{"id": "g"}})
	if reply["command"] != "error" || !strings.Contains(reply["payload"].(map[string]any)["message"].(string), "not permitted") {
		t.Fatalf("clear without the secret: %v", reply)
	}

	inPayload, _, err := dialWS(t, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	if caps := capabilitiesOf(t, inPayload.roundTrip(map[string]any{"protocol": "runtime", "command": "getruntime", "payload": map[string]any{"secret": secret}})); len(caps) < 5 {
		t.Fatalf("capabilities with the secret in the payload: %v", caps)
	}
	if reply := inPayload.roundTrip(map[string]any{"protocol": "graph", "command": "clear", "payload": map[string]any{"id": "g", "secret": secret}}); reply["command"] != "clear" {
		t.Fatalf("clear with the secret in the payload: %v", reply)
	}
	topLevel, _, err := dialWS(t, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reply := topLevel.roundTrip(map[string]any{"protocol": "graph", "command": "clear", "payload": map[string]any{"id": "h"}, "secret": secret}); reply["command"] != "clear" {
		t.Fatalf("clear with the secret at the top level: %v", reply)
	}

	p.signalAndWait(t, syscall.SIGTERM)
	if strings.Contains(p.stderrText(), secret) {
		t.Fatalf("the secret is in the log:\n%s", p.stderrText())
	}
}

// Two starts, two secrets.
func TestGeneratedSecretsDiffer(t *testing.T) {
	t.Parallel()
	var seen []string
	for i := 0; i < 2; i++ {
		p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0")
		p.ready(t)
		link := p.flowhubLink(t)
		_, secret, _ := strings.Cut(link, "secret=")
		seen = append(seen, secret)
	}
	if seen[0] == seen[1] || !hexSecret.MatchString(seen[0]) {
		t.Fatalf("secrets %q", seen)
	}
}

// --no-auth (or an explicit empty --secret) gives everyone everything,
// with a warning at start.
func TestNoAuth(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--no-auth"}, {"--secret", ""}, {"--secret="}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET=should-be-ignored"}, append([]string{"--port", "0"}, args...)...)
			ws, _ := p.ready(t)
			if link := p.flowhubLink(t); strings.Contains(link, "secret") {
				t.Fatalf("link %q", link)
			}
			c, _, err := dialWS(t, ws, nil)
			if err != nil {
				t.Fatal(err)
			}
			if reply := c.roundTrip(map[string]any{"protocol": "graph", "command": "clear", "payload": map[string]any{"id": "g"}}); reply["command"] != "clear" {
				t.Fatalf("clear without a secret: %v", reply)
			}
			p.signalAndWait(t, syscall.SIGTERM)
			if !strings.Contains(p.stderrText(), "authentication is off (--no-auth)") {
				t.Fatalf("no warning:\n%s", p.stderrText())
			}
		})
	}
}

// MSGFLO_SECRET sets the secret: it is in the Flowhub link, and it (at the
// top level or in the payload) gives full access, as --secret's.
func TestSecretFromTheEnvironment(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET=from-env"}, "--port", "0")
	ws, _ := p.ready(t)
	if link := p.flowhubLink(t); !strings.HasSuffix(link, "&secret=from-env") {
		t.Fatalf("link %q", link)
	}
	requireSecret(t, dialClient(t, ws, ""), "from-env")
}

// A web page of another site cannot even connect; Flowhub's pages can, and
// without the secret they may only ask what the runtime is.
func TestOriginsOfTheBinary(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--max-connections", "3")
	ws, _ := p.ready(t)
	origin := func(o string) http.Header { return http.Header{"Origin": []string{o}} }
	for _, o := range []string{"http://evil.example", "null"} {
		if _, resp, err := dialWS(t, ws, origin(o)); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %s: %v %v", o, err, resp)
		}
	}
	page, _, err := dialWS(t, ws, origin("https://app.flowhub.io"))
	if err != nil {
		t.Fatal(err)
	}
	if caps := capabilitiesOf(t, page.roundTrip(map[string]any{"protocol": "runtime", "command": "getruntime", "payload": map[string]any{}})); len(caps) != 0 {
		t.Fatalf("capabilities without the secret: %v", caps)
	}
	reply := page.roundTrip(map[string]any{"protocol": "graph", "command": "addnode", "payload": map[string]any{"graph": "g", "id": "x", "component": "core/Repeat"}})
	if reply["command"] != "error" {
		t.Fatalf("addnode without the secret: %v", reply)
	}
	local, _, err := dialWS(t, ws, origin("http://localhost:8080"))
	if err != nil {
		t.Fatal(err)
	}
	if reply := local.roundTrip(map[string]any{"protocol": "graph", "command": "clear", "payload": map[string]any{"id": "g"}, "secret": testSecret}); reply["command"] != "clear" {
		t.Fatalf("local page with the secret: %v", reply)
	}
	// --max-connections counts every connection; one without the secret
	// is closed to make room for a new one (protocol TestRoomForClientsWithTheSecret), so
	// all three present it before a fourth is tried.
	getruntime := map[string]any{"protocol": "runtime", "command": "getruntime", "payload": map[string]any{}, "secret": testSecret}
	if caps := capabilitiesOf(t, page.roundTrip(getruntime)); len(caps) == 0 {
		t.Fatal("Flowhub's page with the secret got no capabilities")
	}
	third, _, err := dialWS(t, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	if caps := capabilitiesOf(t, third.roundTrip(getruntime)); len(caps) == 0 {
		t.Fatal("third connection with the secret got no capabilities")
	}
	if _, resp, err := dialWS(t, ws, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("fourth connection with --max-connections 3: %v %v", err, resp)
	}
}

// --max-message-size sets the largest message from a client that presented
// the secret: one below it is answered, one above it closes the connection
// (1009).
func TestMaxMessageSizeFlag(t *testing.T) {
	t.Parallel()
	const limit = 100_000
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--max-message-size", strconv.Itoa(limit))
	ws, _ := p.ready(t)
	// A raw connection: the test is of the close code.
	d := websocket.Dialer{Subprotocols: []string{"noflo"}, HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.Dial(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip := func(msg map[string]any) map[string]any {
		if err := conn.WriteJSON(msg); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		var reply map[string]any
		if err := conn.ReadJSON(&reply); err != nil {
			t.Fatalf("no reply to %v: %v", msg, err)
		}
		return reply
	}
	roundTrip(map[string]any{"protocol": "runtime", "command": "getruntime", "payload": map[string]any{}, "secret": testSecret})
	clear := func(size int) map[string]any {
		return map[string]any{"protocol": "graph", "command": "clear", "payload": map[string]any{"id": "g", "name": strings.Repeat("x", size)}, "secret": testSecret}
	}
	if reply := roundTrip(clear(limit - 1000)); reply["command"] != "clear" {
		t.Fatalf("a message below --max-message-size: %v", reply)
	}
	if err := conn.WriteJSON(clear(limit + 1000)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var reply map[string]any
	if err := conn.ReadJSON(&reply); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("a message above --max-message-size: %v, %v; want close 1009", reply, err)
	}
}
