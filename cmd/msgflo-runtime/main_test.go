package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// testParallel is how many parallel tests run at once by default.
const testParallel = 8

// binaryDir holds the binary runtimeBinary builds, removed by TestMain.
var binaryDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "msgflo-runtime-cmd")
	if err != nil {
		panic(err)
	}
	binaryDir = dir
	// Most of these tests wait on processes, sockets and brokers rather
	// than the CPU: run more at once than go test's default (GOMAXPROCS),
	// unless -parallel says otherwise.
	flag.Parse()
	parallelGiven := false
	flag.Visit(func(f *flag.Flag) { parallelGiven = parallelGiven || f.Name == "test.parallel" })
	if !parallelGiven {
		_ = flag.Set("test.parallel", strconv.Itoa(testParallel))
	}
	code := m.Run()
	brokertest.StopSharedCluster()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The runtime's binaries, each built on first use: with -race (most
// tests), and without (tests whose figures are the product's).
var (
	raceBinary  = sync.OnceValues(func() (string, error) { return buildRuntime("msgflo-runtime", "-race") })
	plainBinary = sync.OnceValues(func() (string, error) { return buildRuntime("msgflo-runtime-plain") })
)

// buildRuntime builds the runtime into binaryDir under name.
func buildRuntime(name string, flags ...string) (string, error) {
	path := filepath.Join(binaryDir, name)
	args := append(append([]string{"build"}, flags...), "-o", path, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %v\n%s", name, err, out)
	}
	return path, nil
}

// runtimeBinary returns the path of the msgflo-runtime binary (built with
// -race on first use), for tests that run it; under go test -short they
// are skipped (the fast tier runs no binary).
func runtimeBinary(t testing.TB) string {
	t.Helper()
	return binary(t, raceBinary)
}

// binary returns the path of a binary of the runtime, built on first use.
func binary(t testing.TB, built func() (string, error)) string {
	t.Helper()
	testenv.Needs(t, "the built binary")
	path, err := built()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// proc is a running msgflo-runtime.
type proc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

type lockedWriter struct{ p *proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// testSecret is the secret the tests' runtimes are started with: start
// adds --secret unless the test chose the authentication itself (--secret,
// --no-auth or MSGFLO_SECRET), and connectFBP and getruntime present it.
const testSecret = "test-secret"

// choosesAuth reports whether a test's command line or environment decides
// the runtime's authentication.
func choosesAuth(env, args []string) bool {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "secret" || name == "no-auth") {
			return true
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "MSGFLO_SECRET=") {
			return true
		}
	}
	return false
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startIn(t, "", env, args...)
}

// startIn starts the binary in the working directory dir.
func startIn(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	return startBinary(t, runtimeBinary(t), dir, env, args...)
}

// startBinary starts the runtime's binary bin in the working directory
// dir, with --secret testSecret unless the test chose the authentication.
func startBinary(t *testing.T, bin, dir string, env []string, args ...string) *proc {
	t.Helper()
	if !choosesAuth(env, args) {
		args = append([]string{"--secret", testSecret}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	cmd.Stderr = lockedWriter{p}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdout = bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("MSGFLO_TEST_DUMP") != "" {
			_ = cmd.Process.Signal(syscall.SIGQUIT) // goroutine dump into the log
			select {
			case err := <-p.done:
				p.done <- err
			case <-time.After(5 * time.Second):
			}
		}
		_ = cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Errorf("runtime %d not reaped 30 s after SIGKILL", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("runtime log:\n%s", p.stderrText())
		}
	})
	return p
}

var readyLine = regexp.MustCompile(`^msgflo-runtime ready on (wss?://\S+) \((embedded broker|broker) (\S+)\)\n$`)

// ready reads the first stdout line and returns the WebSocket address and
// the broker URL it names.
func (p *proc) ready(t *testing.T) (ws, broker string) {
	t.Helper()
	line, err := p.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v; stderr: %s", err, p.stderrText())
	}
	m := readyLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("ready line %q does not match %s", line, readyLine)
	}
	return m[1], m[3]
}

