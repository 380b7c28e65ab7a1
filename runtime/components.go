package runtime

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/msgflo/msgflo-runtime/library"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/participant"
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

// updateComponentLocked learns a component from an announcement and reports
// whether clients should hear about it (new, or its ports changed).
func (r *Runtime) updateComponentLocked(def network.Definition) bool {
	c, ok := r.components[def.Component]
	if !ok {
		c = &component{name: def.Component}
		r.components[def.Component] = c
	}
	d := def
	c.discovered = &d
	if c.builtin != nil {
		// Built-ins keep their own definition; the announcement only
		// confirms a participant of it is up.
		return false
	}
	before := c.payload()
	c.label = def.Label
	c.description = def.Label
	c.icon = def.Icon
	c.inports = def.Inports
	c.outports = def.Outports
	after := c.payload()
	return !ok || !samePayload(before, after)
}

func samePayload(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func portDefs(ports []network.Port) []PortDef {
	out := make([]PortDef, 0, len(ports))
	for _, p := range ports {
		if p.Hidden {
			continue
		}
		typ := p.Type
		if typ == "" {
			typ = "all"
		}
		out = append(out, PortDef{ID: p.ID, Type: typ, Description: p.Description})
	}
	return out
}

func (c *component) payload() ComponentPayload {
	desc := c.description
	if desc == "" {
		desc = c.label
	}
	return ComponentPayload{
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
func (r *Runtime) Components() []ComponentPayload {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.components))
	for n := range r.components {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]ComponentPayload, 0, len(names))
	for _, n := range names {
		out = append(out, r.components[n].payload())
	}
	return out
}

// splitName splits "library/name" into its parts.
func splitName(full string) (library, name string) {
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}

// Source answers component:getsource: a graph's JSON, a component's file
// (only to a client with full access: full), or its definition as YAML.
func (r *Runtime) Source(name string, full bool) (SourcePayload, error) {
	r.mu.Lock()
	src, file, err := r.sourceLocked(name, full)
	r.mu.Unlock()
	if err != nil || file == "" {
		return src, err
	}
	// The file is read outside the runtime's lock: a slow disk never holds
	// up the runtime.
	code, err := readComponentFile(r.opts.Library.Dir, file)
	if err != nil {
		return SourcePayload{}, fmt.Errorf("source of %s: %w", name, err)
	}
	src.Code = string(code)
	return src, nil
}

// sourceLocked is Source but for a component file's contents: the file to
// read is returned instead.
func (r *Runtime) sourceLocked(name string, full bool) (src SourcePayload, file string, err error) {
	if gs, ok := r.graphs[name]; ok {
		code, err := gs.g.MarshalJSON() // compact; json.Marshal would escape <, > and &
		if err != nil {
			return SourcePayload{}, "", fmt.Errorf("encode graph %s: %w", name, err)
		}
		lib, short := splitName(name)
		return SourcePayload{Name: short, Library: lib, Language: "json", Code: string(code)}, "", nil
	}
	c, ok := r.components[name]
	if !ok {
		return SourcePayload{}, "", fmt.Errorf("Component %s not found", name)
	}
	lib, short := splitName(name)
	if c.lib != nil && c.lib.File != "" {
		if !full {
			return SourcePayload{}, "", fmt.Errorf("the source of %s is only given to clients with full access", name)
		}
		return SourcePayload{Name: short, Library: lib, Language: c.lib.Language}, c.lib.File, nil
	}
	return SourcePayload{Name: short, Library: lib, Language: "yaml", Code: c.definitionYAML()}, "", nil
}
