package network

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDiscoveryRoundTrip(t *testing.T) {
	def := Definition{
		ID: "rep-1", Role: "rep", Component: "core/Repeat", Label: "Repeats", Icon: "forward",
		Inports:  []Port{{ID: "in", Queue: "rep.IN", Type: "any", Description: "data", Hidden: true}},
		Outports: []Port{{ID: "out", Queue: "rep.OUT", Type: "object", Options: map[string]any{"k": "v"}}},
	}
	msg, err := EncodeDiscovery(def)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), `{"protocol":"discovery","command":"participant","payload":{"id":"rep-1","role":"rep"`) {
		t.Fatalf("envelope %s", msg)
	}
	got, err := DecodeDiscovery(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != def.ID || got.Role != def.Role || got.Component != def.Component || got.Label != def.Label || got.Icon != def.Icon ||
		len(got.Inports) != 1 || !reflect.DeepEqual(got.Inports[0], def.Inports[0]) || len(got.Outports) != 1 || got.Outports[0].Options["k"] != "v" {
		t.Fatalf("round trip: %+v", got)
	}
}

// Every way a discovery message can be wrong is refused with
// ErrBadDiscovery and a message saying what is wrong.
func TestDecodeDiscoveryRefuses(t *testing.T) {
	const ports = `"inports":[],"outports":[]`
	for name, tc := range map[string]struct{ msg, want string }{
		"not json":         {`{`, "invalid discovery message: unexpected end"},
		"other protocol":   {`{"protocol":"runtime","command":"participant","payload":{}}`, `protocol "runtime" command "participant", want discovery participant`},
		"other command":    {`{"protocol":"discovery","command":"other","payload":{}}`, `protocol "discovery" command "other"`},
		"payload array":    {`{"protocol":"discovery","command":"participant","payload":[]}`, "payload: json: cannot unmarshal array"},
		"no id":            {`{"protocol":"discovery","command":"participant","payload":{"role":"r","component":"c",` + ports + `}}`, `payload misses "id"`},
		"no role":          {`{"protocol":"discovery","command":"participant","payload":{"id":"i","component":"c",` + ports + `}}`, `payload misses "role"`},
		"no component":     {`{"protocol":"discovery","command":"participant","payload":{"id":"i","role":"r",` + ports + `}}`, `payload misses "component"`},
		"no inports":       {`{"protocol":"discovery","command":"participant","payload":{"id":"i","role":"r","component":"c","outports":[]}}`, `payload misses "inports"`},
		"null outports":    {`{"protocol":"discovery","command":"participant","payload":{"id":"i","role":"r","component":"c","inports":[],"outports":null}}`, `payload misses "outports"`},
		"id not a string":  {`{"protocol":"discovery","command":"participant","payload":{"id":5,"role":"r","component":"c",` + ports + `}}`, "payload: json: cannot unmarshal number"},
		"empty role":       {`{"protocol":"discovery","command":"participant","payload":{"id":"i","role":"","component":"c",` + ports + `}}`, "id, role and component must be non-empty strings"},
		"empty component":  {`{"protocol":"discovery","command":"participant","payload":{"id":"i","role":"r","component":"",` + ports + `}}`, "id, role and component must be non-empty strings"},
		"inport sans id":   {`{"protocol":"discovery","command":"participant","payload":{"id":"i","role":"r","component":"c","inports":[{"queue":"q"}],"outports":[]}}`, "participant i has a port without id"},
		"outport sans id":  {`{"protocol":"discovery","command":"participant","payload":{"id":"i","role":"r","component":"c","inports":[{"id":"in"}],"outports":[{"id":""}]}}`, "participant i has a port without id"},
		"payload not JSON": {`{"protocol":"discovery","command":"participant","payload":"x"}`, "payload: json: cannot unmarshal string"},
	} {
		_, err := DecodeDiscovery([]byte(tc.msg))
		if !errors.Is(err, ErrBadDiscovery) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrBadDiscovery saying %q", name, err, tc.want)
		}
	}
}

