// Package brokertest holds what tests need to talk to real brokers: finding
// them (and skipping, or failing in CI, when they are not there; skipping
// under go test -short, see internal/testenv) and the conformance suite
// every network.Broker implementation must pass.
package brokertest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
)

// Environment variables read by the helpers.
const (
	// EnvRequire set to 1 turns a missing broker into a test failure
	// (.ci/run sets it).
	EnvRequire = testenv.EnvRequire
	// EnvSkipLog names a file to which skipped broker tests are appended,
	// so `make test` can list them at the end.
	EnvSkipLog = testenv.EnvSkipLog
	// EnvMQTT and EnvAMQP override the brokers' URLs.
	EnvMQTT = "MSGFLO_TEST_MQTT_URL"
	EnvAMQP = "MSGFLO_TEST_AMQP_URL"
)

// MosquittoURL returns the URL of the MQTT broker tests use, or skips (or
// fails, under EnvRequire) the test when it does not answer; under -short
// it skips.
func MosquittoURL(t testing.TB) string {
	t.Helper()
	testenv.Needs(t, "Mosquitto")
	return require(t, "Mosquitto", EnvMQTT, "mqtt://127.0.0.1:1883", "1883")
}

// RabbitMQURL is MosquittoURL for RabbitMQ.
func RabbitMQURL(t testing.TB) string {
	t.Helper()
	testenv.Needs(t, "RabbitMQ")
	return require(t, "RabbitMQ", EnvAMQP, "amqp://guest:guest@127.0.0.1:5672/", "5672")
}

func require(t testing.TB, name, env, def, defPort string) string {
	t.Helper()
	raw := os.Getenv(env)
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: bad URL %q: %v", env, raw, err)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), defPort)
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		conn.Close()
		return raw
	}
	SkipOrFail(t, fmt.Sprintf("%s not reachable at %s (%v)", name, addr, err))
	return ""
}

// SkipOrFail skips a test that lacks something it needs (a broker, the
// Node.js tools), and lists it in the skip log (EnvSkipLog) so that make
// test reports it; under EnvRequire=1 (CI) the lack is a failure instead.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	testenv.SkipOrFail(t, why)
}
