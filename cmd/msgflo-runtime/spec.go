package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/settings"
	"github.com/msgflo/msgflo-runtime/spec"
)

// test [flags] FILES...: fbp-spec suites run against this runtime (started
// for the run), a running FBP runtime (--address) or one a command starts
// (--command). Exit codes as fbp-spec's: 0 all passed, 2 a case failed,
// 1 the run could not be done (usage errors too, as fbp-spec's CLI).
func testMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	t := newToolFlags(prog, "[flags] FILE|DIR|URL...", getenv, stderr)
	address := t.String("address", "", "WebSocket address of a running runtime (default: start this runtime for the run)")
	secret := t.String("secret", "", "the runtime's secret, with --address or --command")
	command := t.String("command", "", "command that starts the runtime under test (sh -c), stopped after the run; give --address too")
	startTimeout := secondsFlag(t, "start-timeout", spec.DefaultConnectTimeout, "how long to wait for the runtime to start (seconds, or a duration)")
	commandTimeout := secondsFlag(t, "command-timeout", spec.DefaultCommandTimeout, "time limit of one FBP command (seconds, or a duration)")
	caseTimeout := secondsFlag(t, "timeout", spec.DefaultCaseTimeout, "time limit of a case whose suite gives none (seconds, or a duration)")
	componentTests := t.Bool("component-tests", false, "also run the suites in the tests of the runtime's components")
	format := t.String("format", "human", "output: human, tap or junit")
	files, code, ok := t.parse(args)
	if !ok {
		return msgfloExitCode(code)
	}
	if len(files) == 0 && !*componentTests {
		t.Usage()
		return 1
	}
	cfg := spec.Config{
		Options: spec.Options{
			Address:        *address,
			Secret:         *secret,
			ConnectTimeout: *startTimeout,
			CommandTimeout: *commandTimeout,
			CaseTimeout:    *caseTimeout,
		},
		Command:        *command,
		ComponentTests: *componentTests,
	}
	switch {
	case *command != "" && *address == "":
		cfg.Address = "ws://localhost:3569" // fbp-spec's default
	case *address == "":
		exe, err := os.Executable()
		if err != nil {
			return t.fail(1, "cannot start the runtime: %v", err)
		}
		cfg.Runtime = exe
	}
	rep, err := spec.NewReporter(*format, stdout, isTerminal(stdout, getenv))
	if err != nil {
		return t.fail(1, "%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	results, err := spec.RunFiles(ctx, cfg, files, rep)
	if err != nil {
		// The error may carry the runtime's own text.
		fmt.Fprintf(stderr, "%s: %s\n", prog, oneLine(err.Error()))
		return 1
	}
	return spec.ExitCode(results)
}

// secondsFlag is a time flag written as fbp-spec's (a number of seconds,
// settings.Seconds) or as a Go duration ("500ms").
func secondsFlag(t *toolFlags, name string, def time.Duration, usage string) *time.Duration {
	d := def
	t.Func(name, fmt.Sprintf("%s (default %s)", usage, def), func(s string) error {
		if v, err := settings.Seconds(s); err == nil {
			d = v
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			return fmt.Errorf("want a positive number of seconds or a duration")
		}
		d = v
		return nil
	})
	return &d
}

// isTerminal reports whether w is a terminal that takes colours.
func isTerminal(w io.Writer, getenv func(string) string) bool {
	f, ok := w.(*os.File)
	if !ok || getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
