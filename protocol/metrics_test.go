package protocol

import (
	"fmt"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/msgflo/msgflo-runtime/metrics"
)

func withMetrics(public bool) harnessOption {
	return func(o *Options) { o.Metrics, o.MetricsPublic = metrics.New(), public }
}

// scrape fetches /metrics with the header (if any) and parses it with
// Prometheus's own text parser.
func (h *harness) scrape(query, auth string) (int, map[string]*dto.MetricFamily) {
	h.t.Helper()
	req, err := http.NewRequest("GET", "http://"+h.addr+"/metrics"+query, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		h.t.Fatalf("parse /metrics: %v", err)
	}
	return resp.StatusCode, fams
}

// value is the value of the series of family name whose labels include
// want (counter, gauge, or a histogram's count); ok false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// 1,000 messages pass through a two-node graph of in-process participants;
// /metrics (parsed by Prometheus's parser) counts them per node and port,
// times them, counts the protocol messages by command and the graph edits,
// and needs the secret.
func TestMetricsCountMessagesThroughAGraph(t *testing.T) {
	h := newHarness(t, withSecret("s3cret"), withMetrics(false))
	c := h.connect()
	do := func(protocol, command, payload, reply string) {
		c.send(protocol, command, obj(payload))
		c.waitFor(protocol, reply, nil)
	}
	c.request("runtime", "getruntime", obj(`{"secret":"s3cret"}`), "runtime")
	do("graph", "clear", `{"id":"g","secret":"s3cret"}`, "clear")
	for _, n := range []string{"a", "b"} {
		do("graph", "addnode", `{"graph":"g","id":"`+n+`","component":"core/Repeat","secret":"s3cret"}`, "addnode")
	}
	do("graph", "addedge", `{"graph":"g","src":{"node":"a","port":"out"},"tgt":{"node":"b","port":"in"},"secret":"s3cret"}`, "addedge")
	do("graph", "addinport", `{"graph":"g","public":"in","node":"a","port":"in","secret":"s3cret"}`, "addinport")
	do("graph", "addoutport", `{"graph":"g","public":"out","node":"b","port":"out","secret":"s3cret"}`, "addoutport")
	do("network", "start", `{"graph":"g","secret":"s3cret"}`, "started")
	c.send("graph", "nonsense", obj(`{"secret":"s3cret"}`))
	c.waitFor("graph", "error", nil)

	const n = 1000
	for i := range n {
		c.send("runtime", "packet", obj(fmt.Sprintf(`{"graph":"g","port":"in","event":"data","payload":%d,"secret":"s3cret"}`, i)))
	}
	for range n {
		c.waitFor("runtime", "packet", func(m msg) bool { return m.payloadMap()["port"] == "out" })
	}

	if code, _ := h.scrape("", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without the secret: %d, want 401", code)
	}
	if code, _ := h.scrape("?secret=guess", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics with a wrong secret: %d, want 401", code)
	}
	// Never in the URL, where any page can put it (#19).
	if code, _ := h.scrape("?secret=s3cret", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics?secret=: %d, want 401", code)
	}
	_, fams := h.scrape("", "Bearer s3cret")
	for _, want := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"msgflo_participant_messages_processed_total", map[string]string{"graph": "g", "node": "a", "port": "in"}, n},
		{"msgflo_participant_messages_processed_total", map[string]string{"graph": "g", "node": "b", "port": "in"}, n},
		{"msgflo_participant_process_seconds", map[string]string{"graph": "g", "node": "b", "port": "in"}, n},
		{"msgflo_protocol_messages_total", map[string]string{"protocol": "runtime", "command": "packet"}, n},
		{"msgflo_protocol_messages_total", map[string]string{"protocol": "graph", "command": "unknown"}, 1},
		{"msgflo_protocol_errors_total", map[string]string{"protocol": "graph"}, 1},
		{"msgflo_graph_edits_total", nil, 6},
		{"msgflo_participants", map[string]string{"state": "running"}, 2},
		{"msgflo_clients_connected", nil, 1},
		{"msgflo_broker_connected", nil, 1},
		{"go_goroutines", nil, 1},
	} {
		got, ok := value(fams, want.name, want.labels)
		if !ok || got < want.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", want.name, want.labels, got, ok, want.min)
		}
	}
	if got, _ := value(fams, "msgflo_participant_messages_failed_total", nil); got != 0 {
		t.Errorf("failed messages: %v", got)
	}
}

// --metrics-public serves the metrics without the secret.
func TestMetricsPublic(t *testing.T) {
	h := newHarness(t, withSecret("s3cret"), withMetrics(true))
	code, fams := h.scrape("", "")
	if code != http.StatusOK {
		t.Fatalf("public /metrics: %d", code)
	}
	if _, ok := value(fams, "msgflo_broker_connected", nil); !ok {
		t.Fatal("no msgflo_broker_connected")
	}
}
