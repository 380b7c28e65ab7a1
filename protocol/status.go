package protocol

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/msgflo/msgflo-runtime/runtime"
)

// The page at GET / is the runtime's graph editor and status page
// (statuspage/: HTML, CSS and JavaScript modules written for this project,
// embedded, nothing loaded from other hosts). Anyone may load the page;
// it edits the graphs as an FBP protocol client over the WebSocket, with the
// secret, as Flowhub does, and shows what the protocol does not carry
// (participants, node states, the last errors) from GET /status.json, which
// needs the secret too (docs/ARCHITECTURE.md, docs/editor.md).
const (
	overviewPath = "/status.json"
	staticPrefix = "/status/"
	// overviewTimeout bounds the broker's answers about queue depths.
	overviewTimeout = 3 * time.Second
)

//go:embed statuspage
var statusFiles embed.FS

var (
	statusPage   = template.Must(template.ParseFS(statusFiles, "statuspage/index.html"))
	staticFiles  = mustSub(statusFiles, "statuspage")
	buildVersion = moduleVersion()
)

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded folder is part of the binary
	}
	return sub
}

// moduleVersion is the version the binary was built from, as Go records it
// ("(devel)" for a build from a checkout).
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// StatusPageURL is the status page of a runtime at a ws:// or wss://
// address, with the secret in the fragment (never sent to the server, kept
// out of logs and Referer headers).
func StatusPageURL(address, secret string) string {
	u := "http" + strings.TrimPrefix(address, "ws") + "/"
	if secret != "" {
		u += "#secret=" + url.QueryEscape(secret)
	}
	return u
}

// securityHeaders keep the page to its own files and connections, and
// every answer of the server (page, data, health) out of caches.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// staticFile serves the page's scripts and style sheet.
func staticFile(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	http.StripPrefix(staticPrefix, http.FileServerFS(staticFiles)).ServeHTTP(w, r)
}

// landingPage serves the editor at / (and 404 elsewhere).
func (s *Server) landingPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	info := s.rt.Info()
	ide := s.opts.IDE
	if ide == "" {
		ide = DefaultIDE
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]string{
		"Version": runtime.ProtocolVersion,
		"Address": s.opts.Address,
		"ID":      info.ID,
		"Live":    LiveURL(ide, s.opts.Address, info.ID, ""),
	})
}

// overviewReply is GET /status.json: the runtime's overview and what the
// server adds to it.
type overviewReply struct {
	runtime.Overview
	Version  string `json:"version"`
	Protocol string `json:"protocol"`
	Clients  int    `json:"clients"`
}

// overview serves the runtime's overview (to holders of the secret: see
// routes).
func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), overviewTimeout)
	defer cancel()
	reply := overviewReply{Overview: s.rt.Overview(ctx), Version: buildVersion, Protocol: runtime.ProtocolVersion, Clients: s.Clients()}
	securityHeaders(w)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}
