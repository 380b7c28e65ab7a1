package main

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// #19 "Smaller ones": idle sockets that never present the secret filled
// --max-connections, and every client after them got HTTP 503, the user's
// own included. Now a new connection takes the slot of the oldest one
// without the secret (which is closed), and connections that never
// present it are closed after a timeout (protocol's
// TestNoSecretInTimeClosesTheConnection). Seen failing on main's binary
// (503 for the client with the secret).
func TestTrustIdleSocketsLeaveRoomForTheSecret(t *testing.T) {
	const slots = 5
	p := start(t, nil, "--port", "0", "--max-connections", "5")
	ws, _ := p.ready(t)
	// The idle ones are raw sockets: they never send a message, and the
	// test is of the close code the oldest gets.
	d := websocket.Dialer{Subprotocols: []string{"noflo"}, HandshakeTimeout: 10 * time.Second}
	var idle []*websocket.Conn
	for range slots {
		conn, _, err := d.Dial(ws, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		idle = append(idle, conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := fbpclient.Dial(ctx, ws, fbpclient.Options{Secret: testSecret})
	if err != nil {
		t.Fatalf("a client with the secret, every slot taken by idle sockets: %v", err)
	}
	defer c.Close()
	rt, err := c.GetRuntime(ctx)
	if err != nil || !rt.Has("protocol:graph") {
		t.Fatalf("getruntime with the secret: %+v %v", rt, err)
	}
	// The oldest idle socket made the room, and was told why.
	_ = idle[0].SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _, err = idle[0].ReadMessage()
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("the oldest idle socket: %v, want close status %d", err, websocket.ClosePolicyViolation)
	}
}
