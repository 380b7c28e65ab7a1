package brokertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
)

// A private RabbitMQ cluster for tests: three nodes on this machine,
// beside the shared broker (rabbit@localhost on 5672) and never touching
// it. Each node has its own name (msgflo-test-N@localhost), AMQP port
// (5681–5683, loopback only), distribution port (25681–25683), config,
// data, log and plugins files in a temporary directory, and a HOME of
// that directory for the Erlang cookie the nodes and rabbitmqctl share.

// Cluster layout.
const (
	clusterNodes    = 3
	clusterAMQPBase = 5681  // node i listens on clusterAMQPBase+i
	clusterDistBase = 25681 // and distributes on clusterDistBase+i
	// clusterStartTimeout bounds a node's start (about 30 s here) and
	// the joining of the cluster.
	clusterStartTimeout = 3 * time.Minute
	// ctlTimeout bounds one rabbitmqctl command.
	ctlTimeout = 2 * time.Minute
)

// clusterLockFile serialises the test clusters of the test binaries
// running at once (go test runs packages in parallel): they would share
// node names and ports.
var clusterLockFile = filepath.Join(os.TempDir(), "msgflo-test-cluster.lock")

// clusterLockTimeout bounds the wait for another binary's cluster.
const clusterLockTimeout = 15 * time.Minute

// Cluster is a running private RabbitMQ cluster.
type Cluster struct {
	lock  *os.File // held (flock) while the cluster runs
	dir   string
	env   []string
	nodes []*ClusterNode
}

// ClusterNode is one node of a Cluster.
type ClusterNode struct {
	Name string // the Erlang node name, msgflo-test-N@localhost
	URL  string // amqp://guest:guest@127.0.0.1:PORT/
	conf string // its rabbitmq.conf, in its own directory
	env  []string
	cmd  *exec.Cmd
	done chan struct{} // closed when the rabbitmq-server process exited
	log  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	sharedMu      sync.Mutex
	sharedCluster *Cluster
	sharedErr     error
)

// SharedCluster starts the test binary's private cluster on first use and
// returns it; the test is skipped (failed under EnvRequire) when
// rabbitmq-server is not installed, and under -short. StopSharedCluster,
// from TestMain, stops and removes it.
func SharedCluster(t testing.TB) *Cluster {
	t.Helper()
	testenv.Needs(t, "the private RabbitMQ cluster")
	if rabbitmqScript("rabbitmq-server") == "" || rabbitmqScript("rabbitmqctl") == "" {
		SkipOrFail(t, "rabbitmq-server is not installed: the RabbitMQ cluster tests need it")
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedCluster == nil && sharedErr == nil {
		sharedCluster, sharedErr = StartCluster()
	}
	if sharedErr != nil {
		t.Fatalf("start the RabbitMQ test cluster: %v", sharedErr)
	}
	return sharedCluster
}

// StopSharedCluster stops and removes the cluster SharedCluster started,
// if any.
func StopSharedCluster() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedCluster != nil {
		sharedCluster.Close()
		sharedCluster = nil
	}
}

