package brokertest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func frame(typ byte, payload ...byte) []byte {
	f := []byte{typ, 0, 1, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(f[3:], uint32(len(payload)))
	return append(append(f, payload...), 0xCE)
}

// scan finds basic.ack method frames wherever the reads cut the stream,
// and only those: a body frame holding the same bytes, a basic.deliver
// and a heartbeat pass unchanged.
func TestScanTurnsAcksIntoNacks(t *testing.T) {
	ack := []byte{0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 7, 1}
	nack := []byte{0, 60, 0, 120, 0, 0, 0, 0, 0, 0, 0, 7, 1}
	var in, want []byte
	for _, f := range [][2][]byte{
		{frame(1, 0, 60, 0, 60, 1, 2), frame(1, 0, 60, 0, 60, 1, 2)}, // basic.deliver
		{frame(3, ack...), frame(3, ack...)},                         // a body that looks like an ack
		{frame(1, ack...), frame(1, nack...)},
		{frame(8), frame(8)}, // heartbeat
		{frame(1, ack...), frame(1, nack...)},
		{frame(1, ack...), frame(1, ack...)}, // beyond the two refused
	} {
		in = append(in, f[0]...)
		want = append(want, f[1]...)
	}
	for _, size := range []int{1, 2, 3, 5, 7, 11, len(in)} {
		var f amqpFrames
		got := append([]byte{}, in...)
		refuse := 2
		for i := 0; i < len(got); i += size {
			f.scan(got[i:min(i+size, len(got))], func() bool { refuse--; return refuse >= 0 })
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("reads of %d bytes:\n got %v\nwant %v", size, got, want)
		}
	}
}
