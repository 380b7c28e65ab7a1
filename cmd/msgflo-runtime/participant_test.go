package main

import (
	"bufio"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// msgflo-runtime participant runs a built-in component as its own process;
// the runtime (told to --ignore that role) wires it like any participant.
func TestParticipantSubcommand(t *testing.T) {
	path := writeFile(t, "counting.fbp", "INPORT=counter.IN:IN\nOUTPORT=counted.OUT:COUNT\ncounter(core/Counter) COUNT -> IN counted(core/Repeat)\n")
	rt := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path, "--ignore", "counter")
	ws, brokerURL := rt.ready(t)
	c := connectFBP(t, ws)

	cmd := exec.Command(binary, "participant", "core/Counter", "--role", "counter")
	cmd.Env = append(os.Environ(), "MSGFLO_BROKER="+brokerURL)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		select {
		case <-done:
		default:
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "counter connected to "+brokerURL+"\n" {
		t.Fatalf("first line %q, %v; stderr %s", line, err, stderr.String())
	}
	for i := 1; i <= 3; i++ {
		c.send("runtime", "packet", map[string]any{"graph": "counting", "port": "in", "event": "data", "payload": "x"})
		got := c.waitFor("runtime", "packet", func(p map[string]any) bool { return p["port"] == "count" })
		if got["payload"] != float64(i) {
			t.Fatalf("count %v, want %d", got["payload"], i)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("participant exit: %v; stderr %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("participant did not stop on SIGTERM")
	}
	rt.signalAndWait(t, syscall.SIGTERM)
}

func TestParticipantSubcommandErrors(t *testing.T) {
	for _, args := range [][]string{{"participant"}, {"participant", "core/Nope"}, {"participant", "core/Repeat", "--broker", "mqtt://127.0.0.1:1"}} {
		cmd := exec.Command(binary, args...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%v succeeded: %s", args, out)
		}
	}
}