// StartCluster starts three RabbitMQ nodes and joins them into a cluster.
// Close stops them and removes their files.
func StartCluster() (*Cluster, error) {
	lock, err := lockCluster()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "msgflo-test-cluster")
	if err != nil {
		lock.Close()
		return nil, err
	}
	c := &Cluster{lock: lock, dir: dir}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	// The cookie in HOME, for the nodes and rabbitmqctl alike; an empty
	// rabbitmq-env.conf so that the machine's (the shared broker's node
	// name) is not read; no plugins.
	files := map[string]string{
		".erlang.cookie":    "MSGFLOTESTCLUSTERCOOKIE",
		"rabbitmq-env.conf": "",
		"enabled_plugins":   "[].\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o400); err != nil {
			return nil, err
		}
	}
	c.env = append(os.Environ(),
		"HOME="+dir,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		// rabbitmqctl's own distribution ports, away from those of the
		// shared broker's tools (35672–35682).
		"RABBITMQ_CTL_DIST_PORT_MIN=35690",
		"RABBITMQ_CTL_DIST_PORT_MAX=35699",
		// Crash dumps of the nodes and of rabbitmqctl go to the temporary
		// directory, never into the source tree (a test's working
		// directory).
		"ERL_CRASH_DUMP="+filepath.Join(dir, "erl_crash.dump"),
	)
	for i := range clusterNodes {
		n, err := c.newNode(i)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	if err := c.boot(); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// newNode makes the directory, configuration and environment of node i
// (from 0).
func (c *Cluster) newNode(i int) (*ClusterNode, error) {
	name := fmt.Sprintf("msgflo-test-%d@localhost", i+1)
	port := clusterAMQPBase + i
	ndir := filepath.Join(c.dir, fmt.Sprintf("node%d", i+1))
	if err := os.MkdirAll(ndir, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(ndir, "rabbitmq.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\n", port)), 0o600); err != nil {
		return nil, err
	}
	return &ClusterNode{
		Name: name,
		conf: conf,
		URL:  fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port),
		env: append(append([]string{}, c.env...),
			"RABBITMQ_NODENAME="+name,
			"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
			fmt.Sprintf("RABBITMQ_NODE_PORT=%d", port),
			fmt.Sprintf("RABBITMQ_DIST_PORT=%d", clusterDistBase+i),
			"RABBITMQ_CONFIG_FILE="+conf,
			"RABBITMQ_MNESIA_BASE="+filepath.Join(ndir, "mnesia"),
			"RABBITMQ_PID_FILE="+filepath.Join(ndir, "pid"),
			"RABBITMQ_LOG_BASE="+filepath.Join(ndir, "log"),
			"RABBITMQ_LOGS=-", // to the process's output, kept for errors
			// One scheduler: three nodes share two cores with others.
			"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=+S 1:1",
		),
		log: &lockedBuffer{},
	}, nil
}

// boot starts the nodes, waits until each is up and joins them to the
// first.
func (c *Cluster) boot() error {
	for _, n := range c.nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		// wait follows the node from its pid file to the end of its boot
		// (await_startup needs the node's distribution up already); a
		// node that fails to boot exits, which ends the wait at once.
		pid := filepath.Join(filepath.Dir(n.conf), "pid")
		waited := make(chan error, 1)
		go func() {
			waited <- c.ctl(clusterStartTimeout, n.Name, "wait", "--timeout", fmt.Sprint(int(clusterStartTimeout.Seconds())), pid)
		}()
		var err error
		select {
		case err = <-waited:
		case <-n.done:
			err = errors.New("rabbitmq-server exited")
		}
		if err != nil {
			return fmt.Errorf("node %s did not start: %w; its log:\n%s", n.Name, err, n.log.String())
		}
	}
	for _, n := range c.nodes[1:] {
		for _, args := range [][]string{{"stop_app"}, {"join_cluster", c.nodes[0].Name}, {"start_app"}} {
			if err := c.ctl(ctlTimeout, n.Name, args...); err != nil {
				return fmt.Errorf("join %s to the cluster: %w", n.Name, err)
			}
		}
	}
	return nil
}

