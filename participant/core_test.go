package participant_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/participant"
)

// outputs records what a process function sends.
type outputs struct{ sent []string }

func (o *outputs) Send(port string, data json.RawMessage) error {
	o.sent = append(o.sent, port+" "+string(data))
	return nil
}

// instance is a core component's process function, called directly: the
// component's logic without a broker.
func instance(t *testing.T, name string) participant.ProcessFunc {
	t.Helper()
	c, ok := participant.LookupCore(name)
	if !ok {
		t.Fatalf("no %s", name)
	}
	if c.Init != nil {
		return c.Init()
	}
	return c.Process
}

func call(t *testing.T, f participant.ProcessFunc, ctx context.Context, port, data string) (string, error) {
	t.Helper()
	out := &outputs{}
	err := f(ctx, participant.Input{Port: port, Data: json.RawMessage(data)}, out)
	if len(out.sent) > 1 {
		t.Fatalf("%s %s sent %v", port, data, out.sent)
	}
	if len(out.sent) == 0 {
		return "", err
	}
	return out.sent[0], err
}

// core/Pick walks objects and arrays along its path; whatever is not there
// (a missing key, an index out of range or not a number, a value that is
// neither object nor array) goes to missing unchanged.
func TestPickPaths(t *testing.T) {
	doc := `{"a":{"list":[10,{"b":"deep"},null],"n":1.50,"s":"x"}}`
	for _, tc := range []struct{ path, want string }{
		{"a.list.0", "out 10"},
		{"a.list.1.b", `out "deep"`},
		{"a.list.2", "out null"},
		{"a.n", "out 1.50"}, // the value's own bytes
		{"a.list.3", "missing " + doc},
		{"a.list.-1", "missing " + doc},
		{"a.list.x", "missing " + doc},
		{"a.s.0", "missing " + doc},
		{"a.n.x", "missing " + doc},
		{"a.list.2.x", "missing " + doc},
		{"b", "missing " + doc},
		{"", "out " + doc}, // no path: the whole message
	} {
		pick := instance(t, "core/Pick")
		pathJSON, _ := json.Marshal(tc.path)
		if sent, err := call(t, pick, context.Background(), "path", string(pathJSON)); err != nil || sent != "" {
			t.Fatalf("path %q: %q %v", tc.path, sent, err)
		}
		if got, err := call(t, pick, context.Background(), "in", doc); err != nil || got != tc.want {
			t.Errorf("path %q: got %q (%v), want %q", tc.path, got, err, tc.want)
		}
	}
	pick := instance(t, "core/Pick")
	if _, err := call(t, pick, context.Background(), "path", `5`); err == nil || !strings.Contains(err.Error(), "path must be a string") {
		t.Fatalf("a path that is not a string: %v", err)
	}
	if got, _ := call(t, pick, context.Background(), "in", `[1]`); got != "out [1]" {
		t.Fatalf("without a path: %q", got)
	}
	// A new path replaces the old one.
	_, _ = call(t, pick, context.Background(), "path", `"0"`)
	_, _ = call(t, pick, context.Background(), "path", `"1"`)
	if got, _ := call(t, pick, context.Background(), "in", `[1,2]`); got != "out 2" {
		t.Fatalf("second path: %q", got)
	}
}

func TestCounterCounts(t *testing.T) {
	count := instance(t, "core/Counter")
	for _, want := range []string{"count 1", "count 2", "count 3"} {
		if got, err := call(t, count, context.Background(), "in", `"x"`); err != nil || got != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
}

// core/Delay refuses a delay that is not a number of milliseconds >= 0,
// keeps the last good one, and gives up waiting when its context ends.
func TestDelayArguments(t *testing.T) {
	delay := instance(t, "core/Delay")
	for _, bad := range []string{`-1`, `"5"`, `{}`} {
		if _, err := call(t, delay, context.Background(), "delay", bad); err == nil {
			t.Errorf("delay %s accepted", bad)
		}
	}
	if _, err := call(t, delay, context.Background(), "delay", `0`); err != nil {
		t.Fatalf("delay 0: %v", err)
	}
	if got, err := call(t, delay, context.Background(), "in", `{"k":1}`); err != nil || got != `out {"k":1}` {
		t.Fatalf("after delay 0: %q %v", got, err)
	}
	// A delay long enough that only the ended context can end the wait.
	if _, err := call(t, delay, context.Background(), "delay", `3600000`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := call(t, delay, ctx, "in", `1`); !errors.Is(err, context.Canceled) || got != "" {
		t.Fatalf("with an ended context: %q %v", got, err)
	}
}

func TestSimpleCoreComponents(t *testing.T) {
	for name, want := range map[string]string{"core/Repeat": `out [1,"a"]`, "core/Output": `out [1,"a"]`, "core/Drop": ""} {
		if got, err := call(t, instance(t, name), context.Background(), "in", `[1,"a"]`); err != nil || got != want {
			t.Errorf("%s: got %q %v, want %q", name, got, err, want)
		}
	}
}
