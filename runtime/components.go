package runtime

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
)

// component is an entry of the component library: a built-in the runtime
// can run in-process, or one learnt from a participant's announcement.
type component struct {
	name        string
	label       string
	description string
	icon        string
	inports     []network.Port
	outports    []network.Port
	// builtin is set for components the runtime runs in-process.
	builtin *participant.Component
	// discovered is the last announcement of a participant with this component.
	discovered *network.Definition
	// lib is the library's entry: how to start it, and its source file.
	lib *library.Component
}

func componentFromSDK(c *participant.Component) *component {
	conv := func(ports []participant.Port) []network.Port {
		out := make([]network.Port, 0, len(ports))
		for _, p := range ports {
			if p.Hidden {
				continue
			}
			out = append(out, network.Port{ID: p.ID, Type: p.Type, Description: p.Description})
		}
		return out
	}
	return &component{
		name:        c.Name,
		label:       c.Label,
		description: c.Description,
		icon:        c.Icon,
		inports:     conv(c.Inports),
		outports:    conv(c.Outports),
		builtin:     c,
	}
}

// catalog is the component library clients see: the built-in components
// (run in-process), the library's (started as participant processes, or
// uploaded with component:source) and those learnt from participants'
// announcements. It has its own lock, and is the only user of the library
// (which is not safe for concurrent use).
type catalog struct {
	lib *library.Library // nil: none
	// gen counts the changes of the library (the graphs' plans depend on
	// which components it starts).
	gen atomic.Uint64

	mu         sync.Mutex // guards components and the library
	components map[string]*component
}

func newCatalog(builtins []participant.Component, lib *library.Library) *catalog {
	c := &catalog{lib: lib, components: map[string]*component{}}
	for i := range builtins {
		c.components[builtins[i].Name] = componentFromSDK(&builtins[i])
	}
	if lib != nil {
		for _, lc := range lib.Components() {
			if _, builtin := c.components[lc.Name]; builtin {
				continue
			}
			// The command line is not shown: it may hold the library's
			// variables (keys, passwords).
			c.components[lc.Name] = &component{name: lc.Name, description: "participant started by the runtime", lib: lc}
		}
	}
	return c
}

// learn learns a component from an announcement; changed says clients
// should hear about it (new, or its ports changed), with payload.
func (cat *catalog) learn(def network.Definition) (payload wire.Component, changed bool) {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	c, ok := cat.components[def.Component]
	if !ok {
		c = &component{name: def.Component}
		cat.components[def.Component] = c
	}
	d := def
	c.discovered = &d
	if c.builtin != nil {
		// Built-ins keep their own definition; the announcement only
		// confirms a participant of it is up.
		return wire.Component{}, false
	}
	before := c.payload()
	c.label = def.Label
	c.description = def.Label
	c.icon = def.Icon
	c.inports = def.Inports
	c.outports = def.Outports
	after := c.payload()
	return after, !ok || !samePayload(before, after)
}

// forget forgets the components learnt from announcements that are not
// announced (any more) and not used (by a graph's node); built-in and
// library components stay.
func (cat *catalog) forget(announced, used map[string]bool) {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	for name, c := range cat.components {
		if c.builtin == nil && c.lib == nil && !announced[name] && !used[name] {
			delete(cat.components, name)
		}
	}
}

// list is the component list, sorted by name.
func (cat *catalog) list() []wire.Component {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	names := slices.Sorted(maps.Keys(cat.components))
	out := make([]wire.Component, 0, len(names))
	for _, n := range names {
		out = append(out, cat.components[n].payload())
	}
	return out
}

// builtin is the built-in component of that name (nil: none).
func (cat *catalog) builtin(name string) *participant.Component {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	if c, ok := cat.components[name]; ok {
		return c.builtin
	}
	return nil
}

// libraryComponent is the library's component of that name, when the
// library can start it (it has a command) and it is not built in.
func (cat *catalog) libraryComponent(name string) (*library.Component, bool) {
	if cat.lib == nil {
		return nil, false
	}
	cat.mu.Lock()
	defer cat.mu.Unlock()
	if c, ok := cat.components[name]; ok && c.builtin != nil {
		return nil, false
	}
	lc, ok := cat.lib.Get(name)
	if !ok || lc.Command == "" {
		return nil, false
	}
	return lc, true
}

// checkPort refuses a port node's component is known not to have.
func (cat *catalog) checkPort(n *graph.Node, port string, out bool) error {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	c, ok := cat.components[n.Component]
	if !ok {
		return nil
	}
	if has, known := c.hasPort(out, port); known && !has {
		kind := "inport"
		if out {
			kind = "outport"
		}
		return &graph.Error{Kind: graph.ErrInvalid, Msg: fmt.Sprintf("Component %s of node %s has no %s %s", n.Component, n.ID, kind, port)}
	}
	return nil
}

// portDef types an exported port from its node's component, when known.
func (cat *catalog) portDef(def wire.PortDef, component, port string, out bool) wire.PortDef {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	c, ok := cat.components[component]
	if !ok {
		return def
	}
	ports := c.inports
	if out {
		ports = c.outports
	}
	for _, cp := range ports {
		if strings.EqualFold(cp.ID, port) {
			if cp.Type != "" {
				def.Type = cp.Type
			}
			def.Description = cp.Description
		}
	}
	return def
}

