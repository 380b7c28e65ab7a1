package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// msgflo-runtime participant runs a built-in component as its own process;
// the runtime (told to --ignore that role) wires it like any participant.
func TestParticipantSubcommand(t *testing.T) {
	t.Parallel()
	for _, bk := range []struct {
		name string
		url  func(t testing.TB) string
	}{
		{"embedded", func(testing.TB) string { return "" }},
		{"mqtt", brokertest.MosquittoURL},
		{"amqp", brokertest.RabbitMQURL},
	} {
		t.Run(bk.name, func(t *testing.T) { participantSubcommand(t, bk.url(t)) })
	}
}

func participantSubcommand(t *testing.T, broker string) {
	s := uuid.New()[:8]
	counter, counted := "counter"+s, "counted"+s
	if strings.HasPrefix(broker, "amqp") {
		t.Cleanup(func() { deleteQueues(broker, counter, counted) })
	}
	path := writeFile(t, "counting.fbp", fmt.Sprintf("INPORT=%[1]s.IN:IN\nOUTPORT=%[2]s.OUT:COUNT\n%[1]s(core/Counter) COUNT -> IN %[2]s(core/Repeat)\n", counter, counted))
	rt := start(t, []string{"MSGFLO_BROKER=" + broker}, "--port", "0", "--graph", path, "--ignore", counter)
	ws, brokerURL := rt.ready(t)
	if broker != "" {
		brokerURL = broker
	}
	c := connectFBP(t, ws)

	roleFlag := "--role"
	if strings.HasPrefix(broker, "mqtt") {
		roleFlag = "--name" // msgflo-nodejs's spelling
	}
	stderr, stop := startParticipant(t, brokerURL, counter, "core/Counter", roleFlag, counter)
	for i := 1; i <= 3; i++ {
		c.send("runtime", "packet", map[string]any{"graph": "counting", "port": "in", "event": "data", "payload": "x"})
		got := c.waitFor("runtime", "packet", func(p map[string]any) bool { return p["port"] == "count" })
		if got["payload"] != float64(i) {
			t.Fatalf("count %v, want %d", got["payload"], i)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("participant exit: %v; stderr %s", err, stderr.String())
	}
	rt.signalAndWait(t, syscall.SIGTERM)
}

// startParticipant starts `msgflo-runtime participant ARGS` on the broker
// url and waits for its first line ("ROLE connected to ..."). stop sends
// SIGTERM and waits for the exit, after which log holds all the process
// wrote; the process is killed when the test ends in any case.
func startParticipant(t *testing.T, url, role string, args ...string) (log *syncBuffer, stop func() error) {
	t.Helper()
	cmd := exec.Command(runtimeBinary(t), append([]string{"participant"}, args...)...)
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+url)
	log = &syncBuffer{}
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		done <- nil
	})
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, role+" connected to ") {
		t.Fatalf("first line %q, %v; stderr %s", line, err, log.String())
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return log, func() error {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			return err
		}
		select {
		case err := <-done:
			done <- err
			return err
		case <-time.After(30 * time.Second):
			return errors.New("no exit within 30 s of SIGTERM")
		}
	}
}

func TestParticipantSubcommandErrors(t *testing.T) {
	t.Parallel()
	const unreachable = "mqtt://127.0.0.1:1"
	for _, c := range []struct {
		args []string
		code int // 2: bad usage, found before connecting; 1: the broker
	}{
		{[]string{"participant"}, 2},
		{[]string{"participant", "core/Nope"}, 2},
		{[]string{"participant", "core/Repeat", "--broker", unreachable}, 1},
		{[]string{"participant", "core/Repeat", "--broker", unreachable, "--persistent-messages=maybe"}, 2},
		{[]string{"participant", "core/Repeat", "--broker", unreachable, "--queue-type", "mirrored"}, 2},
	} {
		out, err := exec.Command(runtimeBinary(t), c.args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != c.code {
			t.Errorf("%v: %v, want exit code %d: %s", c.args, err, c.code, out)
		}
	}
}
