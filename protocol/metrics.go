package protocol

import (
	"net/http"
	"strings"

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

// metrics serves the Prometheus metrics to holders of the secret
// (Authorization: Bearer SECRET, or ?secret=SECRET), or to anyone with
// Options.MetricsPublic or without a secret. Wrong secrets count against
// the caller's guesses like on the WebSocket.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	if s.opts.Secret != "" && !s.opts.MetricsPublic {
		presented := r.URL.Query().Get("secret")
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
			presented = strings.TrimPrefix(auth, "Bearer ")
		}
		host := remoteHost(r.RemoteAddr)
		if !s.secrets.mayGuess(host) {
			plain(w, http.StatusTooManyRequests, "too many wrong secrets\n")
			return
		}
		if !s.secrets.matches(presented) {
			if presented != "" {
				s.secrets.wrongGuess(host)
				s.log.Warn().Str("remote", r.RemoteAddr).Msg("metrics: wrong secret")
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="msgflo-runtime"`)
			plain(w, http.StatusUnauthorized, "secret required\n")
			return
		}
	}
	s.opts.Metrics.Handler().ServeHTTP(w, r)
}
