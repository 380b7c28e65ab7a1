// Command msgflo-runtime is an FBP runtime in the msgflo family: it serves
// the FBP protocol over WebSocket and wires participants through a broker.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/supervise"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == supervise.Command {
		os.Exit(supervise.Main(os.Args[2:])) // a participant process's supervisor
	}
	os.Exit(realMain(filepath.Base(os.Args[0]), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// msgfloPrograms are msgflo's program names and the subcommand each one is:
// a link to this binary under such a name behaves as msgflo's program.
var msgfloPrograms = map[string]string{
	"msgflo-setup":        "setup",
	"msgflo-send-message": "send",
	"msgflo-dump-message": "dump",
	"msgflo-procfile":     "procfile",
	"msgflo-register":     "register",
}

// realMain runs the program called name (argv[0]'s base name): msgflo's
// program names run msgflo's tools, any other name is msgflo-runtime.
func realMain(name string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if sub, ok := msgfloPrograms[name]; ok {
		return msgfloExitCode(subcommands[sub](name, args, getenv, stdout, stderr))
	}
	if name == "msgflo" {
		return msgfloExitCode(runtimeMain(name, args, getenv, stdout, stderr))
	}
	if len(args) > 0 {
		if sub, ok := subcommands[args[0]]; ok {
			return sub("msgflo-runtime "+args[0], args[1:], getenv, stdout, stderr)
		}
	}
	return runtimeMain("msgflo-runtime", args, getenv, stdout, stderr)
}

// msgfloExitCode maps our usage-error code 2 onto msgflo's 1 (its programs
// exit 1 on every error, wrong flags included).
func msgfloExitCode(code int) int {
	if code == 2 {
		return 1
	}
	return code
}

func runtimeMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	cfg.prog = prog
	tuneGC(getenv)
	tuneProcs(cfg.broker.url, getenv)
	gate := &gatedWriter{out: stderr}
	log := newLogger(cfg, gate)
	err = serve(cfg, log, stdout, gate, gate.Open)
	gate.Open()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	return 0
}

func newLogger(cfg config, stderr io.Writer) zerolog.Logger {
	var w io.Writer = stderr
	if !cfg.logJSON {
		w = zerolog.ConsoleWriter{Out: stderr, NoColor: true, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(cfg.logLevel).With().Timestamp().Logger()
}

// supervisor is how participant processes are started: under this binary
// as their supervisor, so that they and all they start die with the runtime
// (or with setup). None where the supervisor does not work (not Linux).
func supervisor() []string {
	exe, err := os.Executable()
	if err != nil || !supervise.Supported {
		return nil
	}
	return []string{exe, supervise.Command}
}
