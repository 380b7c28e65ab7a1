package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// msgflo_participants counts the participants as the status page shows
// them: an in-process one of a graph not started is paused, one on the
// broker is alive.
func TestParticipantStatesMetric(t *testing.T) {
	f := newFixture(t, nil)
	must(t, f.rt.Clear(wire.Clear{ID: "g"}))
	must(t, f.rt.AddNode(wire.AddNode{ID: "drop", Component: "core/Drop", Graph: "g"}))
	f.pass()
	name := "ext/Metered" + uuid.New()[:8]
	p, err := participant.New(f.ext, participant.Component{
		Name: name, Inports: []participant.Port{{ID: "in"}},
		Process: func(context.Context, participant.Input, participant.Output) error { return nil },
	}, "metered"+uuid.New()[:8], participant.Options{DiscoveryPeriod: 100 * time.Millisecond})
	must(t, err)
	must(t, p.Start(context.Background()))
	defer p.Stop(context.Background())
	f.waitEvent("component", "component", func(ev Event) bool { return ev.Message.(wire.Component).Name == name })

	ch := make(chan prometheus.Metric, 10)
	participantStates{f.rt}.Collect(ch)
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		must(t, m.Write(&d))
		got[d.GetLabel()[0].GetValue()] = d.GetGauge().GetValue()
	}
	want := map[string]float64{"running": 0, "paused": 1, "alive": 1, "expired": 0, "exited": 0}
	for state, n := range want {
		if v, ok := got[state]; !ok || v != n {
			t.Errorf("msgflo_participants{state=%q} = %v (present %v), want %v; overview %+v", state, v, ok, n, f.rt.Overview(context.Background()).Participants)
		}
	}
}
