package main

import "testing"

// The runtime server leaves one CPU to a broker on this machine, unless
// GOMAXPROCS says otherwise; the embedded broker and a remote one change
// nothing.
func TestBrokerProcs(t *testing.T) {
	noEnv := func(string) string { return "" }
	procsEnv := func(k string) string {
		if k == "GOMAXPROCS" {
			return "2"
		}
		return ""
	}
	for _, c := range []struct {
		url       string
		env       func(string) string
		goDefault int
		n         int
		set       bool
	}{
		{"amqp://guest:guest@127.0.0.1:5672/", noEnv, 2, 1, true},
		{"mqtt://localhost:1883", noEnv, 8, 7, true},
		{"amqp://[::1]:5672", noEnv, 4, 3, true},
		{"amqp://guest:guest@127.0.0.1:5672/", noEnv, 1, 1, true},
		{"amqp://rabbit-a:5672,amqp://127.0.0.1:5673", noEnv, 4, 3, true},
		{"amqp://guest:guest@127.0.0.1:5672/", procsEnv, 2, 0, false},
		{"amqp://rabbit.example.com:5672", noEnv, 2, 0, false},
		{"", noEnv, 2, 0, false}, // the embedded broker
	} {
		n, set := brokerProcs(c.url, c.env, c.goDefault)
		if n != c.n || set != c.set {
			t.Errorf("brokerProcs(%q, GOMAXPROCS=%q, %d) = %d, %v; want %d, %v", c.url, c.env("GOMAXPROCS"), c.goDefault, n, set, c.n, c.set)
		}
	}
}
