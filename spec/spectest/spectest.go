// Package spectest runs fbp-spec suites from Go tests: each suite is a
// subtest, each case a subtest of it.
package spectest

import (
	"context"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/spec"
)

// RunT runs the suites at paths against the runtime cfg names (an address,
// a command it starts, or the msgflo-runtime binary it starts) and reports
// each suite and case as a subtest; a case that fails fails its subtest, a
// skipped one is skipped.
func RunT(t *testing.T, cfg spec.Config, paths ...string) []spec.SuiteResult {
	t.Helper()
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-time.Second))
		defer cancel()
	}
	results, err := spec.RunFiles(ctx, cfg, paths, quiet{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range results {
		t.Run(s.Suite.Name, func(t *testing.T) {
			if s.Err != nil {
				t.Error(s.Err)
			}
			for _, c := range s.Cases {
				t.Run(c.Case.Name, func(t *testing.T) {
					switch c.Status {
					case spec.Skipped:
						t.Skip(c.Reason)
					case spec.Failed:
						t.Errorf("%s: %v", c.Case.Assertion, c.Err)
					}
				})
			}
		})
	}
	return results
}

// quiet reports nothing: the subtests are the report.
type quiet struct{}

func (quiet) Case(spec.Result)                                   {}
func (quiet) Finish(_ []spec.SuiteResult, _ time.Duration) error { return nil }