// flowhubLink reads the second stdout line, the Flowhub link.
func (p *proc) flowhubLink(t *testing.T) string {
	t.Helper()
	line, err := p.stdout.ReadString('\n')
	link, ok := strings.CutPrefix(strings.TrimSpace(line), "Open in Flowhub: ")
	if err != nil || !ok {
		t.Fatalf("second line %q (%v), want the Flowhub link", line, err)
	}
	return link
}

// getruntime asks the runtime at ws to describe itself, presenting
// testSecret.
func getruntime(t *testing.T, ws string) map[string]any {
	t.Helper()
	c := dialClient(t, ws, "")
	defer c.cl.Close()
	m := c.roundTrip(map[string]any{"protocol": "runtime", "command": "getruntime", "payload": map[string]any{}, "secret": testSecret})
	payload, _ := m["payload"].(map[string]any)
	if m["command"] != "runtime" {
		t.Fatalf("getruntime: %v", m)
	}
	return payload
}

func (p *proc) signalAndWait(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		if err != nil {
			t.Fatalf("exit after %s: %v; stderr: %s", sig, err, p.stderrText())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after %s", sig)
	}
}

// embeddedURL is the embedded broker's URL, with its generated credentials.
var embeddedURL = regexp.MustCompile(`^mqtt://msgflo:[0-9a-f]{32}@127\.0\.0\.1:\d+$`)

func TestStartsOnTheEmbeddedBrokerAndStopsOnSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := start(t, []string{"MSGFLO_BROKER=", "CLOUDAMQP_URL=", "MSGFLO_RUNTIME_ID=", "DEBUG="}, "--port", "0")
			ws, broker := p.ready(t)
			if !embeddedURL.MatchString(broker) {
				t.Fatalf("embedded broker URL %q", broker)
			}
			second, err := p.stdout.ReadString('\n')
			if err != nil || !strings.HasPrefix(second, "Open in Flowhub: https://app.flowhub.io/#runtime/endpoint?") {
				t.Fatalf("second line %q, %v", second, err)
			}
			rt := getruntime(t, ws)
			if rt["type"] != "msgflo" || rt["version"] != "0.8" || len(rt["id"].(string)) != 36 {
				t.Fatalf("runtime %v", rt)
			}
			p.signalAndWait(t, sig)
		})
	}
}

func TestEnvironmentAndFlags(t *testing.T) {
	t.Parallel()
	id := "4b3a1f34-6f05-4a5e-8f0b-1d3c3e9d2a10"
	p := start(t, []string{"MSGFLO_RUNTIME_ID=" + id, "DEBUG=msgflo*", "MSGFLO_BROKER="}, "--port", "0", "--label", "Test runtime", "--ide", "https://ide.example")
	ws, _ := p.ready(t)
	second, _ := p.stdout.ReadString('\n')
	if !strings.HasPrefix(second, "Open in Flowhub: https://ide.example/#runtime/endpoint?") || !strings.Contains(second, "id="+id) {
		t.Fatalf("live URL line %q", second)
	}
	rt := getruntime(t, ws)
	if rt["id"] != id || rt["label"] != "Test runtime" {
		t.Fatalf("runtime %v", rt)
	}
	// msgflo's front page: the Flowhub link in the element msgflo's tests look for.
	page := httpGet(t, strings.Replace(ws, "ws://", "http://", 1)+"/")
	link := regexp.MustCompile(`<a id="flowhub_url" href="([^"]+)"`).FindStringSubmatch(page)
	if link == nil || !strings.HasPrefix(html.UnescapeString(link[1]), "https://ide.example/#runtime/endpoint?") || !strings.Contains(link[1], id) {
		t.Fatalf("GET / has no flowhub_url link to this runtime: %s", page)
	}
	p.signalAndWait(t, syscall.SIGTERM)
	if !strings.Contains(p.stderrText(), "DBG") {
		t.Fatalf("DEBUG=msgflo* logged no debug lines: %s", p.stderrText())
	}
}

// fbp-spec and the compliance suite take anything on stderr before the
// first line on stdout as a failed start. With both streams on one pipe,
// the order is exact: the ready line must come first, even with debug logs.
func TestNothingOnStderrBeforeReady(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(runtimeBinary(t), "--port", "0")
	cmd.Env = append(os.Environ(), "DEBUG=msgflo*", "MSGFLO_BROKER=", "CLOUDAMQP_URL=")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || !readyLine.MatchString(line) {
		t.Fatalf("first output %q (%v), want the ready line", line, err)
	}
}

