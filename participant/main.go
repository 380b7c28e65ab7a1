package participant

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/dial"
)

// BrokerURL is the broker msgflo participants and tools use: the flag's
// value, else MSGFLO_BROKER, then CLOUDAMQP_URL, then amqp://localhost.
// It may be a comma-separated list, the nodes of a cluster (see dial.Open).
func BrokerURL(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	for _, k := range []string{"MSGFLO_BROKER", "CLOUDAMQP_URL"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return "amqp://localhost"
}

// MQTTClientID is the MQTT client id of a participant process with role:
// stable, so that after losing its connection (or being restarted) it
// finds its persistent session, and the messages queued for it, again.
// Two processes of one role on MQTT take the session from each other: run
// one per role (MQTT 3.1.1 has no shared subscriptions).
func MQTTClientID(role string) string { return "msgflo-" + role }

// Serve connects to brokerURL and runs c under role until ctx ends; then it
// stops gracefully (messages in process are finished and acknowledged) and
// disconnects. ready, when given, is called once the participant has
// announced itself, with the URL of the broker node in use (password
// redacted). brokerURL may list several nodes (see dial.Open).
func Serve(ctx context.Context, c Component, role, brokerURL string, opts Options, ready func(node string)) error {
	b, err := dial.Open(ctx, brokerURL, dial.Options{ClientID: MQTTClientID(role), PersistentSession: true, QueueType: opts.QueueType, Logger: opts.Logger})
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := New(b, c, role, opts)
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	if ready != nil {
		ready(network.RedactURL(network.NodeInUse(b)))
	}
	<-ctx.Done()
	opts.Logger.Info().Str("role", role).Msg("stopping: finishing the messages in process")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Stop(sctx)
}

// Main runs c as a participant program, as msgflo-nodejs runs a component
// file: flags --role (or --name, as msgflo-nodejs; default: the
// component's name, lower-cased) and --broker (default: see BrokerURL),
// until SIGINT or SIGTERM; MSGFLO_PERSISTENT_MESSAGES=false sends
// transient messages (see Options.TransientMessages), MSGFLO_QUEUE_TYPE
// sets the queue type (see QueueTypeEnv). It prints "ROLE connected to
// BROKER" (the node in use) once announced, and exits non-zero on failure.
//
//	func main() { participant.Main(myComponent) }
func Main(c Component) {
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	role := fs.String("role", strings.ToLower(path.Base(c.Name)), "role of this participant")
	fs.StringVar(role, "name", *role, "the same as --role (msgflo-nodejs's spelling)")
	broker := fs.String("broker", "", "broker URL, or a comma-separated list for the nodes of a cluster (default MSGFLO_BROKER, then CLOUDAMQP_URL, then amqp://localhost)")
	_ = fs.Parse(os.Args[1:])
	*broker = BrokerURL(*broker, os.Getenv)
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true, TimeFormat: time.RFC3339}).With().Timestamp().Logger()
	persistent, err := PersistentMessagesFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", *role, err)
		os.Exit(2)
	}
	queueType, err := QueueTypeFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", *role, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = Serve(ctx, c, *role, *broker, Options{Logger: log, TransientMessages: !persistent, QueueType: queueType}, func(node string) {
		fmt.Printf("%s connected to %s\n", *role, node)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", *role, err)
		stop()
		os.Exit(1)
	}
}

// Emit sends data on one of the participant's outports outside of message
// processing: what a source (a component without inports) does.
func (p *Participant) Emit(ctx context.Context, port string, data json.RawMessage) error {
	o := &output{p: p, ctx: ctx, transient: p.transient()}
	return o.Send(port, data)
}
