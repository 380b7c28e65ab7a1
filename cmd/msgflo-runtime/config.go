package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/protocol"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// config is everything the command line and environment decide.
type config struct {
	prog          string // the program's name: msgflo-runtime, or msgflo
	host          string
	listen        string
	tlsCert       string
	tlsKey        string
	port          int
	broker        string
	embeddedHost  string
	embeddedPort  int
	secret        string
	noAuth        bool
	anonymousCaps string
	runtimeID     string
	label         string
	ide           string
	allowOrigins  string
	maxConns      int
	maxMessage    int64
	logLevel      zerolog.Level
	logJSON       bool
	heartbeat     time.Duration
	discovery     time.Duration
	graphFile     string
	autoSave      bool
	ignore        listFlag
	libraryFile   string
	componentDir  string
	waitTimeout   time.Duration
	forward       []string
	// transient: --persistent-messages=false.
	transient bool
	queueType string // --queue-type: classic or quorum
	pprof     string
	// metricsPublic serves GET /metrics without the secret.
	metricsPublic bool
	maxPending    int
	// allowSetsource lets clients upload component code (component:source).
	allowSetsource bool
	pingURL        string
	pingMethod     string
	pingInterval   time.Duration
}

// parseConfig reads flags (msgflo's names) with environment fallbacks.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("msgflo-runtime", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: msgflo-runtime [flags]\n\nAn FBP runtime (msgflo) serving the FBP protocol over WebSocket.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	envOr := func(def string, keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return def
	}
	fs.StringVar(&c.host, "host", "localhost", "host name or address to serve the FBP protocol on, and to give clients in the printed address (a wildcard such as 0.0.0.0 listens on every interface and gives the machine's host name)")
	fs.StringVar(&c.listen, "listen", "", "address to listen on when it differs from --host, e.g. --listen 0.0.0.0 --host runtime.example.com")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve wss:// (with --tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.IntVar(&c.port, "port", 3569, "port to serve the FBP protocol on (0 picks a free one)")
	fs.StringVar(&c.broker, "broker", envOr("", "MSGFLO_BROKER", "CLOUDAMQP_URL"), "broker URL: amqp://user:password@host:port/vhost (RabbitMQ) or mqtt://host:port, or a comma-separated list of them for the nodes of a cluster (the first that answers is used, the next on a drop); empty runs the embedded broker (env MSGFLO_BROKER, then CLOUDAMQP_URL)")
	fs.StringVar(&c.embeddedHost, "embedded-host", "127.0.0.1", "address the embedded broker's MQTT listener binds to")
	fs.IntVar(&c.embeddedPort, "embedded-port", 0, "port of the embedded broker's MQTT listener (0 picks a free one, so it never collides with a system broker on 1883)")
	fs.StringVar(&c.secret, "secret", envOr("", "MSGFLO_SECRET"), "secret clients must present for full access (env MSGFLO_SECRET); default a random one, printed only in the Flowhub and status page links; an explicit empty value is --no-auth")
	fs.BoolVar(&c.noAuth, "no-auth", false, "no secret: every client that can connect gets full access (warned about at start)")
	fs.StringVar(&c.anonymousCaps, "anonymous-capabilities", "", "comma-separated capabilities for clients without the secret, e.g. protocol:runtime,graph:readonly (default none: getruntime only)")
	fs.StringVar(&c.runtimeID, "runtime-id", envOr("", "MSGFLO_RUNTIME_ID"), "runtime UUID reported to clients (env MSGFLO_RUNTIME_ID; default a fresh random UUID)")
	fs.StringVar(&c.label, "label", "msgflo-runtime", "human-readable runtime label reported to clients")
	fs.StringVar(&c.ide, "ide", "https://app.flowhub.io", "Flowhub URL; the live-mode link to this runtime is printed at start")
	fs.StringVar(&c.allowOrigins, "allow-origin", "", "comma-separated Origins (scheme://host[:port]) of web pages allowed to connect, replacing the default (the --ide origin and http(s) pages of localhost, 127.0.0.1, [::1]); * allows any but null; clients that send no Origin are always allowed")
	fs.IntVar(&c.maxConns, "max-connections", protocol.DefaultMaxConnections, "WebSocket clients served at once; more are refused with HTTP 503")
	fs.Int64Var(&c.maxMessage, "max-message-size", protocol.DefaultReadLimit, "largest message (bytes) a client that presented the secret may send; larger ones close its connection (1009); before the secret the limit is 64 KiB")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (default info; DEBUG=msgflo* selects debug)")
	fs.BoolVar(&c.logJSON, "log-json", false, "write logs as JSON lines instead of text")
	heartbeat := fs.String("heartbeat-expiry", envOr("600", "MSGFLO_HEARTBEAT_EXPIRY"), "seconds without an announcement after which a participant is considered gone (env MSGFLO_HEARTBEAT_EXPIRY)")
	discovery := fs.String("discovery-period", envOr("60", "MSGFLO_DISCOVERY_PERIOD"), "discovery period in seconds of in-process participants; they announce every period/2.2 (env MSGFLO_DISCOVERY_PERIOD)")
	fs.StringVar(&c.graphFile, "graph", "", "graph file (.fbp or .json) to load and start as the main graph")
	fs.BoolVar(&c.autoSave, "auto-save", false, "write every change of the main graph back to the --graph file (as JSON)")
	fs.StringVar(&c.libraryFile, "library", "package.json", "component library: package.json (its \"msgflo\" key) or a JSON file with components, handlers, variables, namespace, repository")
	fs.StringVar(&c.componentDir, "componentdir", "participants", "directory of component files, started with the library's handlers (by extension)")
	waitTimeout := fs.String("wait-timeout", "45", "seconds a started participant process has to announce itself")
	forward := fs.String("forward", "stderr,stdout", "streams of participant processes to copy to the runtime's stderr, prefixed with the role")
	persistent := fs.String("persistent-messages", envOr("true", "MSGFLO_PERSISTENT_MESSAGES"), "false sends participants' messages transient and without publisher confirms (AMQP; MQTT keeps QoS 1), faster but lost if the broker fails; passed to participant processes as MSGFLO_PERSISTENT_MESSAGES (env MSGFLO_PERSISTENT_MESSAGES)")
	fs.StringVar(&c.queueType, "queue-type", envOr("classic", "MSGFLO_QUEUE_TYPE"), "RabbitMQ type of the durable queues declared (inports, discovery): classic, or quorum (replicated across a cluster's nodes); passed to participant processes as MSGFLO_QUEUE_TYPE (env MSGFLO_QUEUE_TYPE)")
	fs.BoolVar(&c.metricsPublic, "metrics-public", false, "serve GET /metrics (Prometheus) to anyone, without the secret")
	fs.StringVar(&c.pprof, "pprof", "", "serve Go's profiler (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060; off when empty")
	fs.IntVar(&c.maxPending, "max-pending-bytes", runtime.DefaultMaxPendingBytes, "bytes of packets that may wait to be sent per graph (initial packets, runtime:packet); beyond it packets are refused with an error")
	fs.BoolVar(&c.allowSetsource, "allow-setsource", false, "let clients with full access write component files into --componentdir (component:source): code the runtime then runs")
	fs.StringVar(&c.pingURL, "ping-url", envOr("https://api.flowhub.io/runtimes/$RUNTIME_ID", "MSGFLO_PING_URL"), "URL to tell periodically that this runtime is alive, $RUNTIME_ID replaced by the runtime id (env MSGFLO_PING_URL)")
	fs.StringVar(&c.pingMethod, "ping-method", envOr("POST", "MSGFLO_PING_METHOD"), "HTTP method of the ping; POST and PUT carry the runtime's description as JSON (env MSGFLO_PING_METHOD)")
	pingInterval := fs.String("ping-interval", envOr("0", "MSGFLO_PING_INTERVAL"), "seconds between pings of --ping-url; 0 never pings (env MSGFLO_PING_INTERVAL)")
	fs.Var(&c.ignore, "ignore", "role not to start a participant for (repeat the flag or separate with commas)")
	if err := fs.Parse(msgfloBoolArgs(args, "auto-save", "persistent-messages", "no-auth")); err != nil {
		return config{}, err
	}
	secretGiven := false
	fs.Visit(func(f *flag.Flag) { secretGiven = secretGiven || f.Name == "secret" })
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.port < 0 || c.port > 65535 || c.embeddedPort < 0 || c.embeddedPort > 65535 {
		return config{}, errors.New("ports must be between 0 and 65535")
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return config{}, errors.New("--tls-cert and --tls-key go together")
	}
	if c.maxConns < 1 {
		return config{}, errors.New("--max-connections must be at least 1")
	}
	if c.maxMessage < protocol.DefaultAnonymousReadLimit {
		return config{}, fmt.Errorf("--max-message-size must be at least %d bytes", protocol.DefaultAnonymousReadLimit)
	}
	var err error
	if c.logLevel, err = logLevelFrom(*logLevel, getenv("DEBUG")); err != nil {
		return config{}, err
	}
	if c.heartbeat, err = seconds("heartbeat-expiry", *heartbeat); err != nil {
		return config{}, err
	}
	if c.discovery, err = seconds("discovery-period", *discovery); err != nil {
		return config{}, err
	}
	if c.runtimeID == "" {
		c.runtimeID = uuid.New()
	}
	if c.waitTimeout, err = seconds("wait-timeout", *waitTimeout); err != nil {
		return config{}, err
	}
	switch p, err := strconv.ParseBool(*persistent); {
	case err != nil:
		return config{}, fmt.Errorf("--persistent-messages: %q is not true or false", *persistent)
	default:
		c.transient = !p
	}
	if err := amqp.CheckQueueType(c.queueType); err != nil {
		return config{}, fmt.Errorf("--queue-type: %w", err)
	}
	if c.queueType == amqp.QueueTypeQuorum && c.broker == "" {
		return config{}, errors.New("--queue-type quorum needs a RabbitMQ --broker (amqp://)")
	}
	if c.pprof != "" {
		if err := loopbackAddress(c.pprof); err != nil {
			return config{}, fmt.Errorf("--pprof: %w", err)
		}
	}
	if c.maxPending <= 0 {
		return config{}, fmt.Errorf("--max-pending-bytes: %d is not a positive number of bytes", c.maxPending)
	}
	if c.pingInterval, err = secondsOrZero("ping-interval", *pingInterval); err != nil {
		return config{}, err
	}
	c.pingMethod = strings.ToUpper(c.pingMethod)
	if c.pingMethod == "" || strings.Trim(c.pingMethod, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return config{}, fmt.Errorf("--ping-method: %q is not an HTTP method", c.pingMethod)
	}
	if u, perr := neturl.Parse(c.pingURL); c.pingInterval > 0 && (perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return config{}, fmt.Errorf("--ping-url: %q is not an http or https URL", c.pingURL)
	}
	c.forward = splitList(*forward)
	for _, f := range c.forward {
		if f != "stdout" && f != "stderr" {
			return config{}, fmt.Errorf("--forward: %q is not stdout or stderr", f)
		}
	}
	if c.autoSave && c.graphFile == "" {
		return config{}, errors.New("--auto-save needs --graph")
	}
	switch {
	case c.noAuth && c.secret != "" && secretGiven:
		return config{}, errors.New("--no-auth and --secret contradict each other")
	case c.noAuth || (secretGiven && c.secret == ""):
		c.noAuth, c.secret = true, ""
	case c.secret == "":
		if c.secret, err = randomSecret(); err != nil {
			return config{}, err
		}
	}
	if c.anonymousCaps != "" && c.noAuth {
		return config{}, errors.New("--anonymous-capabilities means nothing with --no-auth (everyone gets everything)")
	}
	return c, nil
}

