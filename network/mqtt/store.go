package mqtt

import (
	"context"
	"sort"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/msgflo/msgflo-runtime/network"
)

// copyingStore is paho's memory store keeping and handing out copies of
// publishes, and listing its keys in the order they were put.
//
// Copies: on reconnection with a persistent session paho re-sends what is
// stored, marking each publish as a duplicate, while the previous
// connection's writer may still be encoding the same packet: sharing the
// packet is a data race (eclipse-paho/paho.mqtt.golang issue 703); copies
// are not shared. Put runs on the publisher's goroutine before paho hands
// the packet to its writer.
//
// Order: paho re-sends the stored publishes in the order All lists them;
// its memory store lists them in no order, so the messages a participant
// published while its connection was down would go out shuffled.
//
// Acknowledgement: when paho re-sends a stored publish on a new
// connection, it completes the publish's token at once, before the broker
// has acknowledged it; a publisher going on then could overtake it.
// stored and waitGone let Publish wait until the broker's acknowledgement
// deletes the publish from the store.
type copyingStore struct {
	paho.Store

	mu      sync.Mutex
	order   map[string]uint64 // key -> when it was put
	next    uint64
	changed chan struct{} // closed (and replaced) when a key is deleted
}

func newCopyingStore() *copyingStore {
	return &copyingStore{Store: paho.NewMemoryStore(), order: map[string]uint64{}, changed: make(chan struct{})}
}

// Put stores a copy of a publish.
func (s *copyingStore) Put(key string, p packets.ControlPacket) {
	s.mu.Lock()
	if _, ok := s.order[key]; !ok {
		s.next++
		s.order[key] = s.next
	}
	s.mu.Unlock()
	s.Store.Put(key, copyPublish(p))
}

// stored is when key was put (0 when it is not stored).
func (s *copyingStore) stored(key string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order[key]
}

// waitGone waits until key is no longer the packet put at put: deleted
// (acknowledged), or put again for another packet. It returns early when
// ctx ends or stop is closed.
func (s *copyingStore) waitGone(ctx context.Context, key string, put uint64, stop <-chan struct{}) error {
	for {
		s.mu.Lock()
		now, changed := s.order[key], s.changed
		s.mu.Unlock()
		if now != put {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return network.ErrClosed
		}
	}
}

// signalLocked wakes the waiters of waitGone.
func (s *copyingStore) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Get returns a copy of a stored publish (its payload is shared: nobody
// writes to it), other packets as stored.
func (s *copyingStore) Get(key string) packets.ControlPacket {
	return copyPublish(s.Store.Get(key))
}

// All lists the keys in the order they were put.
func (s *copyingStore) All() []string {
	keys := s.Store.All()
	s.mu.Lock()
	defer s.mu.Unlock()
	sort.SliceStable(keys, func(i, j int) bool { return s.order[keys[i]] < s.order[keys[j]] })
	return keys
}

// Del forgets a key.
func (s *copyingStore) Del(key string) {
	s.Store.Del(key)
	s.mu.Lock()
	delete(s.order, key)
	s.signalLocked()
	s.mu.Unlock()
}

// Reset empties the store.
func (s *copyingStore) Reset() {
	s.Store.Reset()
	s.mu.Lock()
	s.order = map[string]uint64{}
	s.signalLocked()
	s.mu.Unlock()
}

func copyPublish(p packets.ControlPacket) packets.ControlPacket {
	if pub, ok := p.(*packets.PublishPacket); ok {
		c := *pub
		return &c
	}
	return p
}
