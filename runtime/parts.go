package runtime

import (
	"time"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// poke wakes the reconcile loop.
func (r *parts) poke() {
	r.pokes.Add(1)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// resolve finds the participant serving a role: the runtime's own
// in-process participant of the role, else the one heard from last (or the
// last definition kept of the role; live is false then).
func (r *parts) resolve(role string) (def network.Definition, live, ok bool) {
	if lp := r.local.get(role); lp != nil {
		// The runtime knows where its own participant's ports are: an
		// announcement of the role by someone else does not move them.
		return lp.def, true, true
	}
	return r.dir.Resolve(role)
}

// resolveRef is resolve for the plan's snapshot: the definition of an
// in-process participant is shared (it never changes), any other copied.
func (r *parts) resolveRef(role string) (def *network.Definition, live, ok bool) {
	if lp := r.local.get(role); lp != nil {
		return &lp.def, true, true
	}
	d, live, ok := r.dir.Resolve(role)
	return &d, live, ok
}

// rules are the rules that say what the runtime does for each node.
func (r *parts) rules() plan.Rules {
	return plan.Rules{
		Ignore:  r.opts.Ignore,
		Builtin: func(name string) bool { return r.catalog.builtin(name) != nil },
		Library: func(name string) bool {
			_, ok := r.catalog.libraryComponent(name)
			return ok
		},
	}
}

func (r *parts) timestamp() string { return r.now().UTC().Format(time.RFC3339Nano) }
