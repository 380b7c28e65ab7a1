package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/msgflo/msgflo-runtime/internal/jsontext"
)

// The JSON graph format is the one NoFlo, fbp-graph, Flowhub and msgflo use:
// properties, inports, outports, groups, processes, connections (IIPs are
// connections with "data" instead of "src").

type jsonEndpoint struct {
	Process string `json:"process"`
	Port    string `json:"port"`
	Index   any    `json:"index,omitempty"`
}

type jsonConnection struct {
	Src      *jsonEndpoint   `json:"src,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Tgt      jsonEndpoint    `json:"tgt"`
	Metadata Metadata        `json:"metadata,omitzero"`
	// hasData distinguishes an IIP from an edge.
	hasData bool
}

func (c jsonConnection) MarshalJSON() ([]byte, error) {
	type edge struct {
		Src      *jsonEndpoint `json:"src"`
		Tgt      jsonEndpoint  `json:"tgt"`
		Metadata Metadata      `json:"metadata,omitzero"`
	}
	type iip struct {
		Data     json.RawMessage `json:"data"`
		Tgt      jsonEndpoint    `json:"tgt"`
		Metadata Metadata        `json:"metadata,omitzero"`
	}
	if c.hasData {
		// The IIP's JSON text as it is (json.Marshal would escape <, >
		// and & in it).
		return jsontext.Marshal(iip{Data: c.Data, Tgt: c.Tgt, Metadata: c.Metadata})
	}
	return json.Marshal(edge{Src: c.Src, Tgt: c.Tgt, Metadata: c.Metadata})
}

type jsonExport struct {
	Process  string   `json:"process"`
	Port     string   `json:"port"`
	Metadata Metadata `json:"metadata,omitzero"`
}

type jsonProcess struct {
	Component string   `json:"component"`
	Metadata  Metadata `json:"metadata,omitzero"`
}

type jsonGroup struct {
	Name     string   `json:"name"`
	Nodes    []string `json:"nodes"`
	Metadata Metadata `json:"metadata,omitzero"`
}

type jsonGraph struct {
	CaseSensitive bool                   `json:"caseSensitive"`
	Properties    map[string]any         `json:"properties"`
	Inports       map[string]jsonExport  `json:"inports"`
	Outports      map[string]jsonExport  `json:"outports"`
	Groups        []jsonGroup            `json:"groups"`
	Processes     map[string]jsonProcess `json:"processes"`
	Connections   []jsonConnection       `json:"connections"`
}

func toJSONEndpoint(e Endpoint) jsonEndpoint {
	return jsonEndpoint{Process: e.Node, Port: e.Port, Index: e.Index}
}

// MarshalJSON writes the graph in the JSON graph format, deterministically:
// processes and exported ports by name, edges sorted by source then target,
// IIPs after the edges sorted by target (IIPs to one port keep their order).
func (g *Graph) MarshalJSON() ([]byte, error) {
	props := make(map[string]any, len(g.Properties)+5)
	for k, v := range g.Properties {
		props[k] = v
	}
	props["name"] = g.Name
	if g.Name == "" {
		props["name"] = g.ID
	}
	if g.ID != "" && g.ID != props["name"] {
		props["id"] = g.ID
	}
	setIf := func(key, val string) {
		if val != "" {
			props[key] = val
		}
	}
	setIf("library", g.Library)
	setIf("icon", g.Icon)
	setIf("description", g.Description)
	if g.Main {
		props["main"] = true
	}

	jg := jsonGraph{
		Properties:  props,
		Inports:     map[string]jsonExport{},
		Outports:    map[string]jsonExport{},
		Groups:      []jsonGroup{},
		Processes:   map[string]jsonProcess{},
		Connections: []jsonConnection{},
	}
	for _, p := range g.Inports {
		jg.Inports[p.Public] = jsonExport{Process: p.Node, Port: p.Port, Metadata: p.Metadata}
	}
	for _, p := range g.Outports {
		jg.Outports[p.Public] = jsonExport{Process: p.Node, Port: p.Port, Metadata: p.Metadata}
	}
	for _, grp := range g.Groups {
		nodes := grp.Nodes
		if nodes == nil {
			nodes = []string{}
		}
		jg.Groups = append(jg.Groups, jsonGroup{Name: grp.Name, Nodes: nodes, Metadata: grp.Metadata})
	}
	for _, n := range g.Nodes {
		jg.Processes[n.ID] = jsonProcess{Component: n.Component, Metadata: n.Metadata}
	}
	edges := make([]*Edge, len(g.Edges))
	copy(edges, g.Edges)
	sort.SliceStable(edges, func(i, j int) bool {
		return edgeKey(edges[i]) < edgeKey(edges[j])
	})
	for _, e := range edges {
		src := toJSONEndpoint(e.Src)
		jg.Connections = append(jg.Connections, jsonConnection{Src: &src, Tgt: toJSONEndpoint(e.Tgt), Metadata: e.Metadata})
	}
	iips := make([]*IIP, len(g.IIPs))
	copy(iips, g.IIPs)
	sort.SliceStable(iips, func(i, j int) bool {
		return endpointKey(iips[i].Tgt) < endpointKey(iips[j].Tgt)
	})
	for _, i := range iips {
		jg.Connections = append(jg.Connections, jsonConnection{Data: i.Data, hasData: true, Tgt: toJSONEndpoint(i.Tgt), Metadata: i.Metadata})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(jg); err != nil {
		return nil, fmt.Errorf("encode graph %s: %w", g.ID, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func endpointKey(e Endpoint) string {
	idx := ""
	if e.Index != nil {
		idx = fmt.Sprint(e.Index)
	}
	return e.Node + "\x00" + strings.ToUpper(e.Port) + "\x00" + idx
}

func edgeKey(e *Edge) string { return endpointKey(e.Src) + "\x01" + endpointKey(e.Tgt) }

// UnmarshalJSON reads a graph in the JSON graph format. Unknown properties
// are kept in Properties.
func (g *Graph) UnmarshalJSON(data []byte) error {
	var raw struct {
		Properties  map[string]any `json:"properties"`
		Inports     map[string]jsonExport
		Outports    map[string]jsonExport
		Groups      []jsonGroup
		Processes   json.RawMessage
		Connections []json.RawMessage
	}
	if err := decodeNumbers(data, &raw); err != nil {
		return fmt.Errorf("read JSON graph: %w", err)
	}
	out := Graph{}
	out.readProperties(raw.Properties)
	// Nodes keep the file's order of processes.
	if err := eachMember(raw.Processes, out.readProcess); err != nil {
		return err
	}
	for i, rc := range raw.Connections {
		if err := out.readConnection(i, rc); err != nil {
			return err
		}
	}
	if err := out.readExports(In, raw.Inports); err != nil {
		return err
	}
	if err := out.readExports(Out, raw.Outports); err != nil {
		return err
	}
	for _, grp := range raw.Groups {
		if _, err := out.AddGroup(grp.Name, grp.Nodes, normalizeMetadata(grp.Metadata)); err != nil {
			return fmt.Errorf("read JSON graph: group %q: %w", grp.Name, err)
		}
	}
	*g = out
	return nil
}

// decodeNumbers decodes JSON keeping numbers as json.Number (the graph's
// numbers are then normalized as plain decoding would make them).
func decodeNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// readProperties sets the graph's known properties (when of their type)
// and keeps the others.
func (g *Graph) readProperties(props map[string]any) {
	g.Properties = map[string]any{}
	for k, v := range props {
		s, isString := v.(string)
		switch {
		case k == "name" && isString:
			g.Name = s
		case k == "id" && isString:
			g.ID = s
		case k == "library" && isString:
			g.Library = s
		case k == "icon" && isString:
			g.Icon = s
		case k == "description" && isString:
			g.Description = s
		case k == "main":
			g.Main, _ = v.(bool)
		default:
			g.Properties[k] = normalizeNumbers(v)
		}
	}
	if len(g.Properties) == 0 {
		g.Properties = nil
	}
	if g.ID == "" {
		g.ID = g.Name
	}
}

// readProcess adds the node of a member of "processes".
func (g *Graph) readProcess(id string, value json.RawMessage) error {
	var p jsonProcess
	if err := decodeNumbers(value, &p); err != nil {
		return fmt.Errorf("read JSON graph: process %q: %w", id, err)
	}
	if _, err := g.AddNode(id, p.Component, normalizeMetadata(p.Metadata)); err != nil {
		return fmt.Errorf("read JSON graph: process %q: %w", id, err)
	}
	return nil
}

// readConnection adds the edge or the initial packet of connection i.
func (g *Graph) readConnection(i int, rc json.RawMessage) error {
	var c struct {
		Src      *jsonEndpoint   `json:"src"`
		Data     json.RawMessage `json:"data"`
		Tgt      *jsonEndpoint   `json:"tgt"`
		Metadata Metadata        `json:"metadata"`
	}
	if err := decodeNumbers(rc, &c); err != nil {
		return fmt.Errorf("read JSON graph: connection %d: %w", i, err)
	}
	if c.Tgt == nil {
		return fmt.Errorf("read JSON graph: connection %d has no tgt", i)
	}
	tgt := Endpoint{Node: c.Tgt.Process, Port: c.Tgt.Port, Index: normalizeNumbers(c.Tgt.Index)}
	md := normalizeMetadata(c.Metadata)
	var err error
	switch {
	case c.Src != nil:
		src := Endpoint{Node: c.Src.Process, Port: c.Src.Port, Index: normalizeNumbers(c.Src.Index)}
		_, err = g.AddEdge(src, tgt, md)
	case c.Data != nil:
		// The data's JSON text is kept as written (compacted).
		_, err = g.AddInitial(c.Data, tgt, md)
	default:
		return fmt.Errorf("read JSON graph: connection %d has neither src nor data", i)
	}
	if err != nil {
		return fmt.Errorf("read JSON graph: connection %d: %w", i, err)
	}
	return nil
}

// readExports adds the exported ports of "inports" or "outports", in the
// order of their public names.
func (g *Graph) readExports(kind PortKind, ports map[string]jsonExport) error {
	publics := make([]string, 0, len(ports))
	for p := range ports {
		publics = append(publics, p)
	}
	sort.Strings(publics)
	for _, pub := range publics {
		p := ports[pub]
		if _, err := g.AddExported(kind, pub, p.Process, p.Port, normalizeMetadata(p.Metadata)); err != nil {
			return fmt.Errorf("read JSON graph: %s %q: %w", kind, pub, err)
		}
	}
	return nil
}

// eachMember calls fn for the members of a JSON object, in their order (a
// later member of the same name replaces the earlier one, as for a map).
func eachMember(raw json.RawMessage, fn func(key string, value json.RawMessage) error) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("read JSON graph: processes is not an object")
	}
	var keys []string
	values := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read JSON graph: processes: %w", err)
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("read JSON graph: process %q: %w", key, err)
		}
		if _, seen := values[key]; !seen {
			keys = append(keys, key)
		}
		values[key] = v
	}
	for _, k := range keys {
		if err := fn(k, values[k]); err != nil {
			return err
		}
	}
	return nil
}

// normalizeNumbers turns json.Number values into float64 like plain
// encoding/json decoding does, so graphs read from files and from the wire
// compare equal.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
		return x
	default:
		return v
	}
}

func normalizeMetadata(m Metadata) Metadata {
	if m == nil {
		return nil
	}
	for k, v := range m {
		m[k] = normalizeNumbers(v)
	}
	return m
}
