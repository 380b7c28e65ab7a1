package runtime

import (
	"context"
	"testing"

	"github.com/msgflo/msgflo-runtime/network/memory"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// slowSend is a memory broker connection whose Send (the runtime's way to
// deliver initial packets) routes the message at once but returns only
// when the test says so: what the message causes downstream happens while
// the runtime still waits for its Send, as on RabbitMQ, where Send waits
// for the publisher confirm.
type slowSend struct {
	*memory.Conn
	release chan struct{}
}

func (s *slowSend) Send(ctx context.Context, queue string, data []byte) error {
	err := s.Conn.Send(ctx, queue, data)
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return err
}

// An initial packet's network:data reaches clients before the data it
// causes on the edges after it (the compliance suite's "should process the
// nodes" expects them in that order; it failed on RabbitMQ when the IIP was
// reported only after its Send returned).
func TestInitialPacketIsReportedBeforeWhatItCauses(t *testing.T) {
	srv := memory.NewServer()
	conn := &slowSend{Conn: srv.Connect(), release: make(chan struct{})}
	ext := srv.Connect()
	f := startFixture(t, conn, ext, nil, func() { close(conn.release); _ = ext.Close(); _ = conn.Close() })
	f.rt.ClientConnected(1)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "a", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "b", Component: "core/Repeat", Graph: "g"}))
	must(t, f.rt.AddEdge(wire.AddEdge{Src: ref("a", "out"), Tgt: ref("b", "in"), Graph: "g"}))
	must(t, f.rt.AddInitial(wire.AddInitial{Src: wire.IIPData{Data: []byte(`"hello"`)}, Tgt: ref("a", "in"), Graph: "g"}))
	must(t, f.rt.Start("g"))
	first := f.waitEvent("network", "data", nil).Message.(wire.Data)
	if first.Src != nil || first.ID != "DATA -> IN a()" {
		t.Fatalf("first network:data is %q, want the initial packet's (DATA -> IN a())", first.ID)
	}
	next := f.waitEvent("network", "data", nil).Message.(wire.Data)
	if next.ID != "a() OUT -> IN b()" || string(next.Data) != `"hello"` {
		t.Fatalf("then %q %s, want a() OUT -> IN b() \"hello\"", next.ID, next.Data)
	}
}
