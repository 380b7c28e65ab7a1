package main

import (
	"net/url"
	"runtime"
	"strings"
)

// brokerProcs is how many CPUs the runtime server's Go code may run on at
// once when the environment does not say (GOMAXPROCS): one less than Go
// would take (never less than one) when the broker is a process of its
// own on this machine (a broker URL naming a loopback host), so that the
// broker keeps a CPU the runtime never competes for; what Go would take
// otherwise (the embedded broker runs inside the runtime, a remote one
// has CPUs of its own).
//
// The in-process participants hand each message from goroutine to
// goroutine (the AMQP library's reader, its consumer buffer, the
// participant), and each hand-off may wake a second OS thread that spins
// looking for work: on a small machine that CPU is the broker's, and the
// broker is what limits a chain. Measured with `msgflo-bench --throughput`
// on a quiet two-core machine with RabbitMQ on it, paired runs of the same
// binary: --persistent-messages=false ran at 0.88-0.94 of the plain
// relays with two, 1.02-1.08 with one.
func brokerProcs(brokerURL string, getenv func(string) string, goDefault int) (n int, set bool) {
	if getenv("GOMAXPROCS") != "" || !brokerOnThisMachine(brokerURL) {
		return 0, false
	}
	return max(1, goDefault-1), true
}

// brokerOnThisMachine says one of the broker's URLs (a cluster's are
// separated by commas) names a loopback host.
func brokerOnThisMachine(brokerURL string) bool {
	for _, raw := range strings.Split(brokerURL, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err == nil && u.Host != "" && isLoopbackHost(u.Hostname()) {
			return true
		}
	}
	return false
}

// tuneProcs applies brokerProcs.
func tuneProcs(brokerURL string, getenv func(string) string) {
	if n, set := brokerProcs(brokerURL, getenv, runtime.GOMAXPROCS(0)); set {
		runtime.GOMAXPROCS(n)
	}
}
