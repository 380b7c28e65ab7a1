package procs

import (
	"slices"
	"strings"

	"github.com/msgflo/msgflo-runtime/internal/settings"
)

// Withheld are the variables of this process's environment that a
// participant process never gets: those of the config table's secret
// settings (MSGFLO_SECRET gives full control of the runtime; a
// participant needs only the broker).
var Withheld = settings.SecretVariables()

// Env is what a participant process is told through its environment.
type Env struct {
	// Broker is its MSGFLO_BROKER.
	Broker string
	// TransientMessages sets MSGFLO_PERSISTENT_MESSAGES=false.
	TransientMessages bool
	// QueueType, when set, is its MSGFLO_QUEUE_TYPE.
	QueueType string
}

// Environ is base (this process's environment, os.Environ()) without the
// Withheld variables, with e's variables set. A variable e leaves unset
// (no Broker, persistent messages, no QueueType) keeps base's value.
func (e Env) Environ(base []string) []string {
	set := map[string]string{}
	if e.Broker != "" {
		set[settings.BrokerEnv] = e.Broker
	}
	if e.TransientMessages {
		set[settings.PersistentMessagesEnv] = "false"
	}
	if e.QueueType != "" {
		set[settings.QueueTypeEnv] = e.QueueType
	}
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, replaced := set[name]; replaced || slices.Contains(Withheld, name) {
			continue
		}
		out = append(out, kv)
	}
	for _, name := range []string{settings.BrokerEnv, settings.PersistentMessagesEnv, settings.QueueTypeEnv} {
		if v, ok := set[name]; ok {
			out = append(out, name+"="+v)
		}
	}
	return out
}
