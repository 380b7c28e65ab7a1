package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/dial"
	"github.com/msgflo/msgflo-runtime/participant"
)

// participantMain runs a built-in component as a participant process of
// its own: msgflo-runtime participant COMPONENT --role NAME.
func participantMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newToolFlags("participant", "[flags] COMPONENT\n\nRuns a built-in component as a participant process. Components: "+strings.Join(participant.CoreNames(), ", "), stderr)
	role := fs.String("role", "", "role of the participant (default: the component's name, lower-cased)")
	broker := fs.String("broker", "", "broker URL (env MSGFLO_BROKER, then CLOUDAMQP_URL; default amqp://localhost, as msgflo-nodejs)")
	prefetch := fs.Int("prefetch", 0, "messages in flight per inport (default 10)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error")
	positional, code, ok := fs.parse(args)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		fs.Usage()
		return 2
	}
	comp, ok := participant.LookupCore(positional[0])
	if !ok {
		fmt.Fprintf(stderr, "msgflo-runtime participant: unknown component %q (built in: %s)\n", positional[0], strings.Join(participant.CoreNames(), ", "))
		return 2
	}
	if *role == "" {
		*role = strings.ToLower(path.Base(comp.Name))
	}
	url := brokerURL(*broker, getenv)
	lvl, err := logLevelFrom(*logLevel, getenv("DEBUG"))
	if err != nil {
		fmt.Fprintf(stderr, "msgflo-runtime participant: %v\n", err)
		return 2
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true, TimeFormat: time.RFC3339}).Level(lvl).With().Timestamp().Str("role", *role).Logger()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b, err := dial.Open(ctx, url, dial.Options{ClientID: "msgflo-" + *role + "-" + uuid.New()[:8], Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "msgflo-runtime participant: %v\n", err)
		return 1
	}
	defer b.Close()
	p, err := participant.New(b, comp, *role, participant.Options{Prefetch: *prefetch, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "msgflo-runtime participant: %v\n", err)
		return 2
	}
	if err := p.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "msgflo-runtime participant: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s connected to %s\n", *role, redact(url))
	<-ctx.Done()
	log.Info().Msg("stopping: finishing the messages in process")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Stop(sctx); err != nil {
		log.Error().Err(err).Msg("stop")
		return 1
	}
	return 0
}
