package protocol

import "net/http"

// Health endpoints for supervisors (Kubernetes probes, Heroku-style
// checks). Both are public and reveal nothing: fixed small bodies, the
// reason a runtime is not ready goes to the log only.
const (
	healthzPath = "/healthz"
	readyzPath  = "/readyz"
)

// healthz answers 200 as long as the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	plain(w, http.StatusOK, "ok\n")
}

// readyz answers 200 while the runtime can do its work (runtime.Readiness:
// broker connected, graphs loaded at start wired and started), 503
// otherwise.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := s.rt.Readiness(); err != nil {
		s.log.Debug().Err(err).Msg("readyz: not ready")
		plain(w, http.StatusServiceUnavailable, "not ready\n")
		return
	}
	plain(w, http.StatusOK, "ready\n")
}

func plain(w http.ResponseWriter, code int, body string) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
