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

	"github.com/msgflo/msgflo-runtime/internal/settings"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/embedded"
	"github.com/msgflo/msgflo-runtime/protocol"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// config is everything the command line and the environment decide,
// grouped by the part it configures. runtime and protocol hold the fields
// the flags decide; serve adds the rest (broker, library, sink, logger).
type config struct {
	prog     string // the program's name: msgflo-runtime, or msgflo
	listen   listenConfig
	broker   brokerConfig
	runtime  runtime.Options
	protocol protocol.Options
	// noAuth: --no-auth, or an explicit empty --secret.
	noAuth       bool
	libraryFile  string
	componentDir string
	logLevel     zerolog.Level
	logJSON      bool
	ping         pingConfig
	pprof        string // --pprof: the profiler's loopback address, or ""
}

// listenConfig is the FBP protocol's listener (listen.go).
type listenConfig struct {
	host, listen    string
	tlsCert, tlsKey string
	port            int
}

// brokerConfig is the broker: url, or the embedded broker when empty.
type brokerConfig struct {
	url       string
	embedded  embedded.Options
	queueType string // --queue-type: classic or quorum
}

// pingConfig is the registry told that the runtime is alive (ping.go).
type pingConfig struct {
	url, method string
	interval    time.Duration
}

// textFlags are the flags whose text becomes a value once the command
// line and the environment are read (textFlags.apply).
type textFlags struct {
	logLevel, heartbeat, discovery, waitTimeout, forward  string
	persistent, pingInterval, anonymousCaps, allowOrigins string
	ignore                                                listFlag
}

// parseConfig reads the flags (msgflo's names), then the environment for
// the flags not given (internal/settings), then checks the whole.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	fs := flag.NewFlagSet("msgflo-runtime", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: msgflo-runtime [flags]\n\nAn FBP runtime (msgflo) serving the FBP protocol over WebSocket.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	c, text := defineFlags(fs)
	settings.Annotate(fs)
	if err := fs.Parse(msgfloBoolArgs(args, "auto-save", "persistent-messages", "no-auth")); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given, err := settings.Apply(fs, getenv)
	if err != nil {
		return config{}, err
	}
	steps := []func() error{
		func() error { return text.apply(c, getenv) },
		c.check,
		func() error { return c.decideAuth(given["secret"]) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return config{}, err
		}
	}
	return *c, nil
}