func TestPortLookup(t *testing.T) {
	d := Definition{
		Inports:  []Port{{ID: "In", Queue: "fold"}, {ID: "in", Queue: "exact"}},
		Outports: []Port{{ID: "OUT", Queue: "out"}},
	}
	if p, ok := d.Inport("in"); !ok || p.Queue != "exact" {
		t.Fatalf("exact match should win: %+v %v", p, ok)
	}
	if p, ok := d.Inport("IN"); !ok || p.Queue != "fold" {
		t.Fatalf("case-insensitive match: %+v %v", p, ok)
	}
	if p, ok := d.Outport("out"); !ok || p.Queue != "out" {
		t.Fatalf("outport: %+v %v", p, ok)
	}
	if _, ok := d.Outport("in"); ok {
		t.Fatal("found an inport among the outports")
	}
	if _, ok := d.Inport("nope"); ok {
		t.Fatal("found a port that does not exist")
	}
	if q := QueueName("role", "outPort"); q != "role.OUTPORT" {
		t.Fatalf("QueueName: %s", q)
	}
}

// A password is never shown, even in a URL that does not parse (a stray
// '%' or a space in it): url.Parse's error would quote it whole.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"amqp://guest:secret@host:5672/vh":            "amqp://guest:xxxxx@host:5672/vh",
		"mqtt://user@host:1883":                       "mqtt://user@host:1883",
		"mqtt://host:1883":                            "mqtt://host:1883",
		"::not a url":                                 "::not a url",
		"amqp://guest:pa%ss@host:5672/":               "amqp://xxxxx@host:5672/",
		"amqp://guest:pa ss word@host/":               "amqp://xxxxx@host/",
		"amqp://u:p@ss%zz@host/":                      "amqp://xxxxx@host/",
		"amqp://u:a@h1:5681/v, amqp://u:b@h2:5682/v,": "amqp://u:xxxxx@h1:5681/v,amqp://u:xxxxx@h2:5682/v",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	raw := "amqp://guest:pa%ss@host/"
	_, perr := url.Parse(raw)
	if err := BrokerURLError(raw, perr); strings.Contains(err.Error(), "pa%ss") || !strings.Contains(err.Error(), "invalid URL escape") {
		t.Errorf("BrokerURLError: %v", err)
	}
}

// A participant is expired only once it has been silent for longer than
// the expiry: exactly the expiry is still alive.
func TestExpiryBoundary(t *testing.T) {
	r := NewParticipantRegistry()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Upsert(Definition{ID: "a-1", Role: "a", Component: "c"}, t0)
	if gone := r.Expire(t0.Add(time.Minute), time.Minute); len(gone) != 0 {
		t.Fatalf("expired at exactly the expiry: %v", gone)
	}
	if gone := r.Expire(t0.Add(time.Minute+time.Nanosecond), time.Minute); len(gone) != 1 || gone[0].ID != "a-1" {
		t.Fatalf("not expired after the expiry: %v", gone)
	}
	if _, ok := r.Get("a-1"); ok {
		t.Fatal("an expired participant is still in the registry")
	}
}

// The registry lists participants by id, whatever the order they came in.
func TestRegistryListsByID(t *testing.T) {
	r := NewParticipantRegistry()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"b-1", "a-2", "c-1", "a-1"} {
		r.Upsert(Definition{ID: id, Role: id[:1], Component: "c"}, t0)
	}
	var ids []string
	for _, e := range r.All() {
		ids = append(ids, e.Definition.ID)
	}
	if strings.Join(ids, ",") != "a-1,a-2,b-1,c-1" {
		t.Fatalf("All: %v", ids)
	}
	ids = nil
	for _, e := range r.ByRole("a") {
		ids = append(ids, e.Definition.ID)
	}
	if strings.Join(ids, ",") != "a-1,a-2" {
		t.Fatalf("ByRole: %v", ids)
	}
	var gone []string
	for _, d := range r.Expire(t0.Add(time.Hour), time.Minute) {
		gone = append(gone, d.ID)
	}
	if strings.Join(gone, ",") != "a-1,a-2,b-1,c-1" {
		t.Fatalf("Expire: %v", gone)
	}
}

