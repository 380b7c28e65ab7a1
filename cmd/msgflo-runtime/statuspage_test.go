package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// overview is the part of GET /status.json the tests look at.
type overview struct {
	ID     string `json:"id"`
	Broker string `json:"broker"`
	Graphs []struct {
		ID    string `json:"id"`
		Nodes []struct {
			ID      string `json:"id"`
			State   string `json:"state"`
			Inports []struct {
				Port  string `json:"port"`
				Depth struct {
					Ready int `json:"ready"`
				} `json:"depth"`
			} `json:"inports"`
		} `json:"nodes"`
		Edges []struct {
			Queue     string `json:"queue"`
			Processed *int   `json:"processed"`
			Depth     *struct {
				Ready     int `json:"ready"`
				Consumers int `json:"consumers"`
			} `json:"depth"`
		} `json:"edges"`
	} `json:"graphs"`
	Participants []struct {
		Role     string `json:"role"`
		State    string `json:"state"`
		PID      int    `json:"pid"`
		ExitCode *int   `json:"exit_code"`
	} `json:"participants"`
}

// getWithAuth GETs url with an Authorization header (none when empty).
func getWithAuth(t *testing.T, url, auth string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body
}

func getOverview(t *testing.T, base string) overview {
	t.Helper()
	code, body := getWithAuth(t, base+"/status.json", "Bearer "+testSecret)
	if code != http.StatusOK {
		t.Fatalf("/status.json: %d %s", code, body)
	}
	var o overview
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatalf("/status.json: %v\n%s", err, body)
	}
	return o
}

// eventually calls check until it returns "" (met) or the deadline
// passes. Polling: what is checked (participant states, queue depths) has
// no event a test could wait on.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		miss := check()
		if miss == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, miss)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// GET / is the status page (with msgflo's flowhub_url link), its files are
// embedded, and its data (GET /status.json) needs the secret; the link to
// the page with the secret is printed at start after the Flowhub link.
func TestStatusPageAndOverview(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "three.fbp", "a(core/Repeat) OUT -> IN b(core/Repeat) OUT -> IN c(core/Drop)\n")
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path)
	ws, _ := p.ready(t)
	base := "http" + strings.TrimPrefix(ws, "ws")
	p.flowhubLink(t)
	third, err := p.stdout.ReadString('\n')
	if want := "Status page: " + base + "/#secret=" + testSecret + "\n"; err != nil || third != want {
		t.Fatalf("third line %q (%v), want %q", third, err, want)
	}

	page := httpGet(t, base+"/")
	for _, want := range []string{`id="flowhub_url"`, `src="/status/status.js"`, `href="/status/status.css"`} {
		if !strings.Contains(page, want) {
			t.Errorf("GET / lacks %s", want)
		}
	}
	for _, file := range []string{"status.js", "status.css"} {
		if code, body := getWithAuth(t, base+"/status/"+file, ""); code != http.StatusOK || len(body) == 0 {
			t.Errorf("/status/%s: %d", file, code)
		}
	}
	for _, auth := range []string{"", "Bearer guess"} {
		if code, body := getWithAuth(t, base+"/status.json", auth); code != http.StatusUnauthorized || strings.Contains(string(body), "graphs") {
			t.Errorf("/status.json with %q: %d %s", auth, code, body)
		}
	}
	eventually(t, "three running nodes, two edges", func() string {
		o := getOverview(t, base)
		if len(o.Graphs) != 1 || o.Graphs[0].ID != "three" || len(o.Graphs[0].Nodes) != 3 || len(o.Graphs[0].Edges) != 2 {
			return fmt.Sprintf("graphs %+v", o.Graphs)
		}
		for _, n := range o.Graphs[0].Nodes {
			if n.State != "running" {
				return fmt.Sprintf("node %s is %s", n.ID, n.State)
			}
		}
		for _, e := range o.Graphs[0].Edges {
			if e.Processed == nil {
				return "no message count on an edge to an in-process participant"
			}
		}
		if len(o.Participants) != 3 {
			return fmt.Sprintf("participants %+v", o.Participants)
		}
		return ""
	})
	p.signalAndWait(t, syscall.SIGTERM)
}