// defineFlags defines the runtime's flags on fs, into a config and the
// texts parsed after.
func defineFlags(fs *flag.FlagSet) (*config, *textFlags) {
	c, t := &config{}, &textFlags{}
	rt, pr := &c.runtime, &c.protocol
	fs.StringVar(&c.listen.host, "host", "localhost", "host name or address to serve the FBP protocol on, and to give clients in the printed address (a wildcard such as 0.0.0.0 listens on every interface and gives the machine's host name)")
	fs.StringVar(&c.listen.listen, "listen", "", "address to listen on when it differs from --host, e.g. --listen 0.0.0.0 --host runtime.example.com")
	fs.StringVar(&c.listen.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve wss:// (with --tls-key)")
	fs.StringVar(&c.listen.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.IntVar(&c.listen.port, "port", 3569, "port to serve the FBP protocol on (0 picks a free one)")
	fs.StringVar(&c.broker.url, "broker", "", "broker URL: amqp://user:password@host:port/vhost (RabbitMQ) or mqtt://host:port, or a comma-separated list of them for the nodes of a cluster (the first that answers is used, the next on a drop); empty runs the embedded broker")
	fs.StringVar(&c.broker.embedded.Host, "embedded-host", "127.0.0.1", "address the embedded broker's MQTT listener binds to")
	fs.IntVar(&c.broker.embedded.Port, "embedded-port", 0, "port of the embedded broker's MQTT listener (0 picks a free one, so it never collides with a system broker on 1883)")
	fs.StringVar(&pr.Secret, "secret", "", "secret clients must present for full access; default a random one, printed only in the Flowhub and status page links; an explicit empty value is --no-auth")
	fs.BoolVar(&c.noAuth, "no-auth", false, "no secret: every client that can connect gets full access (warned about at start)")
	fs.StringVar(&t.anonymousCaps, "anonymous-capabilities", "", "comma-separated capabilities for clients without the secret, e.g. protocol:runtime,graph:readonly (default none: getruntime only)")
	fs.StringVar(&rt.ID, "runtime-id", "", "runtime UUID reported to clients (default a fresh random UUID)")
	fs.StringVar(&rt.Label, "label", "msgflo-runtime", "human-readable runtime label reported to clients")
	fs.StringVar(&pr.IDE, "ide", "https://app.flowhub.io", "Flowhub URL; the live-mode link to this runtime is printed at start")
	fs.StringVar(&t.allowOrigins, "allow-origin", "", "comma-separated Origins (scheme://host[:port]) of web pages allowed to connect, replacing the default (the --ide origin and http(s) pages of localhost, 127.0.0.1, [::1]); * allows any but null; clients that send no Origin are always allowed")
	fs.IntVar(&pr.MaxConnections, "max-connections", protocol.DefaultMaxConnections, "WebSocket clients served at once; when all are taken, a new one closes the oldest that has not presented the secret, and is refused (HTTP 503) only when every one has")
	fs.Int64Var(&pr.ReadLimit, "max-message-size", protocol.DefaultReadLimit, "largest message (bytes) a client that presented the secret may send; larger ones close its connection (1009); before the secret the limit is 64 KiB")
	fs.StringVar(&t.logLevel, "log-level", "", "log level: debug, info, warn, error (default info; DEBUG=msgflo* selects debug)")
	fs.BoolVar(&c.logJSON, "log-json", false, "write logs as JSON lines instead of text")
	fs.StringVar(&t.heartbeat, "heartbeat-expiry", "600", "seconds without an announcement after which a participant is considered gone")
	fs.StringVar(&t.discovery, "discovery-period", "60", "discovery period in seconds of in-process participants; they announce every period/2.2")
	fs.StringVar(&rt.GraphFile, "graph", "", "graph file (.fbp or .json) to load and start as the main graph")
	fs.BoolVar(&rt.AutoSave, "auto-save", false, "write every change of the main graph back to the --graph file (as JSON)")
	fs.StringVar(&c.libraryFile, "library", runtime.DefaultLibraryFile, "component library: package.json (its \"msgflo\" key) or a JSON file with components, handlers, variables, namespace, repository")
	fs.StringVar(&c.componentDir, "componentdir", "participants", "directory of component files, started with the library's handlers (by extension)")
	fs.StringVar(&t.waitTimeout, "wait-timeout", "45", "seconds a started participant process has to announce itself")
	fs.StringVar(&t.forward, "forward", "stderr,stdout", "streams of participant processes to copy to the runtime's stderr, prefixed with the role")
	fs.StringVar(&t.persistent, "persistent-messages", "true", "false sends participants' messages transient and without publisher confirms (AMQP; MQTT keeps QoS 1), faster but lost if the broker fails; passed to participant processes as MSGFLO_PERSISTENT_MESSAGES")
	fs.StringVar(&c.broker.queueType, "queue-type", amqp.QueueTypeClassic, "RabbitMQ type of the durable queues declared (inports, discovery): classic, or quorum (replicated across a cluster's nodes); passed to participant processes as MSGFLO_QUEUE_TYPE")
	fs.BoolVar(&pr.MetricsPublic, "metrics-public", false, "serve GET /metrics (Prometheus) to anyone, without the secret")
	fs.StringVar(&c.pprof, "pprof", "", "serve Go's profiler (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060; off when empty")
	fs.IntVar(&rt.MaxPendingBytes, "max-pending-bytes", runtime.DefaultMaxPendingBytes, "bytes of packets that may wait to be sent per graph (initial packets, runtime:packet); beyond it packets are refused with an error")
	fs.BoolVar(&rt.AllowSetSource, "allow-setsource", false, "let clients with full access write component files into --componentdir (component:source): code the runtime then runs")
	fs.StringVar(&c.ping.url, "ping-url", "https://api.flowhub.io/runtimes/$RUNTIME_ID", "URL to tell periodically that this runtime is alive, $RUNTIME_ID replaced by the runtime id")
	fs.StringVar(&c.ping.method, "ping-method", "POST", "HTTP method of the ping; POST and PUT carry the runtime's description as JSON")
	fs.StringVar(&t.pingInterval, "ping-interval", "0", "seconds between pings of --ping-url; 0 never pings")
	fs.Var(&t.ignore, "ignore", "node (by id or role) not to start a participant for (repeat the flag or separate with commas)")
	return c, t
}

// apply turns the texts into c's values.
func (t *textFlags) apply(c *config, getenv func(string) string) error {
	rt := &c.runtime
	var err error
	if c.logLevel, err = logLevelFrom(t.logLevel, getenv(settings.DebugEnv)); err != nil {
		return err
	}
	for _, d := range []struct {
		name, text string
		to         *time.Duration
		zeroIsOff  bool
	}{
		{"heartbeat-expiry", t.heartbeat, &rt.HeartbeatExpiry, false},
		{"discovery-period", t.discovery, &rt.DiscoveryPeriod, false},
		{"wait-timeout", t.waitTimeout, &rt.WaitTimeout, false},
		{"ping-interval", t.pingInterval, &c.ping.interval, true},
	} {
		if *d.to, err = seconds(d.name, d.text); err != nil && !(d.zeroIsOff && isZero(d.text)) {
			return err
		}
	}
	p, err := strconv.ParseBool(t.persistent)
	if err != nil {
		return fmt.Errorf("--persistent-messages: %q is not true or false", t.persistent)
	}
	rt.TransientMessages = !p
	rt.Forward = splitList(t.forward)
	rt.Ignore = t.ignore
	c.protocol.AnonymousCapabilities = splitList(t.anonymousCaps)
	c.protocol.AllowedOrigins = splitList(t.allowOrigins)
	if rt.ID == "" {
		rt.ID = uuid.New()
	}
	rt.QueueType = c.broker.queueType
	c.ping.method = strings.ToUpper(c.ping.method)
	return nil
}

// check refuses what the values cannot mean together.
func (c *config) check() error {
	l, rt, pr := c.listen, c.runtime, c.protocol
	u, perr := neturl.Parse(c.ping.url)
	for _, bad := range []struct {
		when bool
		err  string
	}{
		{l.port < 0 || l.port > 65535 || c.broker.embedded.Port < 0 || c.broker.embedded.Port > 65535, "ports must be between 0 and 65535"},
		{(l.tlsCert == "") != (l.tlsKey == ""), "--tls-cert and --tls-key go together"},
		{pr.MaxConnections < 1, "--max-connections must be at least 1"},
		{pr.ReadLimit < protocol.DefaultAnonymousReadLimit, fmt.Sprintf("--max-message-size must be at least %d bytes", protocol.DefaultAnonymousReadLimit)},
		{c.broker.queueType == amqp.QueueTypeQuorum && c.broker.url == "", "--queue-type quorum needs a RabbitMQ --broker (amqp://)"},
		{rt.MaxPendingBytes <= 0, fmt.Sprintf("--max-pending-bytes: %d is not a positive number of bytes", rt.MaxPendingBytes)},
		{c.ping.method == "" || strings.Trim(c.ping.method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "", fmt.Sprintf("--ping-method: %q is not an HTTP method", c.ping.method)},
		{c.ping.interval > 0 && (perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == ""), fmt.Sprintf("--ping-url: %q is not an http or https URL", c.ping.url)},
		{rt.AutoSave && rt.GraphFile == "", "--auto-save needs --graph"},
	} {
		if bad.when {
			return errors.New(bad.err)
		}
	}
	if err := amqp.CheckQueueType(c.broker.queueType); err != nil {
		return fmt.Errorf("--queue-type: %w", err)
	}
	if c.pprof != "" {
		if err := loopbackAddress(c.pprof); err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
	}
	for _, f := range rt.Forward {
		if f != "stdout" && f != "stderr" {
			return fmt.Errorf("--forward: %q is not stdout or stderr", f)
		}
	}
	return nil
}

// decideAuth settles the secret: --no-auth or an explicit empty --secret
// means none; otherwise the one given (flag or MSGFLO_SECRET), else a
// random one.
func (c *config) decideAuth(secretGiven bool) error {
	pr := &c.protocol
	var err error
	switch {
	case c.noAuth && pr.Secret != "" && secretGiven:
		return errors.New("--no-auth and --secret contradict each other")
	case c.noAuth || (secretGiven && pr.Secret == ""):
		c.noAuth, pr.Secret = true, ""
	case pr.Secret == "":
		if pr.Secret, err = randomSecret(); err != nil {
			return err
		}
	}
	if len(pr.AnonymousCapabilities) > 0 && c.noAuth {
		return errors.New("--anonymous-capabilities means nothing with --no-auth (everyone gets everything)")
	}
	return nil
}

// randomSecret is a fresh 128-bit secret, as hex.
func randomSecret() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate a secret: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// seconds parses the value of flag --name (settings.Seconds).
func seconds(name, v string) (time.Duration, error) {
	d, err := settings.Seconds(v)
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	return d, nil
}

// isZero says v is the number 0 (a period that means "off").
func isZero(v string) bool {
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && f == 0
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
	if !isLoopbackHost(host) {
		return fmt.Errorf("%q is not a loopback address (use 127.0.0.1:PORT)", addr)
	}
	return nil
}

// isLoopbackHost says host names this machine's loopback interface:
// localhost or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}
