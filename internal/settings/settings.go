// Package settings is the one table of the settings msgflo programs take
// from the command line or, when a flag is not given, from the
// environment: the runtime, its tools (setup, send, dump, register,
// participant, status, trace) and participant.Main share it.
//
// Flags take no default from the environment. A program defines its
// flags with fixed defaults (empty for the table's flags that have
// variables), parses the command line, then calls Apply, which sets each
// flag the command line did not give from its variables. So --help and
// usage errors print neither the secret nor a broker URL's password, and
// the variables are named in the help text (Annotate) from this table.
package settings

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The environment variables msgflo programs read.
const (
	// BrokerEnv is the broker URL (or a comma-separated list of a
	// cluster's nodes), msgflo's; CloudAMQPEnv is Heroku's, read after it.
	BrokerEnv    = "MSGFLO_BROKER"
	CloudAMQPEnv = "CLOUDAMQP_URL"
	// SecretEnv is the runtime's secret (and the secret the tools present).
	SecretEnv          = "MSGFLO_SECRET"
	RuntimeIDEnv       = "MSGFLO_RUNTIME_ID"
	HeartbeatExpiryEnv = "MSGFLO_HEARTBEAT_EXPIRY"
	// DiscoveryPeriodEnv is the discovery period in seconds, as
	// msgflo-nodejs reads it (see DiscoveryPeriod).
	DiscoveryPeriodEnv = "MSGFLO_DISCOVERY_PERIOD"
	// PersistentMessagesEnv is how the runtime passes
	// --persistent-messages to the participant processes it starts
	// ("false": transient messages).
	PersistentMessagesEnv = "MSGFLO_PERSISTENT_MESSAGES"
	// QueueTypeEnv is how the runtime passes --queue-type to the
	// participant processes it starts: "quorum" asks them to declare their
	// durable inport queues as RabbitMQ quorum queues (x-queue-type),
	// "classic" or unset as classic ones.
	QueueTypeEnv    = "MSGFLO_QUEUE_TYPE"
	PingURLEnv      = "MSGFLO_PING_URL"
	PingMethodEnv   = "MSGFLO_PING_METHOD"
	PingIntervalEnv = "MSGFLO_PING_INTERVAL"
	// DebugEnv is the debug module's DEBUG, as msgflo's users know it:
	// DEBUG=msgflo* (or *) logs at the debug level (no flag of its own:
	// --log-level, when given, wins).
	DebugEnv = "DEBUG"
)

// Setting is a row of the table: a flag, and the variables that give it
// its value when the command line does not.
type Setting struct {
	// Flag is the flag's name, without dashes.
	Flag string
	// Env are the variables, the first with a non-empty value winning.
	Env []string
	// Secret says the value gives full control of the runtime: it is
	// never a default, never printed, and never passed on to participant
	// processes (runtime/procs).
	Secret bool
}

// Table is the table.
var Table = []Setting{
	{Flag: "broker", Env: []string{BrokerEnv, CloudAMQPEnv}},
	{Flag: "secret", Env: []string{SecretEnv}, Secret: true},
	{Flag: "runtime-id", Env: []string{RuntimeIDEnv}},
	{Flag: "heartbeat-expiry", Env: []string{HeartbeatExpiryEnv}},
	{Flag: "discovery-period", Env: []string{DiscoveryPeriodEnv}},
	{Flag: "persistent-messages", Env: []string{PersistentMessagesEnv}},
	{Flag: "queue-type", Env: []string{QueueTypeEnv}},
	{Flag: "ping-url", Env: []string{PingURLEnv}},
	{Flag: "ping-method", Env: []string{PingMethodEnv}},
	{Flag: "ping-interval", Env: []string{PingIntervalEnv}},
}

// Lookup is the row of flag name.
func Lookup(name string) (Setting, bool) {
	for _, s := range Table {
		if s.Flag == name {
			return s, true
		}
	}
	return Setting{}, false
}

// FromEnv is the value the environment gives flag name: its first
// variable with a non-empty value ("" when none has one, or the flag is
// not in the table). For programs without a flag set.
func FromEnv(name string, getenv func(string) string) string {
	s, _ := Lookup(name)
	for _, k := range s.Env {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// SecretVariables are the variables of the Secret settings.
func SecretVariables() []string {
	var out []string
	for _, s := range Table {
		if s.Secret {
			out = append(out, s.Env...)
		}
	}
	return out
}

// Annotate adds to the help text of each flag of fs that the table knows
// the variables it is read from, e.g. " (env MSGFLO_BROKER, then
// CLOUDAMQP_URL)". Call it once, after defining the flags.
func Annotate(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if s, ok := Lookup(f.Name); ok && len(s.Env) > 0 {
			f.Usage += " (env " + strings.Join(s.Env, ", then ") + ")"
		}
	})
}

// Apply sets each flag of fs that the table knows and the command line
// did not give (flag.FlagSet.Visit) from the environment (FromEnv). Call it
// after fs.Parse. It returns the names of the flags the command line gave.
// A value a flag refuses is an error naming the variable, never the value
// of a Secret setting.
func Apply(fs *flag.FlagSet, getenv func(string) string) (given map[string]bool, err error) {
	given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range Table {
		if given[s.Flag] || fs.Lookup(s.Flag) == nil {
			continue
		}
		for _, k := range s.Env {
			v := getenv(k)
			if v == "" {
				continue
			}
			if err := fs.Set(s.Flag, v); err != nil {
				if s.Secret {
					return given, fmt.Errorf("%s: invalid value", k)
				}
				return given, fmt.Errorf("%s=%q: %w", k, v, err)
			}
			break
		}
	}
	return given, nil
}

// Seconds parses a positive number of seconds ("60", "0.5"): the one
// parser of the settings given in seconds.
func Seconds(v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0 && f <= float64(1<<62)/float64(time.Second)) {
		return 0, fmt.Errorf("%q is not a positive number of seconds", v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// DiscoveryPeriod is MSGFLO_DISCOVERY_PERIOD (seconds): 0 when unset or
// not a positive number.
func DiscoveryPeriod(getenv func(string) string) time.Duration {
	d, err := Seconds(getenv(DiscoveryPeriodEnv))
	if err != nil {
		return 0
	}
	return d
}
