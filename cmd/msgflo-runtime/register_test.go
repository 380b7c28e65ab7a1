package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/network/dial"
)

// register refuses a definition it cannot announce, saying what is wrong,
// and announces nothing. The broker is reachable (a good definition,
// registered afterwards, is announced over it), so what refuses the bad
// ones is the definition checks, not the connection; the good one, seen
// before any bad one, is the marker that nothing was announced.
func TestRegisterRefusesBadDefinitions(t *testing.T) {
	t.Parallel()
	url := mosquitto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := dial.Open(ctx, url, dial.Options{ClientID: "regtest-" + uuid.New()[:8], Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	announced := make(chan network.Definition, 1000)
	sub, err := b.SubscribeDiscovery(ctx, func(_ string, data []byte) {
		if def, err := network.DecodeDiscovery(data); err == nil {
			announced <- def
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	prefix := "reg" + uuid.New()[:8]
	bad := map[string]bool{}
	for name, tc := range map[string]struct{ text, want string }{
		"no component": {"inports: {}\n", ".component is not defined"},
		"no queue":     {"component: a/B\ninports:\n  in:\n    type: any\n", "port in has no queue"},
		"not yaml":     {"component: [unclosed\n", "yaml: "},
		"empty":        {"", "No definition found in "},
	} {
		role := prefix + strings.ReplaceAll(name, " ", "")
		bad[role] = true
		def := writeFile(t, "def.yml", tc.text)
		out, err := runIn(t, ".", []string{"MSGFLO_BROKER=" + url}, runtimeBinary(t), "register", "--role", role+":"+def, "--forever", "false")
		if err == nil || !strings.Contains(out, "msgflo-runtime register: ") || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %v, output %q; want a failure saying %q", name, err, out, tc.want)
		}
		if strings.Contains(out, "Sent discovery message") {
			t.Errorf("%s: announced: %q", name, out)
		}
	}
	good := prefix + "good"
	def := writeFile(t, "good.yml", "component: a/Good\ninports:\n  in:\n    queue: \"#ROLE.in\"\noutports: {}\n")
	out, err := runIn(t, ".", []string{"MSGFLO_BROKER=" + url}, runtimeBinary(t), "register", "--role", good+":"+def, "--forever", "false")
	if err != nil || !strings.Contains(out, "Sent discovery message for "+good) {
		t.Fatalf("good definition: %v %q", err, out)
	}
	for {
		select {
		case d := <-announced:
			if bad[d.Role] {
				t.Fatalf("a bad definition was announced: %+v", d)
			}
			if d.Role == good {
				if d.Component != "a/Good" || len(d.Inports) != 1 || d.Inports[0].Queue != good+".in" {
					t.Fatalf("good definition announced as %+v", d)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("the good definition was never announced")
		}
	}
}
