package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/amqp"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/network/mqtt"
)

func setupGraph(s string) string {
	return fmt.Sprintf(`a%[1]s(x/A) OUT -> IN b%[1]s(x/B)
b%[1]s OUT -> IN c%[1]s(x/C)
a%[1]s OUT -> IN rr%[1]s(msgflo/RoundRobin)
rr%[1]s OUT -> IN w%[1]s(x/W)
rr%[1]s DEADLETTER -> IN dl%[1]s(x/D)
`, s)
}

// bindingsWith lists RabbitMQ's bindings that involve names containing s
// (or any of also).
func bindingsWith(t *testing.T, s string, also ...string) []string {
	t.Helper()
	vhost := "/"
	if u, err := url.Parse(brokertest.RabbitMQURL(t)); err == nil && len(u.Path) > 1 {
		vhost = u.Path[1:]
	}
	out, err := exec.Command("rabbitmqctl", "list_bindings", "-p", vhost, "source_name", "destination_name", "destination_kind", "routing_key", "--formatter", "json", "-q").Output()
	if err != nil {
		t.Fatalf("rabbitmqctl list_bindings (needed to compare bindings with msgflo-setup's): %v", err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("rabbitmqctl output: %v", err)
	}
	var got []string
	for _, r := range rows {
		involves := func(sub string) bool {
			return strings.Contains(r["source_name"], sub) || strings.Contains(r["destination_name"], sub)
		}
		if r["source_name"] != "" && (involves(s) || slices.ContainsFunc(also, involves)) {
			got = append(got, fmt.Sprintf("%s -> %s %s [%s]", r["source_name"], r["destination_kind"], r["destination_name"], r["routing_key"]))
		}
	}
	sort.Strings(got)
	return got
}

// setup makes the same bindings on RabbitMQ as msgflo-setup, round-robin
// and dead-letter included.
func TestSetupMatchesMsgfloOnRabbitMQ(t *testing.T) {
	nodes := nodeDir(t)
	url := brokertest.RabbitMQURL(t)
	s := uuid.New()[:8]
	path := writeFile(t, "setup.fbp", setupGraph(s))
	names := []string{}
	for _, r := range []string{"a", "b", "c", "w", "dl"} {
		names = append(names, r+s+".IN", r+s+".OUT", "dead-"+r+s+".IN", "out-"+r+s+".OUT")
	}
	b, err := amqp.Dial(context.Background(), url, amqp.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	clean := func() { _ = b.Delete(context.Background(), names...) }
	t.Cleanup(clean)
	// What the participants would have declared when they started.
	declare := func() {
		for _, r := range []string{"b", "c", "w", "dl"} {
			if err := b.DeclareInport(context.Background(), r+s+".IN", network.QueueOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range []string{"a", "b"} {
			if err := b.DeclareOutport(context.Background(), r+s+".OUT", network.QueueOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	env := []string{"MSGFLO_BROKER=" + url}
	declare()
	theirOut, err := runIn(t, filepath.Dir(path), env, filepath.Join(nodes, "node_modules", ".bin", "msgflo-setup"), path)
	if err != nil {
		t.Fatalf("msgflo-setup: %v\n%s", err, theirOut)
	}
	theirs := bindingsWith(t, s)
	clean()
	declare()
	// Called by msgflo's name, ours prints what msgflo-setup prints.
	ourOut, err := runIn(t, filepath.Dir(path), env, filepath.Join(msgfloNames(t), "msgflo-setup"), path)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, ourOut)
	}
	ours := bindingsWith(t, s)
	if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
		t.Fatalf("bindings differ\n ours:\n%s\ntheirs:\n%s", strings.Join(ours, "\n"), strings.Join(theirs, "\n"))
	}
	if ourOut != theirOut {
		t.Fatalf("output differs\n ours:\n%s\ntheirs:\n%s", ourOut, theirOut)
	}
	if len(ours) < 5 {
		t.Fatalf("too few bindings to compare: %v", ours)
	}
}

// On MQTT the bindings are forwarded by the setup process itself, as by
// msgflo-setup: with both, a message on an edge's source topic reaches its
// target topic while the tool runs.
func TestSetupForwardsOnMQTT(t *testing.T) {
	t.Parallel()
	nodes := nodeDir(t)
	url := brokertest.MosquittoURL(t)
	for _, tool := range [][]string{
		{runtimeBinary(t), "setup", "--forever"},
		{filepath.Join(nodes, "node_modules", ".bin", "msgflo-setup"), "--forever", "true"},
	} {
		t.Run(filepath.Base(tool[0]), func(t *testing.T) {
			s := uuid.New()[:8]
			path := writeFile(t, "setup.fbp", fmt.Sprintf("a%[1]s(x/A) OUT -> IN b%[1]s(x/B)\n", s))
			cmd := exec.Command(tool[0], append(tool[1:], path)...)
			cmd.Dir = nodes
			cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
			startGroup(t, cmd)
			// The tool subscribes in the background: publish until its
			// forwarding shows.
			sendUntilArrives(t, url, "b"+s+".IN", func(b network.Broker) error {
				return b.Publish(context.Background(), "a"+s+".OUT", []byte(`{"via":"setup"}`))
			}, func() string { return "nothing forwarded from a.OUT to b.IN" })
		})
	}
}

// setup --participants starts the graph's participants from the library and
// stops them when it is stopped.
func TestSetupStartsParticipants(t *testing.T) {
	t.Parallel()
	url := brokertest.MosquittoURL(t)
	s := uuid.New()[:8]
	path := writeFile(t, "setup.fbp", fmt.Sprintf("a%[1]s(x/Repeat) OUT -> IN b%[1]s(x/B)\n", s))
	r := startSetup(t, url, "--participants", "--only", "a"+s, "--library", repeatLibrary(t), "--forward", "stderr", path)
	out, errOut := r.out, r.errOut
	sendUntilArrives(t, url, "b"+s+".IN", func(b network.Broker) error {
		return b.Send(context.Background(), "a"+s+".IN", []byte(`"through a participant"`))
	}, func() string { return "the participant never passed data on; setup printed:\n" + out.String() })
	m := regexp.MustCompile(`started a` + s + ` \(pid (\d+)\)`).FindStringSubmatch(errOut.String())
	if m == nil || !strings.HasPrefix(out.String(), "Set up participants [ 'a"+s+"' ]\nSet up bindings:\n PUBSUB: \t a"+s+".OUT -> b"+s+".IN\n") {
		t.Fatalf("setup output %q, stderr %q", out.String(), errOut.String())
	}
	pid, _ := strconv.Atoi(m[1])
	if err := r.stop(t); err != nil {
		t.Fatalf("setup exit: %v", err)
	}
	waitGone(t, pid)
}

// syncBuffer is a strings.Builder safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sendUntilArrives sends with send on a connection to the MQTT broker at
// url until something arrives on queue: what it waits for subscribes in
// the background, and MQTT keeps nothing for a subscriber not there yet.
func sendUntilArrives(t *testing.T, url, queue string, send func(network.Broker) error, failure func() string) {
	t.Helper()
	b, err := mqtt.Dial(context.Background(), url, mqtt.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	in := brokertest.NewInbox(100)
	sub, err := b.Consume(context.Background(), queue, 0, in.Ack)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := send(b); err != nil {
			t.Fatal(err)
		}
		if in.TryNext(200 * time.Millisecond) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(failure())
		}
	}
}

// setup --participants (without --forever) does not outlive its
// participants: when one fails it says so and exits 1, as msgflo-setup
// fails when a participant dies; it used to wait for a signal for ever,
// then exit 0.
func TestSetupExitsWhenAParticipantFails(t *testing.T) {
	t.Parallel()
	url := brokertest.MosquittoURL(t)
	s := uuid.New()[:8]
	lib := writeFile(t, "lib.json", `{"components": {"x/Fail": "exit 3"}}`)
	path := writeFile(t, "setup.fbp", fmt.Sprintf("a%[1]s(x/Fail) OUT -> IN b%[1]s(x/Fail)\n", s))
	r := startSetup(t, url, "--participants", "--library", lib, path)
	ok, err := r.exited(brokertest.Timeout)
	if !ok {
		t.Fatalf("setup still runs after its participants failed; stderr:\n%s", r.errOut.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("setup exited with %v, want status 1; stderr:\n%s", err, r.errOut.String())
	}
	if !strings.Contains(r.errOut.String(), "exited with code 3") {
		t.Fatalf("setup did not say the participant failed; stderr:\n%s", r.errOut.String())
	}
}

// setup declares its inport queues with --queue-type (MSGFLO_QUEUE_TYPE),
// which it also passes to the participants it starts: with quorum in the
// environment it declared classic queues, and the participants then
// failed to declare theirs.
func TestSetupDeclaresTheQueueType(t *testing.T) {
	t.Parallel()
	url := brokertest.RabbitMQURL(t)
	s := uuid.New()[:8]
	path := writeFile(t, "setup.fbp", fmt.Sprintf("qa%[1]s(x/A) OUT -> IN qb%[1]s(x/B)\n", s))
	t.Cleanup(func() { deleteQueues(url, "qa"+s, "qb"+s) })
	cmd := exec.Command(runtimeBinary(t), "setup", path)
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url, "MSGFLO_QUEUE_TYPE=quorum")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	b, err := amqp.Dial(context.Background(), url, amqp.Options{Logger: zerolog.Nop(), QueueType: amqp.QueueTypeQuorum})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Declaring it again as quorum succeeds only if it is one.
	if err := b.DeclareInport(context.Background(), "qb"+s+".IN", network.QueueOptions{}); err != nil {
		t.Fatalf("qb.IN is not a quorum queue: %v", err)
	}
}
