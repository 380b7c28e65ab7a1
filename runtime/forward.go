package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/proxy"
)

// Forwarding to full FBP runtimes: participants that announce inqueue,
// outqueue and capabilities host graphs of their own (a NoFlo graph run as
// one participant). A client looks inside through the coordinator:
// component:getsource of such a participant's component, and graph:* and
// network:* messages addressed to the graph it hosts, go to the participant
// and its answers come back. Which capability a message needs is the
// protocol layer's to check (it has the schemas); the participant's
// capabilities are given with the target.

// Forward is a client message's way to the participant it is for.
type Forward struct {
	r   *Runtime
	def network.Definition
	ch  *proxy.Channel
}

// Participant is the id of the participant the message goes to.
func (f *Forward) Participant() string { return f.def.ID }

// Capabilities are the participant's announced capabilities.
func (f *Forward) Capabilities() []string { return f.ch.Endpoint().Capabilities }

// ForwardTarget says whether protocol:command, naming key (the component
// of component:getsource, the graph of graph:* and network:*), is for a
// full FBP runtime participant rather than for the coordinator. The
// coordinator's own graphs always stay its own.
func (r *Runtime) ForwardTarget(protocol, command, key string) (*Forward, bool) {
	if key == "" {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var candidates []network.Entry
	switch {
	case protocol == "component" && command == "getsource":
		for _, e := range r.registry.All() {
			if e.Definition.Component == key {
				candidates = append(candidates, e)
			}
		}
	case protocol == "graph" || protocol == "network":
		if _, ours := r.graphs[key]; ours {
			return nil, false
		}
		for _, e := range r.registry.All() {
			if r.hostedGraphLocked(e.Definition) == key || e.Definition.Component == key {
				candidates = append(candidates, e)
			}
		}
	default:
		return nil, false
	}
	// The participant heard from last serves, as for a role.
	sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].LastSeen.After(candidates[j].LastSeen) })
	for _, e := range candidates {
		def := e.Definition
		if _, local := r.local[def.Role]; local {
			continue
		}
		if c, ok := r.proxy.Known(def.ID); ok && c.Endpoint().Announced {
			return &Forward{r: r, def: def, ch: c}, true
		}
	}
	return nil, false
}

func (r *Runtime) hostedGraphLocked(def network.Definition) string {
	if g, ok := r.hosted[def.ID]; ok {
		return g
	}
	return def.Component
}

// Do sends the message and returns the participant's answer. The graph a
// component:source answer names is remembered as the graph the participant
// hosts, so that graph:* and network:* messages for it reach it.
func (f *Forward) Do(ctx context.Context, protocol, command string, payload json.RawMessage) ([]proxy.Message, error) {
	replies, err := f.ch.Request(ctx, protocol, command, payload)
	if err != nil {
		return replies, err
	}
	for _, m := range replies {
		if m.Protocol != "component" || m.Command != "source" {
			continue
		}
		var src struct{ Name, Library string }
		if json.Unmarshal(m.Payload, &src) != nil || src.Name == "" {
			continue
		}
		id := src.Name
		if src.Library != "" {
			id = src.Library + "/" + src.Name
		}
		f.r.mu.Lock()
		f.r.hosted[f.def.ID] = id
		f.r.mu.Unlock()
	}
	return replies, nil
}

// connectPortPayload is connectinport / connectoutport (msgflo's README):
// a port of the participant's graph and the queue it is to use.
type connectPortPayload struct {
	Src   map[string]any `json:"src"`
	Tgt   map[string]any `json:"tgt"`
	Graph string         `json:"graph"`
}

// connectHostedPorts tells full FBP runtime participants which queue each
// edge touching one of their graph's ports uses, once per participant and
// edge end, as soon as both ends are known: connectinport for an edge into
// the participant, connectoutport for one out of it. They go as graph
// messages, which is where such a participant handles its graph's ports.
func (r *Runtime) connectHostedPorts() {
	type send struct {
		key     string
		c       *proxy.Channel
		command string
		payload connectPortPayload
	}
	var sends []send
	r.mu.Lock()
	for _, gs := range r.sortedGraphsLocked() {
		for _, e := range gs.g.Edges {
			for _, end := range []struct {
				ep      graph.Endpoint
				other   graph.Endpoint
				inport  bool
				command string
			}{{e.Tgt, e.Src, true, "connectinport"}, {e.Src, e.Tgt, false, "connectoutport"}} {
				role := gs.roleOf(end.ep.Node)
				if _, local := r.local[role]; local {
					continue
				}
				def, ok := r.resolveLocked(role)
				if !ok {
					continue
				}
				c, ok := r.proxy.Known(def.ID)
				if !ok || !c.Endpoint().Announced || !c.Endpoint().Can("protocol:graph") {
					continue
				}
				queue, ok, err := r.queueOfLocked(gs, end.other, end.inport)
				if !ok || err != nil {
					continue
				}
				key := fmt.Sprintf("%s\x00%s\x00%s\x00%s", def.ID, end.command, queue, end.ep.Port)
				if r.connected[key] {
					continue
				}
				r.connected[key] = true
				port := map[string]any{"port": end.ep.Port}
				if end.ep.Index != nil {
					port["index"] = end.ep.Index
				}
				q := map[string]any{"queue": queue}
				p := connectPortPayload{Graph: r.hostedGraphLocked(def)}
				if end.inport {
					p.Src, p.Tgt = q, port
				} else {
					p.Src, p.Tgt = port, q
				}
				sends = append(sends, send{key: key, c: c, command: end.command, payload: p})
			}
		}
	}
	r.mu.Unlock()
	for _, s := range sends {
		go func() {
			// Nothing answers these (msgflo defines no reply): the
			// request only has to reach the participant's queue.
			ctx, cancel := context.WithTimeout(context.Background(), r.proxy.Timeout())
			defer cancel()
			if err := s.c.Post(ctx, "graph", s.command, s.payload); err != nil {
				r.log.Warn().Err(err).Str("participant", s.c.Endpoint().Participant).Str("command", s.command).Msg("cannot tell a participant which queue its port uses")
				r.mu.Lock()
				delete(r.connected, s.key)
				r.mu.Unlock()
			}
		}()
	}
}
