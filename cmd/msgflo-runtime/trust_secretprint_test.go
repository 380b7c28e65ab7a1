package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
)

// #19 "The secret and the broker password are printed": with MSGFLO_SECRET
// and broker URLs holding passwords in the environment, --help, a mistyped
// flag and each tool's usage print none of them (the variables are named,
// their values are not). Seen failing before flags took the environment
// after parsing (settings.Apply): the runtime's --help and usage errors
// printed the secret and MSGFLO_BROKER as flag defaults, status and trace
// the secret.
func TestHelpAndUsageErrorsPrintNoSecret(t *testing.T) {
	t.Parallel()
	secret, pw, pw2 := "secret-"+uuid.New(), "pw-"+uuid.New(), "pw2-"+uuid.New()
	env := append(os.Environ(),
		"MSGFLO_SECRET="+secret,
		"MSGFLO_BROKER=amqp://user:"+pw+"@127.0.0.1:1/",
		"CLOUDAMQP_URL=amqp://user:"+pw2+"@127.0.0.1:1/")
	for _, args := range [][]string{
		{"--help"}, {"--nope"}, {"--port"}, {"--port", "x"},
		{"status", "--help"}, {"status", "--nope"},
		{"trace", "start", "--help"}, {"trace", "dump", "--nope"}, {"trace", "show", "--help"},
		{"setup", "--help"}, {"setup", "--nope"},
		{"send", "--help"}, {"dump", "--help"}, {"register", "--help"}, {"procfile", "--help"},
		{"participant", "--help"}, {"participant", "--nope"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, runtimeBinary(t), args...)
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		cancel()
		text := string(out)
		for _, s := range []string{secret, pw, pw2} {
			if strings.Contains(text, s) {
				t.Errorf("%q printed %q:\n%s", args, s, text)
			}
		}
		if strings.Contains(strings.Join(args, " "), "help") && !strings.Contains(text, "Usage") {
			t.Errorf("%q printed no usage:\n%s", args, text)
		}
	}
}
