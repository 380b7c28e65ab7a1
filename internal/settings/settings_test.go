package settings

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func newFlags() (*flag.FlagSet, *string, *string, *string) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	broker := fs.String("broker", "", "broker URL")
	secret := fs.String("secret", "", "the secret")
	label := fs.String("label", "x", "not in the table")
	return fs, broker, secret, label
}

// The environment gives a flag its value only when the command line did
// not; the first non-empty variable of a row wins; flags outside the table
// keep their defaults.
func TestApply(t *testing.T) {
	for _, tc := range []struct {
		args                  []string
		env                   map[string]string
		broker, secret, label string
		given                 []string
	}{
		{nil, nil, "", "", "x", nil},
		{nil, map[string]string{"MSGFLO_BROKER": "mqtt://a", "CLOUDAMQP_URL": "amqp://b", "MSGFLO_SECRET": "s", "LABEL": "l"}, "mqtt://a", "s", "x", nil},
		{nil, map[string]string{"MSGFLO_BROKER": "", "CLOUDAMQP_URL": "amqp://b"}, "amqp://b", "", "x", nil},
		{[]string{"--broker", "mqtt://flag"}, map[string]string{"MSGFLO_BROKER": "mqtt://a"}, "mqtt://flag", "", "x", []string{"broker"}},
		{[]string{"--secret="}, map[string]string{"MSGFLO_SECRET": "s"}, "", "", "x", []string{"secret"}},
	} {
		fs, broker, secret, label := newFlags()
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		given, err := Apply(fs, env(tc.env))
		var names []string
		for n := range given {
			names = append(names, n)
		}
		if err != nil || *broker != tc.broker || *secret != tc.secret || *label != tc.label || !slices.Equal(names, tc.given) {
			t.Errorf("%q %v: broker %q secret %q label %q given %v, %v", tc.args, tc.env, *broker, *secret, *label, names, err)
		}
	}
}

// A value a flag refuses is an error naming the variable; a secret's value
// is never in it.
func TestApplyRefusedValue(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("secret", 0, "")
	fs.Int("runtime-id", 0, "")
	_, err := Apply(fs, env(map[string]string{"MSGFLO_SECRET": "s3cret", "MSGFLO_RUNTIME_ID": "abc"}))
	if err == nil || !strings.Contains(err.Error(), "MSGFLO_SECRET") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("secret: %v", err)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("runtime-id", 0, "")
	_, err = Apply(fs, env(map[string]string{"MSGFLO_RUNTIME_ID": "abc"}))
	if err == nil || !strings.Contains(err.Error(), `MSGFLO_RUNTIME_ID="abc"`) {
		t.Errorf("runtime id: %v", err)
	}
}

// The help text names the variables, and no value.
func TestAnnotate(t *testing.T) {
	fs, _, _, _ := newFlags()
	Annotate(fs)
	if u := fs.Lookup("broker").Usage; u != "broker URL (env MSGFLO_BROKER, then CLOUDAMQP_URL)" {
		t.Errorf("broker: %q", u)
	}
	if u := fs.Lookup("label").Usage; u != "not in the table" {
		t.Errorf("label: %q", u)
	}
}

func TestSeconds(t *testing.T) {
	for v, want := range map[string]time.Duration{"60": time.Minute, "0.5": 500 * time.Millisecond, "1e3": 1000 * time.Second} {
		if d, err := Seconds(v); err != nil || d != want {
			t.Errorf("%q: %v %v", v, d, err)
		}
	}
	for _, v := range []string{"", "0", "-1", "soon", "1m", "NaN", "Inf", "1e300"} {
		if d, err := Seconds(v); err == nil || !strings.Contains(err.Error(), "is not a positive number of seconds") {
			t.Errorf("%q: %v %v", v, d, err)
		}
	}
}

// MSGFLO_DISCOVERY_PERIOD is read by the one parser of seconds.
func TestDiscoveryPeriod(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "30": 30 * time.Second, "1.5": 1500 * time.Millisecond, "1m": 0, "-3": 0} {
		if got := DiscoveryPeriod(env(map[string]string{"MSGFLO_DISCOVERY_PERIOD": v})); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestFromEnvAndSecrets(t *testing.T) {
	if got := FromEnv("broker", env(map[string]string{"CLOUDAMQP_URL": "amqp://b"})); got != "amqp://b" {
		t.Errorf("FromEnv: %q", got)
	}
	if got := FromEnv("nope", env(nil)); got != "" {
		t.Errorf("FromEnv of no row: %q", got)
	}
	if got := SecretVariables(); !slices.Equal(got, []string{"MSGFLO_SECRET"}) {
		t.Errorf("SecretVariables %q", got)
	}
}
