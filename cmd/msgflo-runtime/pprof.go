package main

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's profiler on ln (--pprof) until ctx ends, on its
// own mux: nothing of it is reachable through the FBP protocol's server.
// Only requests naming a loopback host are answered (loopbackHostOnly).
func servePprof(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: loopbackHostOnly(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return err
	}
	return nil
}

// loopbackHostOnly refuses (403) requests whose Host is not localhost or
// a loopback address. The profiler listens on loopback only, but a web
// page whose name its attacker points at 127.0.0.1 (DNS rebinding) makes
// the browser send its requests there, with the page's own name as Host.
func loopbackHostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
		if !isLoopbackHost(host) {
			http.Error(w, "Forbidden: the profiler answers requests for localhost only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
