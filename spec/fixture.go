package spec

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// command is one protocol message of a graph upload. Its payload is the
// ordered object fbp-client sends (the same members, in its order, with
// fbp-graph's values), not a protocol/wire type, which would drop the
// empty icon and description and reorder metadata.
type command struct {
	protocol, command string
	payload           *Object
}

func (c command) Protocol() string { return c.protocol }
func (c command) Command() string  { return c.command }

// MarshalJSON is the payload.
func (c command) MarshalJSON() ([]byte, error) { return c.payload.MarshalJSON() }

// component is what component:list says of a component.
type component = wire.Component

// fixtureGraph returns the suite's fixture as a JSON graph (fbp-spec's
// getFixtureGraph): parsed FBP, JSON, or synthesized from the topic.
func fixtureGraph(s *Suite, components map[string]component) (*Object, error) {
	if s.Fixture == nil {
		return synthesize(s.Topic, components)
	}
	var v any
	var err error
	switch s.Fixture.Type {
	case "json":
		v, err = decodeJSON([]byte(s.Fixture.Data))
	case "fbp":
		var data []byte
		if data, err = graph.ParseFBP(s.Fixture.Data); err == nil {
			v, err = decodeJSON(data)
		}
	default:
		return nil, fmt.Errorf("Unknown fixture type %s", s.Fixture.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	o, ok := v.(*Object)
	if !ok {
		return nil, fmt.Errorf("fixture: the graph is not a JSON object")
	}
	return o, nil
}

// synthesize is a graph of one node, testee, running the topic component
// with all its ports exported under their names.
func synthesize(topic string, components map[string]component) (*Object, error) {
	c, ok := components[topic]
	if !ok {
		return nil, fmt.Errorf("Could not find component for topic: %s", topic)
	}
	g := NewObject()
	g.Set("properties", NewObject())
	in, out := NewObject(), NewObject()
	for _, p := range c.InPorts {
		in.Set(p.ID, obj("process", "testee", "port", p.ID))
	}
	for _, p := range c.OutPorts {
		out.Set(p.ID, obj("process", "testee", "port", p.ID))
	}
	if len(out.Keys) == 0 {
		return nil, fmt.Errorf("Component '%s' used as fixture has no outports", topic)
	}
	if len(in.Keys) == 0 {
		return nil, fmt.Errorf("Component '%s' used as fixture has no inports", topic)
	}
	g.Set("inports", in)
	g.Set("outports", out)
	g.Set("processes", obj("testee", obj("component", topic)))
	g.Set("connections", []any{})
	return g, nil
}

// obj builds an object from key, value pairs.
func obj(kv ...any) *Object {
	o := NewObject()
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

func member(o *Object, key string) any {
	if o == nil {
		return nil
	}
	v, _ := o.Get(key)
	return v
}

func memberObject(o *Object, key string) *Object {
	m, _ := member(o, key).(*Object)
	return m
}

// graphID is the id fbp-spec gives the fixture: its name, else its id,
// else fixture.<10 random characters> (a new graph per run).
func graphID(g *Object) string {
	props := memberObject(g, "properties")
	for _, k := range []string{"name", "id"} {
		if v := member(props, k); jsTruthy(v) {
			return jsString(v)
		}
	}
	return "fixture." + randomString(10)
}

func randomString(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b strings.Builder
	for range n {
		i, _ := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		b.WriteByte(chars[i.Int64()])
	}
	return b.String()
}

// uploadCommands are the messages fbp-client's graph.send makes of the
// graph as fbp-graph's loadJSON reads it: port names lower-cased unless
// caseSensitive, edges and IIPs to missing nodes and repeated edges left
// out, exported ports of missing nodes left out. library is the runtime's
// namespace (nil: the runtime gave none).
func uploadCommands(g *Object, id string, library any) ([]command, error) {
	caseSensitive := jsTruthy(member(g, "caseSensitive"))
	portName := func(v any) string {
		s := ""
		if v != nil {
			s = jsString(v)
		}
		if caseSensitive {
			return s
		}
		return strings.ToLower(s)
	}
	props := memberObject(g, "properties")
	clear := obj("id", id, "name", id, "main", false)
	if lib := member(props, "library"); jsTruthy(lib) {
		clear.Set("library", lib)
	} else if library != nil {
		clear.Set("library", library)
	}
	clear.Set("icon", orEmpty(member(props, "icon")))
	clear.Set("description", orEmpty(member(props, "description")))
	cmds := []command{{"graph", "clear", clear}}

	nodes := map[string]bool{}
	if procs := memberObject(g, "processes"); procs != nil {
		for _, nid := range procs.jsKeys() {
			def := memberObject(procs, nid)
			md := member(def, "metadata")
			if !jsTruthy(md) {
				md = NewObject()
			}
			nodes[nid] = true
			cmds = append(cmds, command{"graph", "addnode", obj("id", nid, "component", member(def, "component"), "metadata", md, "graph", id)})
		}
	}
	edges, iips, err := connections(g, id, nodes, portName)
	if err != nil {
		return nil, err
	}
	cmds = append(append(cmds, edges...), iips...)
	for _, kind := range []string{"inports", "outports"} {
		cmds = append(cmds, exports(g, kind, id, nodes, portName)...)
	}
	return cmds, nil
}

func orEmpty(v any) any {
	if jsTruthy(v) {
		return v
	}
	return ""
}

func connections(g *Object, id string, nodes map[string]bool, portName func(any) string) (edges, iips []command, err error) {
	list, _ := member(g, "connections").([]any)
	seen := map[string]bool{}
	for i, c := range list {
		conn, _ := c.(*Object)
		tgt := memberObject(conn, "tgt")
		if tgt == nil {
			return nil, nil, fmt.Errorf("fixture: connection %d has no tgt", i)
		}
		md := member(conn, "metadata")
		if !jsTruthy(md) {
			md = NewObject()
		}
		tnode := jsString(member(tgt, "process"))
		if data, isIIP := conn.Get("data"); isIIP {
			if !nodes[tnode] {
				continue
			}
			to := obj("node", tnode, "port", portName(member(tgt, "port")))
			if idx, ok := member(tgt, "index").(float64); ok {
				to.Set("index", idx)
			}
			iips = append(iips, command{"graph", "addinitial", obj("src", obj("data", data), "tgt", to, "metadata", md, "graph", id)})
			continue
		}
		src := memberObject(conn, "src")
		if src == nil {
			continue
		}
		snode := jsString(member(src, "process"))
		from := obj("node", snode, "port", portName(member(src, "port")))
		to := obj("node", tnode, "port", portName(member(tgt, "port")))
		_, sIdx := member(src, "index").(float64)
		_, tIdx := member(tgt, "index").(float64)
		if sIdx || tIdx { // addEdgeIndex keeps both indexes as given
			for _, e := range [][2]*Object{{src, from}, {tgt, to}} {
				if idx := member(e[0], "index"); idx != nil {
					e[1].Set("index", idx)
				}
			}
		}
		key := show(from) + show(to)
		if seen[key] || !nodes[snode] || !nodes[tnode] {
			continue
		}
		seen[key] = true
		edges = append(edges, command{"graph", "addedge", obj("src", from, "tgt", to, "metadata", md, "graph", id)})
	}
	return edges, iips, nil
}

// exports are addinport / addoutport for the graph's exported ports: a
// public name lower-cased onto another keeps the first one's place and
// the last one's target.
func exports(g *Object, kind, id string, nodes map[string]bool, portName func(any) string) []command {
	ports := memberObject(g, kind)
	if ports == nil {
		return nil
	}
	byName := NewObject()
	for _, pub := range ports.jsKeys() {
		p := memberObject(ports, pub)
		if p == nil || !nodes[jsString(member(p, "process"))] {
			continue
		}
		byName.Set(portName(pub), obj("public", portName(pub), "node", jsString(member(p, "process")), "port", portName(member(p, "port")), "graph", id))
	}
	cmd := "add" + strings.TrimSuffix(kind, "s")
	var out []command
	for _, k := range byName.Keys {
		out = append(out, command{"graph", cmd, byName.Values[k].(*Object)})
	}
	return out
}

// componentsByName indexes component:list's components.
func componentsByName(list []wire.Component) map[string]component {
	out := map[string]component{}
	for _, c := range list {
		out[c.Name] = c
	}
	return out
}