// announcement builds a discovery message of def, whatever it holds.
func announcement(t *testing.T, def Definition) []byte {
	t.Helper()
	msg, err := EncodeDiscovery(def)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func ports(n int, role, desc string) []Port {
	ps := make([]Port, n)
	for i := range ps {
		id := fmt.Sprintf("p%d", i)
		ps[i] = Port{ID: id, Queue: QueueName(role, id), Type: "any", Description: desc}
	}
	return ps
}

// Announcements past the limits, or with names the broker cannot use,
// are refused with an error naming the sender, quoted and cut.
func TestDecodeDiscoveryLimits(t *testing.T) {
	base := func(mod func(d *Definition)) Definition {
		d := Definition{ID: "e1", Role: "x", Component: "c", Inports: []Port{}, Outports: []Port{}}
		mod(&d)
		return d
	}
	for _, tc := range []struct {
		name  string
		def   Definition
		rules NameRules
		want  string // "" = accepted
	}{
		{"the most a real one needs", base(func(d *Definition) {
			d.Inports, d.Outports = ports(MaxPorts, "x", strings.Repeat("d", 200)), ports(MaxPorts, "x", "")
			d.Label = "line one\nline\ttwo"
		}), AnyBroker, ""},
		{"300 inports", base(func(d *Definition) { d.Inports = ports(300, "x", "") }), AnyBroker, `participant "e1": 300 inports, over the limit of 256`},
		{"300 outports", base(func(d *Definition) { d.Outports = ports(300, "x", "") }), AnyBroker, `participant "e1": 300 outports`},
		{"too big", base(func(d *Definition) { d.Label = strings.Repeat("a", MaxDiscoveryBytes) }), AnyBroker, `participant "e1": 262`},
		{"long text", base(func(d *Definition) { d.Inports = ports(1, "x", strings.Repeat("d", MaxTextBytes+1)) }), AnyBroker, "over the limit of 16384"},
		{"long id", base(func(d *Definition) { d.ID = strings.Repeat("i", 300) }), AnyBroker, `participant "` + strings.Repeat("i", 64) + `"...: name`},
		{"control character in id", base(func(d *Definition) { d.ID = "e\x1b[2J" }), AnyBroker, `participant "e\x1b[2J": name "e\x1b[2J": control character U+001B`},
		{"control character in a port id", base(func(d *Definition) { d.Inports = []Port{{ID: "in\n"}} }), AnyBroker, `control character U+000A`},
		{"capabilities", base(func(d *Definition) { d.Capabilities = make([]string, 65) }), AnyBroker, "65 capabilities"},
		{"amq. role on AMQP", base(func(d *Definition) { d.Role = "amq.x" }), AMQPNames, `queue "amq.x" cannot be used on this broker: starts with "amq."`},
		{"wildcard queue on MQTT", base(func(d *Definition) { d.Inports = []Port{{ID: "in", Queue: "#"}} }), MQTTNames, `queue "#" cannot be used on this broker: has an MQTT wildcard`},
		{"wildcard outqueue", base(func(d *Definition) { d.Outqueue = "a/+/b" }), MQTTNames, "MQTT wildcard"},
		{"wildcard in a role on any broker", base(func(d *Definition) { d.Role = "a+b" }), AnyBroker, "MQTT wildcard"},
		{"wildcard in a role on AMQP", base(func(d *Definition) { d.Role = "a+b" }), AMQPNames, ""},
		{"amq. on MQTT", base(func(d *Definition) { d.Role = "amq.x" }), MQTTNames, ""},
		{"long queue", base(func(d *Definition) { d.Inports = []Port{{ID: "in", Queue: strings.Repeat("q", 256)}} }), MQTTNames, "over the limit of 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeDiscoveryFor(announcement(t, tc.def), tc.rules)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.Is(err, ErrBadDiscovery) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want ErrBadDiscovery saying %s", err, tc.want)
			}
		})
	}
}

func TestNameRules(t *testing.T) {
	long := strings.Repeat("q", 256)
	for _, tc := range []struct {
		name              string
		amqp, mqtt, every bool // accepted by each
	}{
		{"role.IN", true, true, true},
		{"a/b.OUT", true, true, true},
		{"", false, false, false},
		{long, false, true, false},
		{"amq.gen-1", false, true, false},
		{"a+b", true, false, false},
		{"x/#", true, false, false},
		{"nul\x00", true, false, false},
		{strings.Repeat("q", 65536), false, false, false},
	} {
		for _, r := range []struct {
			rules NameRules
			want  bool
		}{{AMQPNames, tc.amqp}, {MQTTNames, tc.mqtt}, {AnyBroker, tc.every}} {
			if err := r.rules.CheckName(tc.name); (err == nil) != r.want {
				t.Errorf("%q: got %v, want accepted %v", tc.name, err, r.want)
			}
		}
	}
}
