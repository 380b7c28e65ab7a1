package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
)

// listenFBP opens the FBP protocol's listener on --listen (default --host)
// and --port, with TLS when --tls-cert and --tls-key are given, and returns
// the address clients are told: ws:// (or wss://) with --host, or with the
// machine's host name when --host is a wildcard address such as 0.0.0.0,
// which no client can connect to.
func listenFBP(cfg listenConfig) (net.Listener, string, error) {
	var tlsConfig *tls.Config
	scheme := "ws"
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, "", fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "wss"
	}
	listen := cfg.listen
	if listen == "" {
		listen = cfg.host
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(listen, strconv.Itoa(cfg.port)))
	if err != nil {
		return nil, "", fmt.Errorf("listen for FBP protocol: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	return ln, fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(advertisedHost(cfg.host), strconv.Itoa(port))), nil
}

// advertisedHost is the host name put in the address clients are given.
func advertisedHost(host string) string {
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return host
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		return name
	}
	return "localhost"
}
