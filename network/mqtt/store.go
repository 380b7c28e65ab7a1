package mqtt

import (
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyingStore is paho's memory store keeping and handing out copies of
// publishes. On reconnection with a persistent session paho re-sends what
// is stored, marking each publish as a duplicate, while the previous
// connection's writer may still be encoding the same packet: sharing the
// packet is a data race (eclipse-paho/paho.mqtt.golang issue 703); copies
// are not shared. Put runs on the publisher's goroutine before paho hands
// the packet to its writer.
type copyingStore struct {
	paho.Store
}

func newCopyingStore() *copyingStore { return &copyingStore{Store: paho.NewMemoryStore()} }

// Put stores a copy of a publish.
func (s *copyingStore) Put(key string, p packets.ControlPacket) {
	s.Store.Put(key, copyPublish(p))
}

// Get returns a copy of a stored publish (its payload is shared: nobody
// writes to it), other packets as stored.
func (s *copyingStore) Get(key string) packets.ControlPacket {
	return copyPublish(s.Store.Get(key))
}

func copyPublish(p packets.ControlPacket) packets.ControlPacket {
	if pub, ok := p.(*packets.PublishPacket); ok {
		c := *pub
		return &c
	}
	return p
}
