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

// metrics serves the Prometheus metrics to holders of the secret, or to
// anyone with Options.MetricsPublic.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.opts.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	if !s.opts.MetricsPublic && !s.authorizeHTTP(w, r) {
		return
	}
	s.opts.Metrics.Handler().ServeHTTP(w, r)
}

// authorizeHTTP checks that an HTTP request presents the secret
// (Authorization: Bearer SECRET, or ?secret=SECRET) when the runtime has
// one, and otherwise answers it 401 (or 429 after too many wrong ones:
// wrong secrets count against the caller's guesses like on the WebSocket).
func (s *Server) authorizeHTTP(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.Secret == "" {
		return true
	}
	presented := r.URL.Query().Get("secret")
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		presented = strings.TrimPrefix(auth, "Bearer ")
	}
	switch s.secrets.check(remoteHost(r.RemoteAddr), presented) {
	case secretNotChecked:
		plain(w, http.StatusTooManyRequests, "too many wrong secrets\n")
		return false
	case secretWrong:
		if presented != "" {
			s.log.Warn().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("wrong secret")
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="msgflo-runtime"`)
		plain(w, http.StatusUnauthorized, "secret required\n")
		return false
	}
	return true
}
