package runtime

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgflo/msgflo-runtime/metrics"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
)

// instrumented makes an in-process participant's component count each
// message it processes in counts (the status page's rates) and record it
// in the metrics (graph and node name the participant there; they are
// nodes of the graphs, so the labels stay bounded).
func instrumented(c participant.Component, m *metrics.Metrics, counts *portCounts, graphID, node string) participant.Component {
	wrap := func(f participant.ProcessFunc) participant.ProcessFunc {
		return func(ctx context.Context, in participant.Input, out participant.Output) error {
			pc := counts.port(in.Port, func() *metrics.Port { return m.Port(graphID, node, in.Port) })
			start := time.Now()
			err := f(ctx, in, out)
			pc.metrics.Processed(time.Since(start), err != nil)
			if err == nil {
				pc.n.Add(1)
			}
			return err
		}
	}
	return wrapProcess(c, wrap)
}

var participantsDesc = prometheus.NewDesc("msgflo_participants",
	"Participants by state: in-process ones running or paused, other processes alive (announced within their heartbeat) or expired (gone silent, their queues kept), and participant processes the runtime started that exited.",
	[]string{"state"}, nil)

// participantStates is a prometheus.Collector counting the runtime's
// participants by state at each scrape.
type participantStates struct{ r *Runtime }

func (c participantStates) Describe(ch chan<- *prometheus.Desc) { ch <- participantsDesc }

// Collect counts the participants the status page lists (participants),
// by state.
func (c participantStates) Collect(ch chan<- prometheus.Metric) {
	participants := c.r.states().participants()
	n := map[string]int{"running": 0, "paused": 0, "alive": 0, "expired": 0, "exited": 0}
	for _, ps := range participants {
		switch {
		case ps.State == NodeExited:
			n["exited"]++
		case ps.InProcess && ps.State == NodeRunning:
			n["running"]++
		case ps.InProcess:
			n["paused"]++ // paused, or waiting for its outputs to be wired
		case ps.State == NodeRunning:
			n["alive"]++
		case ps.State == NodeExpired:
			n["expired"]++
		}
	}
	for state, count := range n {
		ch <- prometheus.MustNewConstMetric(participantsDesc, prometheus.GaugeValue, float64(count), state)
	}
}

var (
	queueReadyDesc = prometheus.NewDesc("msgflo_inport_queue_messages_ready",
		"Messages waiting in a node's inport queue (AMQP), by graph, node and port.",
		[]string{"graph", "node", "port"}, nil)
	queueConsumersDesc = prometheus.NewDesc("msgflo_inport_queue_consumers",
		"Consumers of a node's inport queue (AMQP), by graph, node and port.",
		[]string{"graph", "node", "port"}, nil)
)

// queueDepthTimeout bounds the broker's answers during a scrape.
const queueDepthTimeout = 3 * time.Second

// queueDepths is a prometheus.Collector asking the broker, at each scrape,
// how many messages wait in the inport queues of the graphs' nodes. The
// labels are the graphs' nodes and their participants' ports: bounded by
// the graphs, never by the traffic.
type queueDepths struct {
	r         *Runtime
	inspector network.QueueInspector
}

func (c queueDepths) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueReadyDesc
	ch <- queueConsumersDesc
}

func (c queueDepths) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	r.mu.Lock()
	ports, queues := r.nodeInportsLocked()
	r.mu.Unlock()
	if len(queues) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queueDepthTimeout)
	defer cancel()
	stats, err := c.inspector.QueueStats(ctx, queues)
	if err != nil {
		r.log.Debug().Err(err).Msg("metrics: queue depths")
	}
	for _, p := range ports {
		st, ok := stats[p.queue]
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(queueReadyDesc, prometheus.GaugeValue, float64(st.Ready), p.graph, p.node, p.port)
		ch <- prometheus.MustNewConstMetric(queueConsumersDesc, prometheus.GaugeValue, float64(st.Consumers), p.graph, p.node, p.port)
	}
}

// nodeInport is an inport queue of a node of a graph.
type nodeInport struct{ graph, node, port, queue string }

// nodeInportsLocked lists the inport queues of the graphs' nodes whose
// participant is known, and the distinct queue names.
func (r *Runtime) nodeInportsLocked() ([]nodeInport, []string) {
	var ports []nodeInport
	var queues []string
	seen := map[string]bool{}
	for _, gs := range r.sortedGraphsLocked() {
		for _, n := range gs.g.Nodes {
			def, _, ok := r.resolve(gs.roleOf(n.ID))
			if !ok {
				continue
			}
			for _, p := range def.Inports {
				if p.Queue == "" {
					continue
				}
				ports = append(ports, nodeInport{gs.g.ID, n.ID, p.ID, p.Queue})
				if !seen[p.Queue] {
					seen[p.Queue] = true
					queues = append(queues, p.Queue)
				}
			}
		}
	}
	return ports, queues
}