// rabbitmqScript is RabbitMQ's own script name: not the wrapper in
// /usr/sbin of Debian's package, which runs it as the rabbitmq user with
// that user's HOME (and so the shared broker's cookie). "" when missing.
func rabbitmqScript(name string) string {
	own := filepath.Join("/usr/lib/rabbitmq/bin", name)
	if _, err := os.Stat(own); err == nil {
		return own
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// lockCluster takes the machine-wide lock of the test cluster, waiting
// for another test binary's cluster to be stopped.
func lockCluster() (*os.File, error) {
	f, err := os.OpenFile(clusterLockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	locked := make(chan error, 1)
	go func() { locked <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", clusterLockFile, err)
		}
		return f, nil
	case <-time.After(clusterLockTimeout):
		// The goroutine goes with the process (the test fails now).
		return nil, fmt.Errorf("another test's RabbitMQ cluster still runs after %s (lock %s)", clusterLockTimeout, clusterLockFile)
	}
}

func (n *ClusterNode) start() error {
	cmd := exec.Command(rabbitmqScript("rabbitmq-server"))
	cmd.Env = n.env
	cmd.Dir = filepath.Dir(n.conf) // where a crash dump goes
	cmd.Stdout, cmd.Stderr = n.log, n.log
	// The Erlang processes hold the output open: once rabbitmq-server
	// has exited, do not wait for them.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start rabbitmq-server %s: %w", n.Name, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(n.done)
	}()
	return nil
}

// ctl runs rabbitmqctl -n node args.
func (c *Cluster) ctl(timeout time.Duration, node string, args ...string) error {
	_, err := c.ctlOutput(timeout, node, args...)
	return err
}

func (c *Cluster) ctlOutput(timeout time.Duration, node string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, rabbitmqScript("rabbitmqctl"), append([]string{"-n", node}, args...)...)
	cmd.Env = c.env
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("rabbitmqctl -n %s %s: %w: %s", node, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Nodes are the cluster's nodes, in the order of URLs.
func (c *Cluster) Nodes() []*ClusterNode { return c.nodes }

// URLs is the comma-separated list of the nodes' URLs on vhost "/".
func (c *Cluster) URLs() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, n.URL)
	}
	return strings.Join(urls, ",")
}

// Node is the node with the given URL (as in URLs), or nil.
func (c *Cluster) Node(url string) *ClusterNode {
	for _, n := range c.nodes {
		if n.URL == url {
			return n
		}
	}
	return nil
}

// StopApp stops RabbitMQ on node n (the Erlang node stays up): its
// connections are closed, its port refuses new ones, and the cluster
// carries on without it.
func (c *Cluster) StopApp(t testing.TB, n *ClusterNode) {
	t.Helper()
	if err := c.ctl(ctlTimeout, n.Name, "stop_app"); err != nil {
		t.Fatal(err)
	}
}

// StartApp starts RabbitMQ on node n again and waits until it is up.
func (c *Cluster) StartApp(t testing.TB, n *ClusterNode) {
	t.Helper()
	if err := c.ctl(ctlTimeout, n.Name, "start_app"); err != nil {
		t.Fatal(err)
	}
	if err := c.ctl(ctlTimeout, n.Name, "await_startup"); err != nil {
		t.Fatal(err)
	}
}

// QueueLeader is the node hosting the leader of quorum queue queue on
// vhost "/".
func (c *Cluster) QueueLeader(t testing.TB, queue string) *ClusterNode {
	t.Helper()
	for _, n := range c.nodes {
		out, err := c.ctlOutput(ctlTimeout, n.Name, "list_queues", "-q", "--no-table-headers", "name", "leader")
		if err != nil {
			continue // that node may be stopped
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == queue {
				for _, m := range c.nodes {
					if m.Name == f[1] {
						return m
					}
				}
				t.Fatalf("queue %s: leader %s is not a node of the cluster", queue, f[1])
			}
		}
		t.Fatalf("queue %s not found on the cluster:\n%s", queue, out)
	}
	t.Fatal("no node of the cluster answers")
	return nil
}

// Close stops the nodes and removes their files.
func (c *Cluster) Close() {
	var errs []error
	for _, n := range c.nodes {
		if n.cmd == nil {
			continue
		}
		if err := c.ctl(ctlTimeout, n.Name, "stop"); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-n.done:
		case <-time.After(ctlTimeout):
			_ = n.cmd.Process.Kill()
			<-n.done
		}
	}
	// What rabbitmq-server started (epmd stays: the shared broker uses it).
	if out, err := exec.Command("pgrep", "-f", "msgflo-test-[0-9]@localhost").Output(); err == nil && len(out) > 0 {
		errs = append(errs, fmt.Errorf("processes of the test cluster left running: %s", out))
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
	if c.lock != nil {
		c.lock.Close() // releases the flock
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(os.Stderr, "brokertest: stopping the RabbitMQ test cluster: %v\n", err)
	}
}
