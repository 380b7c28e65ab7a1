package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/oklog/run"
	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/metrics"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// serve opens the broker, makes the runtime and the protocol server, and
// runs them as named actors until a signal arrives or one of them fails.
func serve(cfg config, log zerolog.Logger, stdout, forwardTo io.Writer, ready func()) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mainGraph, live, err := loadMainGraph(cfg)
	if err != nil {
		return err
	}
	lib, err := loadLibrary(cfg)
	if err != nil {
		return err
	}
	broker, brokerNote, err := openBroker(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer broker.Close()
	ln, address, err := listenFBP(cfg.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	rt, srv, err := newServer(cfg, broker, lib, live, address, forwardTo, log)
	if err != nil {
		return err
	}
	loadMain(cfg, rt, mainGraph, live, log)
	actors := []actor{
		{"runtime", rt.Run},
		{"protocol", func(ctx context.Context) error { return srv.Serve(ctx, ln) }},
		signals(),
		{"ping", afterReady(rt, newPinger(cfg, address, log.With().Str("component", "ping").Logger()).Run)},
		{"ready line", afterReady(rt, func(context.Context) error {
			printReady(cfg, stdout, address, brokerNote)
			ready()
			if cfg.noAuth {
				log.Warn().Str("address", address).Msg("authentication is off (--no-auth): every client that can connect may edit graphs and start participant processes")
			}
			log.Debug().Str("address", address).Str("runtime", cfg.runtime.ID).Msg("runtime ready")
			return nil
		})},
	}
	if cfg.pprof != "" {
		a, err := pprofActor(cfg.pprof, log)
		if err != nil {
			return err
		}
		actors = append(actors, a)
	}
	err = runActors(ctx, actors)
	var sig *run.SignalError
	if errors.As(err, &sig) {
		log.Info().Str("signal", sig.Signal.String()).Msg("shutting down")
		return nil
	}
	return err
}

// actor is a long-lived part of the running program: it runs until its
// context ends, or fails.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// runActors runs the actors (oklog/run) until the first returns, then
// stops the others and returns the first one's error.
func runActors(ctx context.Context, actors []actor) error {
	var g run.Group
	for _, a := range actors {
		actx, stop := context.WithCancel(ctx)
		g.Add(func() error { return a.run(actx) }, func(error) { stop() })
	}
	return g.Run()
}

// afterReady runs f once the runtime is ready (it listens for
// participants), then waits for the end: the actor ends only when stopped.
func afterReady(rt *runtime.Runtime, f func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-rt.Ready():
		case <-ctx.Done():
			return nil
		}
		_ = f(ctx)
		<-ctx.Done()
		return nil
	}
}

