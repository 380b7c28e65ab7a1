package protocol

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// readMessage gives each message a slice of its own, whatever the reader's
// buffer does next, and the buffer does not keep the room a large message
// needed.
func TestReadMessageCopiesAndBoundsItsBuffer(t *testing.T) {
	large := bytes.Repeat([]byte("x"), 2*maxKeptReadBuffer)
	sent := [][]byte{[]byte(`{"first":1}`), large, []byte(`{"third":3}`)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for _, m := range sent {
			if conn.WriteMessage(websocket.TextMessage, m) != nil {
				return
			}
		}
		_, _, _ = conn.ReadMessage() // until the client goes
	}))
	defer srv.Close()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var buf bytes.Buffer
	var got [][]byte
	for i := range sent {
		kind, data, err := readMessage(conn, &buf)
		if err != nil || kind != websocket.TextMessage {
			t.Fatalf("message %d: kind %d, %v", i, kind, err)
		}
		got = append(got, data)
		if buf.Cap() > maxKeptReadBuffer {
			t.Fatalf("after message %d (%d bytes) the buffer keeps %d bytes, want at most %d", i, len(data), buf.Cap(), maxKeptReadBuffer)
		}
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Errorf("message %d read as %.40q, want %.40q", i, got[i], sent[i])
		}
	}
}
