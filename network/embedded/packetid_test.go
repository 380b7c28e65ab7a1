package embedded_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
)

// rawClient speaks MQTT 3.1.1 packet by packet, so that a test chooses
// the packet ids and when (if ever) messages are acknowledged.
type rawClient struct {
	t    *testing.T
	conn net.Conn
}

func dialRaw(t *testing.T, rawURL, clientID string) *rawClient {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn}
	pw, _ := u.User.Password()
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion = "MQTT", 4
	cp.ClientIdentifier, cp.CleanSession, cp.Keepalive = clientID, false, 60
	cp.UsernameFlag, cp.Username, cp.PasswordFlag, cp.Password = true, u.User.Username(), true, []byte(pw)
	c.send(cp)
	if ack, ok := c.read().(*packets.ConnackPacket); !ok || ack.ReturnCode != 0 {
		t.Fatalf("connect: %v", ack)
	}
	return c
}

func (c *rawClient) send(p packets.ControlPacket) {
	c.t.Helper()
	if err := p.Write(c.conn); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) read() packets.ControlPacket {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packets.ReadPacket(c.conn)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *rawClient) subscribe(id uint16, topic string) byte {
	c.t.Helper()
	sp := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sp.MessageID, sp.Topics, sp.Qoss = id, []string{topic}, []byte{1}
	c.send(sp)
	for {
		switch p := c.read().(type) {
		case *packets.SubackPacket:
			if p.MessageID != id {
				c.t.Fatalf("SUBACK %d, want %d", p.MessageID, id)
			}
			return p.ReturnCodes[0]
		case *packets.PublishPacket: // in flight, not acknowledged
		default:
			c.t.Fatalf("unexpected %v", p)
		}
	}
}

func (c *rawClient) unsubscribe(id uint16, topic string) {
	c.t.Helper()
	up := packets.NewControlPacket(packets.Unsubscribe).(*packets.UnsubscribePacket)
	up.MessageID, up.Topics = id, []string{topic}
	c.send(up)
	for {
		switch p := c.read().(type) {
		case *packets.UnsubackPacket:
			return
		case *packets.PublishPacket:
		default:
			c.t.Fatalf("unexpected %v", p)
		}
	}
}

// nextPublish reads up to the next message; messages are not acknowledged.
func (c *rawClient) nextPublish() *packets.PublishPacket {
	c.t.Helper()
	for {
		if p, ok := c.read().(*packets.PublishPacket); ok {
			return p
		}
	}
}

// A client numbers its packets independently of the broker's messages to
// it (MQTT-2.3.1): a SUBSCRIBE or UNSUBSCRIBE that has the packet id of a
// message in flight to the client is obeyed (mochi took the id for in use
// and refused it: SUBACK 0x80, an UNSUBACK that says nothing, the client
// still subscribed), and the message stays in the session.
func TestPacketIDsOfSubscribeAreTheClients(t *testing.T) {
	srv := start(t)
	pub := srv.Broker()
	defer pub.Close()
	ctx := context.Background()
	prefix := "msgflo-test-" + uuid.New()[:8]
	inflight, extra, dropped := prefix+"/inflight", prefix+"/extra", prefix+"/dropped"
	clientID := prefix + "-client"

	c := dialRaw(t, srv.URL(), clientID)
	if code := c.subscribe(1, inflight); code != 1 {
		t.Fatalf("SUBACK %#x", code)
	}
	if code := c.subscribe(2, dropped); code != 1 {
		t.Fatalf("SUBACK %#x", code)
	}
	// Three messages in flight to the client (ids 1, 2, 3), never acknowledged.
	var ids []uint16
	for i := range 3 {
		if err := pub.Publish(ctx, inflight, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.nextPublish().MessageID)
	}
	if code := c.subscribe(ids[0], extra); code >= 0x80 {
		t.Errorf("SUBSCRIBE with the id of a message in flight refused: %#x", code)
	}
	c.unsubscribe(ids[1], dropped)
	if err := pub.Publish(ctx, dropped, []byte("after unsubscribe")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, extra, []byte("marker")); err != nil {
		t.Fatal(err)
	}
	for {
		p := c.nextPublish()
		if p.TopicName == dropped {
			t.Errorf("UNSUBSCRIBE with the id of a message in flight not obeyed: got %q", p.Payload)
		}
		if p.TopicName == extra {
			break
		}
	}
	// The messages in flight are still the session's: a new connection
	// gets them again.
	c.conn.Close()
	c = dialRaw(t, srv.URL(), clientID)
	got := map[string]bool{}
	for len(got) < 3 {
		p := c.nextPublish()
		if p.TopicName == inflight {
			got[string(p.Payload)] = true
		}
	}
}