// randomSecret is a fresh 128-bit secret, as hex.
func randomSecret() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate a secret: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func seconds(name, v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("--%s: %q is not a positive number of seconds", name, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// secondsOrZero is seconds where 0 means "off".
func secondsOrZero(name, v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil && f == 0 {
		return 0, nil
	}
	return seconds(name, v)
}

// logLevelFrom picks the log level: the flag wins; otherwise DEBUG as msgflo
// users know it (DEBUG=msgflo* or DEBUG=* means debug).
func logLevelFrom(flagValue, debugEnv string) (zerolog.Level, error) {
	if flagValue != "" {
		lvl, err := zerolog.ParseLevel(strings.ToLower(flagValue))
		if err != nil || lvl == zerolog.NoLevel {
			return zerolog.InfoLevel, fmt.Errorf("--log-level: unknown level %q (use debug, info, warn or error)", flagValue)
		}
		return lvl, nil
	}
	for _, pattern := range strings.FieldsFunc(debugEnv, func(r rune) bool { return r == ',' || r == ' ' }) {
		if pattern == "*" || strings.HasPrefix(pattern, "msgflo") {
			return zerolog.DebugLevel, nil
		}
	}
	return zerolog.InfoLevel, nil
}

// msgfloBoolArgs accepts msgflo's "--auto-save true" spelling of boolean
// flags (Go's flag package wants --auto-save=true).
func msgfloBoolArgs(args []string, names ...string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && slices.Contains(names, name) && i+1 < len(args) &&
			(args[i+1] == "true" || args[i+1] == "false") {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// loopbackAddress checks that addr is host:port with a loopback host: the
// profiler shows the process's internals and must not be reachable from
// other machines.
func loopbackAddress(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (use 127.0.0.1:PORT)", addr)
	}
	return nil
}
