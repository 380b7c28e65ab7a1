package spec

import (
	"context"
	"fmt"
	"time"

	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// Config is a whole run: where the runtime is (Address, or a Command
// started around the run, or the msgflo-runtime binary at Runtime started
// for it) and what to run.
type Config struct {
	Options
	// Command starts the runtime (sh -c), as fbp-spec's --command; Address
	// is where it listens.
	Command string
	// Runtime is the msgflo-runtime binary to start when neither Address
	// nor Command is given; RuntimeArgs are passed to it.
	Runtime     string
	RuntimeArgs []string
	// ComponentTests adds the suites in the tests field of the runtime's
	// component sources (fbp-spec's --component-tests).
	ComponentTests bool
}

// RunFiles loads the suites at paths, gets the runtime, runs them and
// reports them; the error is one that kept the run from happening.
func RunFiles(ctx context.Context, cfg Config, paths []string, rep Reporter) ([]SuiteResult, error) {
	start := time.Now()
	suites, err := LoadFiles(paths...)
	if err != nil {
		return nil, err
	}
	stop, err := cfg.startRuntime(ctx)
	if err != nil {
		return nil, err
	}
	r, err := Connect(ctx, cfg.Options)
	if err != nil {
		stopErr := stop()
		return nil, joinStop(err, stopErr)
	}
	if cfg.ComponentTests {
		more, err := r.ComponentSuites(ctx)
		if err != nil {
			r.Close()
			return nil, joinStop(err, stop())
		}
		suites = append(suites, more...)
	}
	results := r.Run(ctx, suites, rep.Case)
	r.Close()
	stopErr := stop()
	if err := rep.Finish(results, time.Since(start)); err != nil {
		return results, err
	}
	if stopErr != nil {
		return results, stopErr
	}
	if r.broken != nil {
		return results, r.broken
	}
	return results, nil
}

func joinStop(err, stopErr error) error {
	if stopErr != nil {
		return fmt.Errorf("%w (and stopping the runtime: %v)", err, stopErr)
	}
	return err
}

// startRuntime starts what the config says; the returned function stops
// it.
func (cfg *Config) startRuntime(ctx context.Context) (func() error, error) {
	switch {
	case cfg.Command != "":
		p, err := StartCommand(ctx, cfg.Command)
		if err != nil {
			return nil, err
		}
		// fbp-spec kills its command at the end; how it exits is its own.
		return func() error { _ = p.Stop(); return nil }, nil
	case cfg.Address == "" && cfg.Runtime != "":
		sctx, cancel := context.WithTimeout(ctx, max(cfg.ConnectTimeout, DefaultConnectTimeout))
		defer cancel()
		p, addr, secret, err := StartRuntime(sctx, cfg.Runtime, cfg.RuntimeArgs...)
		if err != nil {
			return nil, err
		}
		cfg.Address, cfg.Secret = addr, secret
		return func() error {
			if err := p.Stop(); err != nil {
				return fmt.Errorf("the runtime did not exit cleanly: %v\n%s", err, p.Stderr())
			}
			return nil
		}, nil
	case cfg.Address == "":
		return nil, fmt.Errorf("no runtime: give an address, a command or the runtime binary")
	}
	return func() error { return nil }, nil
}

// ComponentSuites are the suites in the tests field of the runtime's
// component sources, when it offers component:getsource; a source that
// cannot be had, or tests that are not fbp-spec YAML, are left out (as
// fbp-spec does).
func (r *Runner) ComponentSuites(ctx context.Context) ([]*Suite, error) {
	if !r.runtime.Has("component:getsource") {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, componentTimeout)
	defer cancel()
	list, err := r.client.Components(ctx)
	if err != nil {
		return nil, err
	}
	var suites []*Suite
	for _, c := range list {
		m, err := r.client.RequestMessage(ctx, wire.GetSource{Name: c.Name})
		if err != nil {
			r.noteBroken(err)
			if r.broken != nil {
				return nil, r.broken
			}
			continue
		}
		var src wire.Source
		if m.Decode(&src) != nil || src.Tests == "" {
			continue
		}
		name := src.Name
		if src.Library != "" {
			name = src.Library + "/" + src.Name
		}
		more, err := Parse("component "+name, []byte(src.Tests))
		if err != nil {
			continue
		}
		suites = append(suites, more...)
	}
	return suites, nil
}
