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

	"github.com/msgflo/msgflo-runtime/internal/settings"
	"github.com/msgflo/msgflo-runtime/participant"
)

// participantMain runs a built-in component as a participant process of
// its own: msgflo-runtime participant COMPONENT --role NAME.
func participantMain(prog string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newToolFlags(prog, "[flags] COMPONENT\n\nRuns a built-in component as a participant process. Components: "+strings.Join(participant.CoreNames(), ", "), getenv, stderr)
	role := fs.String("role", "", "role of the participant (default: the component's name, lower-cased)")
	fs.StringVar(role, "name", "", "the same as --role (msgflo-nodejs's spelling)")
	fs.brokerFlag()
	prefetch := fs.Int("prefetch", 0, fmt.Sprintf("messages in flight per inport (default %d)", participant.DefaultPrefetch))
	persistentFlag := fs.String("persistent-messages", "", "false sends transient messages without publisher confirms (AMQP) (default true)")
	queueTypeFlag := fs.String("queue-type", "", "RabbitMQ type of the inport queues: classic or quorum (default classic)")
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
		fmt.Fprintf(stderr, "%s: unknown component %q (built in: %s)\n", prog, positional[0], strings.Join(participant.CoreNames(), ", "))
		return 2
	}
	if *role == "" {
		*role = strings.ToLower(path.Base(comp.Name))
	}
	url := fs.brokerURL()
	lvl, err := logLevelFrom(*logLevel, getenv(settings.DebugEnv))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true, TimeFormat: time.RFC3339}).Level(lvl).With().Timestamp().Str("role", *role).Logger()
	persistent, err := participant.PersistentMessagesFromEnv(only(participant.PersistentMessagesEnv, *persistentFlag))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	queueType, err := participant.QueueTypeFromEnv(only(participant.QueueTypeEnv, *queueTypeFlag))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = participant.Serve(ctx, comp, *role, url, participant.Options{Prefetch: *prefetch, TransientMessages: !persistent, QueueType: queueType, Logger: log}, func(node string) {
		fmt.Fprintf(stdout, "%s connected to %s\n", *role, node)
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	return 0
}

// only is an environment with one variable, key=value: a flag's value
// (its variable applied when not given) read by a function of the
// environment.
func only(key, value string) func(string) string {
	return func(k string) string {
		if k == key {
			return value
		}
		return ""
	}
}