func TestMosquittoBroker(t *testing.T) {
	t.Parallel()
	url := brokertest.MosquittoURL(t)
	p := start(t, []string{"MSGFLO_BROKER=" + url}, "--port", "0")
	ws, broker := p.ready(t)
	if broker != url {
		t.Fatalf("ready line names broker %q, want %q", broker, url)
	}
	getruntime(t, ws)
	p.signalAndWait(t, syscall.SIGTERM)
}

func TestRabbitMQBroker(t *testing.T) {
	t.Parallel()
	url := brokertest.RabbitMQURL(t)
	p := start(t, []string{"MSGFLO_BROKER=" + url}, "--port", "0")
	ws, broker := p.ready(t)
	if u, _ := neturl.Parse(url); u != nil && u.User != nil && !strings.Contains(broker, "xxxxx") {
		t.Fatalf("ready line names broker %q; the password must be hidden", broker)
	}
	getruntime(t, ws)
	p.signalAndWait(t, syscall.SIGTERM)
}

func TestBadCommandLines(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  []string
		args []string
		want string
	}{
		"unknown flag":    {nil, []string{"--nope"}, "flag provided but not defined"},
		"bad port":        {nil, []string{"--port", "70000"}, "ports must be between"},
		"stray argument":  {nil, []string{"graph.fbp"}, "unexpected argument"},
		"bad log level":   {nil, []string{"--log-level", "loud"}, "--log-level"},
		"bad heartbeat":   {[]string{"MSGFLO_HEARTBEAT_EXPIRY=soon"}, nil, "heartbeat-expiry"},
		"caps sans auth":  {nil, []string{"--no-auth", "--anonymous-capabilities", "protocol:runtime"}, "means nothing with --no-auth"},
		"no-auth, secret": {nil, []string{"--no-auth", "--secret", "x"}, "contradict"},
		"amqp down":       {nil, []string{"--broker", "amqp://guest:secretpw@127.0.0.1:1/"}, "connect to broker"},
		"unknown scheme":  {[]string{"MSGFLO_BROKER=redis://x"}, nil, "unknown scheme"},
		"broker down":     {nil, []string{"--broker", "mqtt://127.0.0.1:1"}, "connect to broker"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, runtimeBinary(t), append([]string{"--port", "0"}, tc.args...)...)
			cmd.Env = append(os.Environ(), tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatalf("exited 0; stdout %q", stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), tc.want)
			}
			if strings.Contains(stderr.String(), "secretpw") {
				t.Fatalf("password printed: %q", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout %q", stdout.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(runtimeBinary(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, flag := range []string{"-host", "-port", "-broker", "-secret", "-runtime-id", "-ide", "-log-level", "MSGFLO_BROKER", "CLOUDAMQP_URL", "MSGFLO_SECRET", "MSGFLO_RUNTIME_ID"} {
		if !bytes.Contains(out, []byte(flag)) {
			t.Errorf("--help does not mention %s", flag)
		}
	}
}

func TestLogLevelFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flag, env string
		want      zerolog.Level
	}{
		{"", "", zerolog.InfoLevel},
		{"", "msgflo*", zerolog.DebugLevel},
		{"", "express,msgflo:runtime", zerolog.DebugLevel},
		{"", "*", zerolog.DebugLevel},
		{"", "noflo*", zerolog.InfoLevel},
		{"warn", "msgflo*", zerolog.WarnLevel},
		{"ERROR", "", zerolog.ErrorLevel},
	} {
		got, err := logLevelFrom(tc.flag, tc.env)
		if err != nil || got != tc.want {
			t.Errorf("logLevelFrom(%q, %q) = %v, %v; want %v", tc.flag, tc.env, got, err, tc.want)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MSGFLO_BROKER": "mqtt://a", "CLOUDAMQP_URL": "amqp://b", "MSGFLO_SECRET": "s"}
	c, err := parseConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil || c.broker.url != "mqtt://a" || c.protocol.Secret != "s" || c.listen.port != 3569 || c.listen.host != "localhost" {
		t.Fatalf("%+v %v", c, err)
	}
	delete(env, "MSGFLO_BROKER")
	c, _ = parseConfig(nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if c.broker.url != "amqp://b" {
		t.Fatalf("CLOUDAMQP_URL fallback: %q", c.broker.url)
	}
	c, _ = parseConfig([]string{"--broker", "mqtt://flag"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if c.broker.url != "mqtt://flag" {
		t.Fatalf("flag should win: %q", c.broker.url)
	}
}

// The README's example session, run as written against the binary.
// The runtime starts with a generated secret, and the session connects
// with the printed Flowhub link, as the README says.
func TestReadmeSession(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MSGFLO_BROKER=", "MSGFLO_SECRET="}, "--port", "0")
	p.ready(t)
	link := p.flowhubLink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "run", "../../examples/session", link).CombinedOutput()
	if err != nil {
		t.Fatalf("session: %v\n%s", err, out)
	}
	for _, want := range []string{
		`< {"protocol":"network","command":"started"`,
		`"id":"DATA -> IN repeat()"`,
		`"id":"repeat() OUT -> IN show()","src":{"node":"repeat","port":"out"},"tgt":{"node":"show","port":"in"},"graph":"hello","data":"Hello, world!"`,
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("session output lacks %s:\n%s", want, out)
		}
	}
	p.signalAndWait(t, syscall.SIGTERM)
	if !strings.Contains(p.stderrText(), `output component=runtime data="Hello, world!" role=show`) {
		t.Errorf("core/Output did not log the data:\n%s", p.stderrText())
	}
}

func TestConfigPersistentMessagesAndPprof(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		env       string
		transient bool
		bad       bool
	}{
		{nil, "", false, false},
		{[]string{"--persistent-messages=false"}, "", true, false},
		{[]string{"--persistent-messages", "false"}, "", true, false},
		{nil, "false", true, false},
		{[]string{"--persistent-messages=true"}, "false", false, false},
		{[]string{"--persistent-messages=maybe"}, "", false, true},
		{[]string{"--pprof", "127.0.0.1:0"}, "", false, false},
		{[]string{"--pprof", "localhost:6060"}, "", false, false},
		{[]string{"--pprof", "0.0.0.0:6060"}, "", false, true},
		{[]string{"--pprof", ":6060"}, "", false, true},
		{[]string{"--pprof", "192.168.1.2:6060"}, "", false, true},
	} {
		env := map[string]string{"MSGFLO_PERSISTENT_MESSAGES": tc.env}
		c, err := parseConfig(tc.args, func(k string) string { return env[k] }, &bytes.Buffer{})
		if (err != nil) != tc.bad || err == nil && c.runtime.TransientMessages != tc.transient {
			t.Errorf("%q with MSGFLO_PERSISTENT_MESSAGES=%q: transient %v, error %v", tc.args, tc.env, c.runtime.TransientMessages, err)
		}
	}
}

func TestConfigQueueType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  string
		want string // "" for an error
	}{
		{[]string{"--broker", "amqp://h"}, "", "classic"},
		{[]string{"--broker", "amqp://h", "--queue-type", "quorum"}, "", "quorum"},
		{[]string{"--broker", "amqp://h"}, "quorum", "quorum"},
		{[]string{"--broker", "amqp://h", "--queue-type", "classic"}, "quorum", "classic"},
		{[]string{"--broker", "amqp://h", "--queue-type", "mirrored"}, "", ""},
		{nil, "quorum", ""}, // the embedded broker has no queue types
	} {
		env := map[string]string{"MSGFLO_QUEUE_TYPE": tc.env}
		c, err := parseConfig(tc.args, func(k string) string { return env[k] }, &bytes.Buffer{})
		if (err == nil) != (tc.want != "") || err == nil && (c.broker.queueType != tc.want || c.runtime.QueueType != tc.want) {
			t.Errorf("%q with MSGFLO_QUEUE_TYPE=%q: queue type %q, error %v; want %q", tc.args, tc.env, c.broker.queueType, err, tc.want)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return string(body)
}
