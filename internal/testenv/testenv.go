// Package testenv decides where a test that needs something outside the
// module runs: the fast tier (`go test -short ./...`, make test-short)
// leaves out every test that needs a real broker, the built binary, the
// private RabbitMQ cluster, a browser or packages installed from npm, and
// runs everything else; the full tier (make test) runs them all, and in CI
// (EnvRequire=1) a missing tool is a failure rather than a skip.
//
// Tests never call testing.Short themselves: they call the helper that
// finds what they need (brokertest.RabbitMQURL, the binary's builder in
// cmd/msgflo-runtime, the npm and browser finders), and that helper calls
// Needs. Only for tests, never used by the product.
package testenv

import (
	"os"
	"testing"
)

// Environment variables read by the helpers.
const (
	// EnvRequire set to 1 turns a missing broker or tool into a test
	// failure (.ci/run sets it).
	EnvRequire = "MSGFLO_TEST_REQUIRE_BROKERS"
	// EnvSkipLog names a file to which skipped tests are appended, so
	// `make test` can list them at the end.
	EnvSkipLog = "MSGFLO_TEST_SKIPLOG"
)

// Needs skips the test under -short: it needs what, which the fast tier
// leaves out ("RabbitMQ", "the built binary", "npm's fbp", ...). Without
// -short it does nothing; the caller then finds what it needs, or calls
// SkipOrFail.
func Needs(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: needs %s", what)
	}
}

// SkipOrFail skips a test that lacks something it needs (a broker, the
// Node.js tools), and lists it in the skip log (EnvSkipLog) so that make
// test reports it; under EnvRequire=1 (CI) the lack is a failure instead.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s, and %s=1 requires it", why, EnvRequire)
	}
	if path := os.Getenv(EnvSkipLog); path != "" {
		if f, ferr := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); ferr == nil {
			_, _ = f.WriteString(t.Name() + ": " + why + "\n")
			f.Close()
		}
	}
	t.Skipf("%s; set %s=1 to make this a failure", why, EnvRequire)
}
