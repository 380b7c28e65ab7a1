package runtime

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgflo/msgflo-runtime/metrics"
	"github.com/msgflo/msgflo-runtime/participant"
)

// instrumented makes an in-process participant's component record each
// message it processes (graph and node name the participant in the
// metrics; they are nodes of the graphs, so the labels stay bounded).
func instrumented(c participant.Component, m *metrics.Metrics, graphID, node string) participant.Component {
	if m == nil {
		return c
	}
	wrap := func(f participant.ProcessFunc) participant.ProcessFunc {
		if f == nil {
			return nil
		}
		return func(ctx context.Context, in participant.Input, out participant.Output) error {
			start := time.Now()
			err := f(ctx, in, out)
			m.Processed(graphID, node, in.Port, time.Since(start), err != nil)
			return err
		}
	}
	if c.Init != nil {
		init := c.Init
		c.Init = func() participant.ProcessFunc { return wrap(init()) }
	} else {
		c.Process = wrap(c.Process)
	}
	return c
}

// graphOfRoleLocked is the first graph (by id) with a node served by role.
func (r *Runtime) graphOfRoleLocked(role string) string {
	for _, gs := range r.sortedGraphsLocked() {
		if gs.hasRole(role) {
			return gs.g.ID
		}
	}
	return ""
}

var participantsDesc = prometheus.NewDesc("msgflo_participants",
	"Participants by state: in-process ones running or paused, other processes alive (announced within their heartbeat) or expired (gone silent, their queues kept).",
	[]string{"state"}, nil)

// participantStates is a prometheus.Collector counting the runtime's
// participants by state at each scrape.
type participantStates struct{ r *Runtime }

func (c participantStates) Describe(ch chan<- *prometheus.Desc) { ch <- participantsDesc }

func (c participantStates) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	r.mu.Lock()
	var running, paused, alive, expired int
	for _, lp := range r.local {
		if lp.gate.isOpen() {
			running++
		} else {
			paused++
		}
	}
	roles := map[string]bool{}
	for _, e := range r.registry.All() {
		roles[e.Definition.Role] = true
		if _, local := r.local[e.Definition.Role]; !local {
			alive++
		}
	}
	for role := range r.lastKnown {
		if !roles[role] {
			expired++
		}
	}
	r.mu.Unlock()
	for state, n := range map[string]int{"running": running, "paused": paused, "alive": alive, "expired": expired} {
		ch <- prometheus.MustNewConstMetric(participantsDesc, prometheus.GaugeValue, float64(n), state)
	}
}
