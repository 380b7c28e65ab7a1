package protocol

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

const metricsPath = "/metrics"

// registerMetrics adds the server's own gauges to the runtime's metrics.
func (s *Server) registerMetrics() {
	s.opts.Metrics.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "msgflo", Name: "clients_connected",
		Help: "FBP protocol clients connected over WebSocket.",
	}, func() float64 { return float64(s.Clients()) }))
}

// countMessage counts a client's message under bounded labels: commands
// the server does not know are "unknown", as are unknown sub-protocols.
func (s *Server) countMessage(protocol, command string) {
	if !knownProtocols[protocol] {
		protocol, command = "unknown", "unknown"
	} else if _, known := s.handlers[protocol+":"+command]; !known {
		command = "unknown"
	}
	s.opts.Metrics.ProtocolMessage(protocol, command)
}

// metrics serves the Prometheus metrics (to holders of the secret, or to
// anyone with Options.MetricsPublic: see routes).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	s.opts.Metrics.Handler().ServeHTTP(w, r)
}