// source is what component:getsource shows of a component: its library
// file (to read), or its definition as YAML.
func (cat *catalog) source(name string) (ComponentSource, error) {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	c, ok := cat.components[name]
	if !ok {
		return ComponentSource{}, fmt.Errorf("Component %s not found", name)
	}
	lib, short := splitName(name)
	if c.lib != nil && c.lib.File != "" {
		return ComponentSource{Kind: SourceFile, Source: wire.Source{Name: short, Library: lib, Language: c.lib.Language}, File: c.lib.File}, nil
	}
	return ComponentSource{Kind: SourceDefinition, Source: wire.Source{Name: short, Library: lib, Language: "yaml", Code: c.definitionYAML()}}, nil
}

// addFile adds a component file written into the library's directory;
// nil when no handler runs it.
func (cat *catalog) addFile(path string) (wire.Component, bool) {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	lc := cat.lib.AddFile(path)
	cat.gen.Add(1)
	if lc == nil {
		return wire.Component{}, false
	}
	c, ok := cat.components[lc.Name]
	if !ok {
		c = &component{name: lc.Name}
		cat.components[lc.Name] = c
	}
	c.lib = lc
	return c.payload(), true
}

// script is the command line that starts a participant of component under
// role (library.Library.Script).
func (cat *catalog) script(lc *library.Component, role string, iips map[string]any) (string, error) {
	cat.mu.Lock()
	defer cat.mu.Unlock()
	return cat.lib.Script(lc, role, iips)
}

func samePayload(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func portDefs(ports []network.Port) []wire.PortDef {
	out := make([]wire.PortDef, 0, len(ports))
	for _, p := range ports {
		if p.Hidden {
			continue
		}
		typ := p.Type
		if typ == "" {
			typ = "all"
		}
		out = append(out, wire.PortDef{ID: p.ID, Type: typ, Description: p.Description})
	}
	return out
}

func (c *component) payload() wire.Component {
	desc := c.description
	if desc == "" {
		desc = c.label
	}
	return wire.Component{
		Name:        c.name,
		Description: desc,
		Icon:        c.icon,
		InPorts:     portDefs(c.inports),
		OutPorts:    portDefs(c.outports),
	}
}

// hasPort reports whether the component is known to have the port; ok is
// false when the runtime knows nothing about the component's ports yet.
func (c *component) hasPort(out bool, port string) (has, ok bool) {
	ports := c.inports
	if out {
		ports = c.outports
	}
	if c.builtin == nil && c.discovered == nil {
		return false, false
	}
	for _, p := range ports {
		if strings.EqualFold(p.ID, port) {
			return true, true
		}
	}
	return false, true
}

// Components returns the component list, sorted by name.
func (r *Runtime) Components() []wire.Component { return r.catalog.list() }

// splitName splits "library/name" into its parts.
func splitName(full string) (library, name string) {
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}

// SourceKind says what the source of a graph or component is.
type SourceKind int

const (
	// SourceGraph is a graph's JSON (in Code).
	SourceGraph SourceKind = iota + 1
	// SourceDefinition is a component known by its ports only, as YAML
	// (in Code).
	SourceDefinition
	// SourceFile is a library component's file: File names it, Code is
	// empty (ReadSourceFile reads it).
	SourceFile
)

// ComponentSource is what component:getsource would show of a graph or a
// component. Who may see a library file is the protocol's to decide.
type ComponentSource struct {
	wire.Source
	Kind SourceKind
	File string
}

// SourceOf says what the source of a graph or component is: a graph's
// JSON, a library file (to read with ReadSourceFile), or the component's
// definition as YAML.
func (r *Runtime) SourceOf(name string) (ComponentSource, error) {
	r.mu.Lock()
	gs, ok := r.graphs[name]
	var code []byte
	var err error
	if ok {
		code, err = gs.g.MarshalJSON() // compact; json.Marshal would escape <, > and &
	}
	r.mu.Unlock()
	if !ok {
		return r.catalog.source(name)
	}
	if err != nil {
		return ComponentSource{}, fmt.Errorf("encode graph %s: %w", name, err)
	}
	lib, short := splitName(name)
	return ComponentSource{Kind: SourceGraph, Source: wire.Source{Name: short, Library: lib, Language: "json", Code: string(code)}}, nil
}

// ReadSourceFile reads a library file SourceOf named. It takes no lock
// (a slow disk never holds up the runtime), and never reads outside the
// library's directory.
func (r *Runtime) ReadSourceFile(file string) ([]byte, error) {
	if r.opts.Library == nil {
		return nil, fmt.Errorf("%s: no component library", file)
	}
	return readComponentFile(r.opts.Library.Dir, file)
}

// ReadTests reads the fbp-spec suites shipped with the library component
// whose short name is name (TestsDir); empty when it has none. Like
// ReadSourceFile it takes no lock and never reads outside the library's
// directory.
func (r *Runtime) ReadTests(name string) (string, error) {
	if r.opts.Library == nil || r.opts.Library.Dir == "" {
		return "", nil
	}
	return readTests(r.opts.Library.Dir, name)
}