// signals ends the program on SIGINT or SIGTERM. Signals are caught from
// when it is made, before the ready line: a client told "ready" may stop
// the runtime at once (oklog/run's SignalHandler catches only once its
// goroutine runs).
func signals() actor {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	return actor{"signals", func(ctx context.Context) error {
		defer signal.Stop(sigc)
		select {
		case sig := <-sigc:
			return &run.SignalError{Signal: sig}
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
}

// pprofActor serves Go's profiler on addr (--pprof).
func pprofActor(addr string, log zerolog.Logger) (actor, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return actor{}, fmt.Errorf("listen for --pprof: %w", err)
	}
	log.Warn().Str("address", ln.Addr().String()).Msg("serving the Go profiler (--pprof)")
	return actor{"pprof", func(ctx context.Context) error { return servePprof(ctx, ln) }}, nil
}

// printReady prints the lines users and scripts wait for.
func printReady(cfg config, stdout io.Writer, address, brokerNote string) {
	if cfg.prog == "msgflo" { // msgflo's own ready line
		fmt.Fprintf(stdout, "msgflo started on %s\n", address)
	} else {
		fmt.Fprintf(stdout, "msgflo-runtime ready on %s%s\n", address, brokerNote)
	}
	fmt.Fprintf(stdout, "Open in Flowhub: %s\n", protocol.LiveURL(cfg.protocol.IDE, address, cfg.runtime.ID, cfg.protocol.Secret))
	fmt.Fprintf(stdout, "Status page: %s\n", protocol.StatusPageURL(address, cfg.protocol.Secret))
}

// loadMainGraph is the main graph: the --graph file's; without one, the
// live view of the participants on the broker (msgflo's default/main),
// live true. With --auto-save and a graph file that does not exist yet,
// the live view is saved there.
func loadMainGraph(cfg config) (g *graph.Graph, live bool, err error) {
	file := cfg.runtime.GraphFile
	if file == "" {
		return runtime.NewLiveGraph(), true, nil
	}
	g, err = loadGraphFile(file)
	if errors.Is(err, fs.ErrNotExist) && cfg.runtime.AutoSave {
		return graph.New(graphFileID(file)), true, nil
	}
	return g, false, err
}

// loadLibrary loads the component library (runtime.LoadLibrary) and
// checks the upload directory of --allow-setsource.
func loadLibrary(cfg config) (*library.Library, error) {
	// Foreign participant files (.yml) are registered by this binary.
	if exe, err := os.Executable(); err == nil {
		library.DefaultHandlers[".yml"] = exe + " register --role #ROLE:#FILENAME"
	}
	lib, err := runtime.LoadLibrary(cfg.libraryFile, cfg.componentDir)
	if err != nil {
		return nil, err
	}
	if cfg.runtime.AllowSetSource {
		if err := library.CheckUploadDir(cfg.componentDir, cfg.libraryFile, cfg.runtime.GraphFile); err != nil {
			return nil, fmt.Errorf("--allow-setsource: %w", err)
		}
	}
	return lib, nil
}

// openBroker opens --broker, or starts the embedded broker without one;
// note describes it for the ready line (no password).
func openBroker(ctx context.Context, cfg config, log zerolog.Logger) (b network.Broker, note string, err error) {
	if cfg.broker.url == "" {
		opts := cfg.broker.embedded
		opts.Logger = log.With().Str("component", "embedded-broker").Logger()
		srv, err := embedded.Start(ctx, opts)
		if err != nil {
			return nil, "", fmt.Errorf("start embedded broker: %w", err)
		}
		return closing{srv.Broker(), srv.Close}, fmt.Sprintf(" (embedded broker %s)", srv.URL()), nil
	}
	// On MQTT a persistent session, named after the runtime id (give
	// --runtime-id to keep it across restarts), carries the edges and
	// in-process participants through a broker outage.
	b, err = dial.Open(ctx, cfg.broker.url, dial.Options{
		ClientID:          "msgflo-runtime-" + cfg.runtime.ID,
		PersistentSession: true,
		QueueType:         cfg.broker.queueType,
		Logger:            log.With().Str("component", "broker").Logger(),
	})
	if err != nil {
		return nil, "", fmt.Errorf("connect to broker: %w", err)
	}
	return b, fmt.Sprintf(" (broker %s)", network.RedactURL(network.NodeInUse(b))), nil
}

// closing is a broker whose Close also runs after (the embedded broker's
// server, closed after its connection).
type closing struct {
	network.Broker
	after func() error
}

func (c closing) Close() error {
	err := c.Broker.Close()
	_ = c.after()
	return err
}

// newServer makes the runtime and the protocol server from the options
// the flags decided and the parts serve made.
func newServer(cfg config, broker network.Broker, lib *library.Library, live bool, address string, forwardTo io.Writer, log zerolog.Logger) (*runtime.Runtime, *protocol.Server, error) {
	protoLog := log.With().Str("component", "protocol").Logger()
	hub, err := protocol.NewHub(protocol.HubOptions{Logger: protoLog})
	if err != nil {
		return nil, nil, err
	}
	mets := metrics.New()
	ro := cfg.runtime
	ro.Metrics, ro.Broker, ro.Sink = mets, broker, hub
	ro.Components = participant.CoreComponents()
	ro.Library, ro.Namespace, ro.Repository = lib, lib.Config.Namespace, lib.Config.Repository
	ro.Supervisor = supervisor()
	ro.LiveGraph = live
	ro.ForwardTo = forwardTo
	ro.Logger = log.With().Str("component", "runtime").Logger()
	rt, err := runtime.New(ro)
	if err != nil {
		return nil, nil, err
	}
	po := cfg.protocol
	po.ExtraCapabilities = extraCapabilities(cfg)
	po.Address, po.Metrics, po.Logger = address, mets, protoLog
	srv, err := protocol.New(rt, hub, po)
	return rt, srv, err
}

// loadMain loads the main graph into the runtime and logs what the runtime
// says it does for each of its nodes (Runtime.NodeRuns).
func loadMain(cfg config, rt *runtime.Runtime, g *graph.Graph, live bool, log zerolog.Logger) {
	rt.LoadGraph(g, true, true)
	if runs, err := rt.NodeRuns(g.ID); err == nil {
		for _, n := range runs {
			log.Info().Str("node", n.Node).Str("component", n.Component).Msg(n.Run.Describe())
		}
	}
	switch file := cfg.runtime.GraphFile; {
	case file == "":
		// Nothing on stderr before the ready line without a graph file
		// (fbp-spec takes it for a failed start).
		log.Debug().Str("graph", g.ID).Msg("main graph: the participants discovered on the broker")
	case live:
		log.Info().Str("graph", g.ID).Str("file", file).Msg("main graph: the participants discovered on the broker, saved to the graph file")
	default:
		log.Info().Str("graph", g.ID).Str("file", file).Bool("auto_save", cfg.runtime.AutoSave).Msg("main graph loaded and started")
	}
}

// extraCapabilities offers network:persist when there is a file to persist
// to, and component:setsource when uploads are allowed (--allow-setsource).
func extraCapabilities(cfg config) []string {
	var out []string
	if cfg.runtime.GraphFile != "" {
		out = append(out, "network:persist")
	}
	if cfg.runtime.AllowSetSource && cfg.componentDir != "" {
		out = append(out, "component:setsource")
	}
	return out
}
