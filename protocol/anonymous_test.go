package protocol

import "testing"

// untilRuntime returns what c receives up to and including the answer to
// a getruntime it sends now: every broadcast made before it.
func (c *wsClient) untilRuntime() []msg {
	c.t.Helper()
	c.send("runtime", "getruntime", map[string]any{})
	var got []msg
	for {
		m := c.next()
		got = append(got, m)
		if m.Protocol == "runtime" && m.Command == "runtime" {
			return got
		}
	}
}

// #19 "A client without the secret sees the network's errors": it receives
// nothing but runtime:runtime, whatever the clients with the secret do and
// whatever goes wrong. Seen failing before: network:error went to every
// client, naming graphs, nodes and components.
func TestWithoutTheSecretOnlyRuntimeRuntime(t *testing.T) {
	h := newHarness(t, withSecret("s3cret"))
	anon := h.connect()
	anon.untilRuntime()
	full := h.connect()
	full.request("runtime", "getruntime", obj(`{"secret":"s3cret"}`), "runtime")
	for _, g := range []struct{ id, component string }{{"g1", "core/Repeat"}, {"g2", "core/Drop"}} {
		full.request("graph", "clear", obj(`{"id":"`+g.id+`","secret":"s3cret"}`), "clear")
		full.request("graph", "addnode", obj(`{"graph":"`+g.id+`","id":"x","component":"`+g.component+`","secret":"s3cret"}`), "addnode")
	}
	full.waitFor("network", "error", nil)
	full.send("graph", "addnode", obj(`{"graph":"nosuch","id":"y","component":"core/Drop","secret":"s3cret"}`))
	full.waitFor("graph", "error", nil)

	for _, m := range anon.untilRuntime() {
		if m.Protocol != "runtime" || m.Command != "runtime" {
			t.Errorf("a client without the secret got %s", m.Text)
		}
	}
	// A client that comes later, when there are problems to report.
	late := h.connect()
	for _, m := range late.untilRuntime() {
		if m.Protocol != "runtime" || m.Command != "runtime" {
			t.Errorf("a client without the secret got %s", m.Text)
		}
	}
}
