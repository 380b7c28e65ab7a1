// Command msgflo-runtime is an FBP runtime in the msgflo family: it serves
// the FBP protocol over WebSocket and wires participants through a broker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/supervise"
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/metrics"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol"
	"github.com/msgflo/msgflo-runtime/runtime"
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

// serve wires the broker, the runtime and the protocol server and runs them
// until a signal arrives or one of them fails.
func serve(cfg config, log zerolog.Logger, stdout, forwardTo io.Writer, ready func()) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Without a graph file, the main graph is the live view of the
	// participants on the broker (msgflo's default/main); with --auto-save
	// and a graph file that does not exist yet, the live view is saved there.
	var mainGraph *graph.Graph
	live := cfg.graphFile == ""
	if cfg.graphFile != "" {
		var err error
		if mainGraph, err = loadGraphFile(cfg.graphFile); err != nil {
			if !errors.Is(err, fs.ErrNotExist) || !cfg.autoSave {
				return err
			}
			mainGraph, live = graph.New(graphFileID(cfg.graphFile)), true
		}
	} else {
		mainGraph = runtime.NewLiveGraph()
	}

	// Foreign participant files (.yml) are registered by this binary.
	if exe, err := os.Executable(); err == nil {
		library.DefaultHandlers[".yml"] = exe + " register --role #ROLE:#FILENAME"
	}
	// The library: its file is optional only where it is msgflo's default.
	lib, err := library.Load(cfg.libraryFile, cfg.libraryFile == "package.json", cfg.componentDir)
	if err != nil {
		return err
	}
	if cfg.allowSetsource {
		if err := library.CheckUploadDir(cfg.componentDir, cfg.libraryFile, cfg.graphFile); err != nil {
			return fmt.Errorf("--allow-setsource: %w", err)
		}
	}

	var g run.Group
	var broker network.Broker
	brokerNote := ""
	if cfg.broker == "" {
		srv, err := embedded.Start(ctx, embedded.Options{Host: cfg.embeddedHost, Port: cfg.embeddedPort, Logger: log.With().Str("component", "embedded-broker").Logger()})
		if err != nil {
			return fmt.Errorf("start embedded broker: %w", err)
		}
		defer srv.Close()
		broker = srv.Broker()
		brokerNote = fmt.Sprintf(" (embedded broker %s)", srv.URL())
	} else {
		// On MQTT a persistent session, named after the runtime id (give
		// --runtime-id to keep it across restarts), carries the edges and
		// in-process participants through a broker outage.
		b, err := dial.Open(ctx, cfg.broker, dial.Options{
			ClientID:          "msgflo-runtime-" + cfg.runtimeID,
			PersistentSession: true,
			QueueType:         cfg.queueType,
			Logger:            log.With().Str("component", "broker").Logger(),
		})
		if err != nil {
			return fmt.Errorf("connect to broker: %w", err)
		}
		broker = b
		brokerNote = fmt.Sprintf(" (broker %s)", network.RedactURL(network.NodeInUse(b)))
	}
	defer broker.Close()

	mets := metrics.New()
	rt, err := runtime.New(runtime.Options{
		Metrics:           mets,
		ID:                cfg.runtimeID,
		Label:             cfg.label,
		Broker:            broker,
		Components:        participant.CoreComponents(),
		HeartbeatExpiry:   cfg.heartbeat,
		DiscoveryPeriod:   cfg.discovery,
		TransientMessages: cfg.transient,
		QueueType:         cfg.queueType,
		GraphFile:         cfg.graphFile,
		AutoSave:          cfg.autoSave,
		Ignore:            cfg.ignore,
		Library:           lib,
		Supervisor:        supervisor(),
		AllowSetSource:    cfg.allowSetsource,
		WaitTimeout:       cfg.waitTimeout,
		MaxPendingBytes:   cfg.maxPending,
		LiveGraph:         live,
		Forward:           cfg.forward,
		ForwardTo:         forwardTo,
		Namespace:         lib.Config.Namespace,
		Repository:        lib.Config.Repository,
		Logger:            log.With().Str("component", "runtime").Logger(),
	})
	if err != nil {
		return err
	}
	if mainGraph != nil {
		for _, n := range mainGraph.Nodes {
			_, builtin := participant.LookupCore(n.Component)
			_, startable := lib.Get(n.Component)
			switch {
			case slices.Contains(cfg.ignore, n.ID):
				log.Info().Str("node", n.ID).Str("component", n.Component).Msg("ignored (--ignore): expecting a participant with this role to be running")
			case builtin:
				log.Info().Str("node", n.ID).Str("component", n.Component).Msg("starting an in-process participant")
			case startable:
				log.Info().Str("node", n.ID).Str("component", n.Component).Msg("starting a participant process (library)")
			default:
				log.Info().Str("node", n.ID).Str("component", n.Component).Msg("not a built-in component: expecting a participant with this role to be running")
			}
		}
		rt.LoadGraph(mainGraph, true, true)
		switch {
		case cfg.graphFile == "":
			// Nothing on stderr before the ready line without a graph file
			// (fbp-spec takes it for a failed start).
			log.Debug().Str("graph", mainGraph.ID).Msg("main graph: the participants discovered on the broker")
		case live:
			log.Info().Str("graph", mainGraph.ID).Str("file", cfg.graphFile).Msg("main graph: the participants discovered on the broker, saved to the graph file")
		default:
			log.Info().Str("graph", mainGraph.ID).Str("file", cfg.graphFile).Bool("auto_save", cfg.autoSave).Msg("main graph loaded and started")
		}
	}

	ln, address, err := listenFBP(cfg)
	if err != nil {
		return err
	}

	srv, err := protocol.New(rt, protocol.Options{
		Secret:                cfg.secret,
		ExtraCapabilities:     extraCapabilities(cfg),
		AnonymousCapabilities: splitList(cfg.anonymousCaps),
		AllowedOrigins:        splitList(cfg.allowOrigins),
		MaxConnections:        cfg.maxConns,
		ReadLimit:             cfg.maxMessage,
		IDE:                   cfg.ide,
		Address:               address,
		Metrics:               mets,
		MetricsPublic:         cfg.metricsPublic,
		Logger:                log.With().Str("component", "protocol").Logger(),
	})
	if err != nil {
		ln.Close()
		return err
	}

	{
		runCtx, stop := context.WithCancel(ctx)
		g.Add(func() error { return rt.Run(runCtx) }, func(error) { stop() })
	}
	{
		serveCtx, stop := context.WithCancel(ctx)
		g.Add(func() error { return srv.Serve(serveCtx, ln) }, func(error) { stop() })
	}
	{
		// Signals are caught from here on, before the ready line: a
		// client told "ready" may stop the runtime at once (oklog/run's
		// SignalHandler starts catching only when its goroutine runs).
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigc)
		sigCtx, stop := context.WithCancel(ctx)
		g.Add(func() error {
			select {
			case sig := <-sigc:
				return &run.SignalError{Signal: sig}
			case <-sigCtx.Done():
				return sigCtx.Err()
			}
		}, func(error) { stop() })
	}
	if cfg.pprof != "" {
		pln, err := net.Listen("tcp", cfg.pprof)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen for --pprof: %w", err)
		}
		log.Warn().Str("address", pln.Addr().String()).Msg("serving the Go profiler (--pprof)")
		pctx, stop := context.WithCancel(ctx)
		g.Add(func() error { return servePprof(pctx, pln) }, func(error) { stop() })
	}
	{
		ping := newPinger(cfg, address, log.With().Str("component", "ping").Logger())
		pingCtx, stop := context.WithCancel(ctx)
		g.Add(func() error {
			select { // the registry hears of the runtime once it is ready
			case <-rt.Ready():
			case <-pingCtx.Done():
				return nil
			}
			_ = ping.Run(pingCtx)
			<-pingCtx.Done()
			return nil
		}, func(error) { stop() })
	}

	{
		// Announce readiness once the runtime listens for participants.
		readyCtx, stop := context.WithCancel(ctx)
		g.Add(func() error {
			select {
			case <-rt.Ready():
			case <-readyCtx.Done():
				return nil
			}
			if cfg.prog == "msgflo" { // the line msgflo's users and scripts wait for
				fmt.Fprintf(stdout, "msgflo started on %s\n", address)
			} else {
				fmt.Fprintf(stdout, "msgflo-runtime ready on %s%s\n", address, brokerNote)
			}
			fmt.Fprintf(stdout, "Open in Flowhub: %s\n", protocol.LiveURL(cfg.ide, address, cfg.runtimeID, cfg.secret))
			fmt.Fprintf(stdout, "Status page: %s\n", protocol.StatusPageURL(address, cfg.secret))
			ready()
			if cfg.noAuth {
				log.Warn().Str("address", address).Msg("authentication is off (--no-auth): every client that can connect may edit graphs and start participant processes")
			}
			log.Debug().Str("address", address).Str("runtime", cfg.runtimeID).Msg("runtime ready")
			<-readyCtx.Done()
			return nil
		}, func(error) { stop() })
	}

	err = g.Run()
	var sig *run.SignalError
	if errors.As(err, &sig) {
		log.Info().Str("signal", sig.Signal.String()).Msg("shutting down")
		return nil
	}
	return err
}

// extraCapabilities offers network:persist when there is a file to persist
// to, and component:setsource when uploads are allowed (--allow-setsource).
func extraCapabilities(cfg config) []string {
	var out []string
	if cfg.graphFile != "" {
		out = append(out, "network:persist")
	}
	if cfg.allowSetsource && cfg.componentDir != "" {
		out = append(out, "component:setsource")
	}
	return out
}

// supervisor is how participant processes are started: under this binary
// as their supervisor, so that they and all they start die with the runtime.
func supervisor() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return []string{exe, supervise.Command}
}