// scrape fetches /metrics with the secret and parses it with Prometheus's
// own text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := getWithAuth(t, base+"/metrics", "Bearer "+testSecret)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// gauge is the value of the series of family name with exactly these labels.
func gauge(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(labels) {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// While a graph is stopped its in-process participants are paused: what is
// sent to them waits in their inport queues, and /metrics and the status
// page show the queue filling; started again, it drains.
func TestQueueDepthRisesWhileParticipantPaused(t *testing.T) {
	t.Parallel()
	url := brokertest.RabbitMQURL(t)
	suffix := strings.ReplaceAll(uuid.New()[:8], "-", "")
	first, second := "qdfirst"+suffix, "qdsecond"+suffix
	path := writeFile(t, "depth.fbp", fmt.Sprintf("%s(core/Repeat) OUT -> IN %s(core/Drop)\n", first, second))
	p := start(t, []string{"MSGFLO_BROKER=" + url}, "--port", "0", "--graph", path)
	ws, _ := p.ready(t)
	base := "http" + strings.TrimPrefix(ws, "ws")
	t.Cleanup(func() { deleteQueues(url, first, second) })
	labels := map[string]string{"graph": "depth", "node": first, "port": "in"}

	eventually(t, "the first node consumes its queue", func() string {
		if n, ok := gauge(scrape(t, base), "msgflo_inport_queue_consumers", labels); !ok || n != 1 {
			return fmt.Sprintf("msgflo_inport_queue_consumers%v = %v (present %v)", labels, n, ok)
		}
		return ""
	})
	c := connectFBP(t, ws)
	c.send("network", "stop", map[string]any{"graph": "depth"})
	c.waitFor("network", "stopped", nil)

	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// More than the participant's prefetch, so that some must wait in the queue.
	const sent = 300
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range sent {
		if err := ch.PublishWithContext(ctx, "", first+".IN", false, false, amqp.Publishing{ContentType: "application/json", Body: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "messages wait in the paused participant's queue", func() string {
		n, _ := gauge(scrape(t, base), "msgflo_inport_queue_messages_ready", labels)
		o := getOverview(t, base)
		if n == 0 || len(o.Graphs) != 1 || len(o.Graphs[0].Edges) != 1 {
			return fmt.Sprintf("messages ready %v; overview %+v", n, o.Graphs)
		}
		// The status page shows them in front of the node.
		if in := o.Graphs[0].Nodes[0].Inports; o.Graphs[0].Nodes[0].ID != first || len(in) != 1 || in[0].Depth.Ready == 0 {
			return fmt.Sprintf("overview's first node %+v", o.Graphs[0].Nodes[0])
		}
		return ""
	})
	for _, n := range getOverview(t, base).Graphs[0].Nodes {
		if n.State != "paused" {
			t.Errorf("node %s of the stopped graph is %s, want paused", n.ID, n.State)
		}
	}
	c.send("network", "start", map[string]any{"graph": "depth"})
	c.waitFor("network", "started", nil)
	eventually(t, "the queue drains once the graph is started", func() string {
		fams := scrape(t, base)
		n, ok := gauge(fams, "msgflo_inport_queue_messages_ready", labels)
		o := getOverview(t, base)
		if !ok || n != 0 {
			return fmt.Sprintf("messages ready %v (present %v)", n, ok)
		}
		if e := o.Graphs[0].Edges[0]; e.Processed == nil || *e.Processed != sent || e.Depth == nil || e.Depth.Ready != 0 {
			return fmt.Sprintf("edge %+v", e)
		}
		return ""
	})
	p.signalAndWait(t, syscall.SIGTERM)
}
