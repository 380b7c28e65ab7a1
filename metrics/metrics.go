// Package metrics holds a runtime's Prometheus metrics: one registry per
// runtime (several runtimes may share a process, as in tests), never the
// global default registry. Every method is safe on a nil *Metrics, which
// records nothing.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "msgflo"

// Metrics are the runtime's metrics and the registry they are served from.
type Metrics struct {
	reg *prometheus.Registry

	processed        *prometheus.CounterVec
	failed           *prometheus.CounterVec
	processSeconds   *prometheus.HistogramVec
	protocolMessages *prometheus.CounterVec
	protocolErrors   *prometheus.CounterVec
	brokerReconnects prometheus.Counter
	brokerConnected  prometheus.Gauge
	graphEdits       prometheus.Counter
	autosaveWrites   prometheus.Counter
	autosaveFailures prometheus.Counter
}

// New makes the metrics with Go's process and runtime collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	participantLabels := []string{"graph", "node", "port"}
	m.processed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "participant_messages_processed_total",
		Help: "Messages an in-process participant processed, by inport."}, participantLabels)
	m.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "participant_messages_failed_total",
		Help: "Messages an in-process participant failed to process (nacked), by inport."}, participantLabels)
	m.processSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "participant_process_seconds",
		Help: "Time an in-process participant took to process a message, by inport.", Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10)}, participantLabels)
	m.protocolMessages = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "protocol_messages_total",
		Help: "FBP protocol messages received from clients, by sub-protocol and command (unknown ones as \"unknown\")."}, []string{"protocol", "command"})
	m.protocolErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "protocol_errors_total",
		Help: "FBP protocol requests refused with an error, by sub-protocol."}, []string{"protocol"})
	m.brokerReconnects = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "broker_reconnects_total",
		Help: "Times the broker connection was restored after it was lost."})
	m.brokerConnected = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "broker_connected",
		Help: "1 while the broker connection is up, 0 while it is lost."})
	m.brokerConnected.Set(1) // a runtime starts on a connected broker
	m.graphEdits = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "graph_edits_total",
		Help: "Graph edits applied (graph:* commands and graph loads)."})
	m.autosaveWrites = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "autosave_writes_total",
		Help: "Writes of the main graph to its file."})
	m.autosaveFailures = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "autosave_failures_total",
		Help: "Writes of the main graph to its file that failed."})
	m.reg.MustRegister(m.processed, m.failed, m.processSeconds, m.protocolMessages, m.protocolErrors,
		m.brokerReconnects, m.brokerConnected, m.graphEdits, m.autosaveWrites, m.autosaveFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register adds a collector (the runtime's participant states, the
// server's client count).
func (m *Metrics) Register(c prometheus.Collector) {
	if m != nil {
		m.reg.MustRegister(c)
	}
}

// Port is the series of one inport of an in-process participant: looked
// up once, then every message is recorded without a lookup by labels.
// Recording on a nil *Port does nothing.
type Port struct {
	m                 *Metrics
	graph, node, port string
	seconds           prometheus.Observer
	processed         prometheus.Counter
}

// Port returns the series of an inport (nil on a nil *Metrics).
func (m *Metrics) Port(graph, node, port string) *Port {
	if m == nil {
		return nil
	}
	return &Port{m: m, graph: graph, node: node, port: port,
		seconds:   m.processSeconds.WithLabelValues(graph, node, port),
		processed: m.processed.WithLabelValues(graph, node, port)}
}

// Processed records one message the participant handled; a failure's
// series is made at the first failure.
func (p *Port) Processed(took time.Duration, failed bool) {
	if p == nil {
		return
	}
	p.seconds.Observe(took.Seconds())
	if failed {
		p.m.failed.WithLabelValues(p.graph, p.node, p.port).Inc()
		return
	}
	p.processed.Inc()
}

// ForgetParticipant drops the series of an in-process participant that
// stopped, so that labels stay bounded by the nodes that exist.
func (m *Metrics) ForgetParticipant(graph, node string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"graph": graph, "node": node}
	m.processed.DeletePartialMatch(l)
	m.failed.DeletePartialMatch(l)
	m.processSeconds.DeletePartialMatch(l)
}

// ProtocolMessage counts a message from a client; command is "unknown"
// unless the caller knows the command (labels stay bounded).
func (m *Metrics) ProtocolMessage(protocol, command string) {
	if m != nil {
		m.protocolMessages.WithLabelValues(protocol, command).Inc()
	}
}

// ProtocolError counts a request refused with an error.
func (m *Metrics) ProtocolError(protocol string) {
	if m != nil {
		m.protocolErrors.WithLabelValues(protocol).Inc()
	}
}

// BrokerConnection records the broker connection going down or coming back.
func (m *Metrics) BrokerConnection(up bool) {
	if m == nil {
		return
	}
	if up {
		m.brokerConnected.Set(1)
		m.brokerReconnects.Inc()
		return
	}
	m.brokerConnected.Set(0)
}

// GraphEdit counts an applied graph edit.
func (m *Metrics) GraphEdit() {
	if m != nil {
		m.graphEdits.Inc()
	}
}

// Autosave records a write of the main graph file.
func (m *Metrics) Autosave(err error) {
	if m == nil {
		return
	}
	m.autosaveWrites.Inc()
	if err != nil {
		m.autosaveFailures.Inc()
	}
}
