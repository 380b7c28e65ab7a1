package mqtt

// PublishFoundInStore publishes with QoS 1 on b's paho connection and
// reports whether paho's store held it under the key publishOnce waits on
// (the broker's acknowledgement must not have come yet: it deletes it).
func PublishFoundInStore(b *Broker, topic string, payload []byte) bool {
	c := b.conn.(*pahoConn)
	_, put := c.storedAs(c.client.Publish(topic, 1, false, payload))
	return put != 0
}
