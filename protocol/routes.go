package protocol

import (
	"net/http"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/msgflo/msgflo-runtime/internal/logtext"
)

// routes is the HTTP side of the server: what each method and path is
// for. Routes that show the runtime's state go through requireSecret.
//
//	GET /healthz, /readyz   public, fixed bodies (health.go)
//	GET /metrics            the secret, unless Options.MetricsPublic (metrics.go)
//	GET /status.json        the secret (status.go)
//	GET /status/            the status page's script and style (status.go)
//	GET /                   the FBP protocol's WebSocket on any path, else the status page at /
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+healthzPath, s.healthz)
	mux.HandleFunc("GET "+readyzPath, s.readyz)
	metrics := http.Handler(http.HandlerFunc(s.metrics))
	if !s.opts.MetricsPublic {
		metrics = s.requireSecret(metrics)
	}
	mux.Handle("GET "+metricsPath, metrics)
	mux.Handle("GET "+overviewPath, s.requireSecret(http.HandlerFunc(s.overview)))
	mux.HandleFunc("GET "+staticPrefix, staticFile)
	mux.HandleFunc("GET /", s.fbpEndpoint)
	return mux
}

// ServeHTTP serves the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// fbpEndpoint is the FBP protocol: a WebSocket upgrade on any path other
// than the routes above (clients connect to /); a plain GET of / is the
// status page.
func (s *Server) fbpEndpoint(w http.ResponseWriter, r *http.Request) {
	if websocket.IsWebSocketUpgrade(r) {
		s.serveWebSocket(w, r)
		return
	}
	s.landingPage(w, r) // 404 but for /
}

// requireSecret lets a request through to next only when it presents the
// runtime's secret as "Authorization: Bearer SECRET" (never in the URL,
// where any page can put it: <img src=".../metrics?secret=guess">). A
// request from a page of another origin is refused before its secret is
// looked at, so no page can spend the guesses of the user's address.
// Otherwise it is answered 401, and a wrong secret counts against the
// caller's guesses like on the WebSocket (slowed once they are spent).
func (s *Server) requireSecret(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Secret == "" {
			next.ServeHTTP(w, r)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !s.origins.allows(origin) {
			s.logRefused(r, "request from a page of another origin refused (see --allow-origin)")
			plain(w, http.StatusForbidden, "origin not allowed\n")
			return
		}
		presented := ""
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
			presented = strings.TrimPrefix(auth, "Bearer ")
		}
		switch s.secrets.check(remoteHost(r.RemoteAddr), presented) {
		case secretRight:
			next.ServeHTTP(w, r)
			return
		case secretSlowed:
			s.logRefused(r, "wrong secret; too many from this address")
			if !s.secrets.wait(r.Context().Done()) {
				return
			}
			plain(w, http.StatusTooManyRequests, "too many wrong secrets\n")
			return
		case secretWrong:
			if presented != "" {
				s.logRefused(r, "wrong secret")
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="msgflo-runtime"`)
		plain(w, http.StatusUnauthorized, "secret required\n")
	})
}

// logRefused logs an HTTP request refused by requireSecret.
func (s *Server) logRefused(r *http.Request, msg string) {
	s.clientLog.Event(s.log.Warn()).Str("remote", r.RemoteAddr).Str("path", logtext.Short(r.URL.Path)).
		Str("origin", logtext.Short(r.Header.Get("Origin"))).Msg(msg)
}
