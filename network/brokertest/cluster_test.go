package brokertest_test

import (
	"os"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	brokertest.StopSharedCluster()
	os.Exit(code)
}

// The test cluster's nodes answer on their own ports, share queues, and a
// node whose app is stopped refuses connections until started again.
func TestCluster(t *testing.T) {
	c := brokertest.SharedCluster(t)
	nodes := c.Nodes()
	if len(nodes) != 3 {
		t.Fatalf("%d nodes", len(nodes))
	}
	conn, err := amqp.Dial(nodes[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := brokertest.Role("cluster") + ".IN"
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	leader := c.QueueLeader(t, q)
	if leader != nodes[0] {
		t.Errorf("leader of %s on %s, want %s where it was declared", q, leader.Name, nodes[0].Name)
	}
	c.StopApp(t, nodes[1])
	if conn, err := amqp.Dial(nodes[1].URL); err == nil {
		conn.Close()
		t.Fatalf("%s answers after stop_app", nodes[1].Name)
	}
	c.StartApp(t, nodes[1])
	conn, err = amqp.Dial(nodes[1].URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// The queue declared on node 1 is there on node 2.
	if _, err := ch.QueueDeclarePassive(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatalf("queue %s not seen from %s: %v", q, nodes[1].Name, err)
	}
	_, _ = ch.QueueDelete(q, false, false, false)
}
