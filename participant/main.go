package participant

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/settings"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/dial"
)

// BrokerURL is the broker msgflo participants and tools use: the flag's
// value, else MSGFLO_BROKER, then CLOUDAMQP_URL (internal/settings), then
// amqp://localhost. It may be a comma-separated list, the nodes of a
// cluster (see dial.Open).
func BrokerURL(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := settings.FromEnv("broker", getenv); v != "" {
		return v
	}
	return "amqp://localhost"
}

// DiscoveryPeriodFromEnv reads MSGFLO_DISCOVERY_PERIOD (seconds), as
// msgflo-nodejs does; 0 when unset or invalid. The runtime's
// --discovery-period reads it the same way (settings.DiscoveryPeriod).
func DiscoveryPeriodFromEnv() time.Duration {
	return settings.DiscoveryPeriod(os.Getenv)
}

// PersistentMessagesEnv is the environment variable through which the
// runtime passes --persistent-messages to the participant processes it
// starts ("false": transient messages).
const PersistentMessagesEnv = settings.PersistentMessagesEnv

// QueueTypeEnv is the environment variable through which the runtime
// passes --queue-type to the participant processes it starts: "quorum"
// asks them to declare their durable inport queues as RabbitMQ quorum
// queues (x-queue-type), "classic" or unset as classic ones. Participants
// of other SDKs should do the same.
const QueueTypeEnv = settings.QueueTypeEnv

// QueueTypeFromEnv reads MSGFLO_QUEUE_TYPE ("" when unset); a value other
// than classic or quorum is an error.
func QueueTypeFromEnv(getenv func(string) string) (string, error) {
	v := getenv(QueueTypeEnv)
	if err := amqp.CheckQueueType(v); err != nil {
		return "", fmt.Errorf("%s: %w", QueueTypeEnv, err)
	}
	return v, nil
}

// PersistentMessagesFromEnv reads MSGFLO_PERSISTENT_MESSAGES: true unless
// it is a false value ("false", "0"); an unparsable value is an error.
func PersistentMessagesFromEnv(getenv func(string) string) (bool, error) {
	v := getenv(PersistentMessagesEnv)
	if v == "" {
		return true, nil
	}
	p, err := strconv.ParseBool(v)
	if err != nil {
		return true, fmt.Errorf("%s=%q: want true or false", PersistentMessagesEnv, v)
	}
	return p, nil
}

// Serve connects to brokerURL and runs c under role until ctx ends; then it
// stops gracefully (messages in process are finished and acknowledged) and
// disconnects. ready, when given, is called once the participant has
// announced itself, with the URL of the broker node in use (password
// redacted). brokerURL may list several nodes (see dial.Open).
func Serve(ctx context.Context, c Component, role, brokerURL string, opts Options, ready func(node string)) error {
	clientID, release := MQTTClientID(role)
	defer release()
	b, err := dial.Open(ctx, brokerURL, dial.Options{ClientID: clientID, PersistentSession: true, QueueType: opts.QueueType, Logger: opts.Logger})
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
	broker := fs.String("broker", "", "broker URL, or a comma-separated list for the nodes of a cluster (default amqp://localhost)")
	settings.Annotate(fs)
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
