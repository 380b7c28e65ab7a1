package runtime

import (
	"context"
	"encoding/json"
	"maps"
	"sort"
	"strings"
	"sync"

	"github.com/msgflo/msgflo-runtime/network"
	"github.com/msgflo/msgflo-runtime/proxy"
	"github.com/msgflo/msgflo-runtime/runtime/directory"
	"github.com/msgflo/msgflo-runtime/runtime/plan"
)

// Forwarding to full FBP runtimes: participants that announce inqueue,
// outqueue and capabilities host graphs of their own (a NoFlo graph run as
// one participant). A client looks inside through the coordinator:
// component:getsource of such a participant's component, and graph:* and
// network:* messages addressed to the graph it hosts, go to the participant
// and its answers come back. Which message goes where, and which
// capability it needs, is the protocol layer's to decide: the runtime
// answers which participant hosts a graph or announces a component, with
// its capabilities.

// forwarder finds the full FBP runtime participants and tells them which
// queues their graph's ports use. It owns the record of the connect
// messages sent (its lock); the participants are the directory's.
type forwarder struct {
	*parts
	mu sync.Mutex // guards connected
	// connected are the keys of the connect messages sent (plan.ConnectKey).
	connected map[string]bool
}

func newForwarder(p *parts) *forwarder { return &forwarder{parts: p, connected: map[string]bool{}} }

// Forward is a client message's way to the participant it is for.
type Forward struct {
	dir   *directory.Directory
	proxy *proxy.Proxy
	def   network.Definition
}

// Participant is the id of the participant the message goes to.
func (f *Forward) Participant() string { return f.def.ID }

// Capabilities are the participant's announced capabilities.
func (f *Forward) Capabilities() []string { return f.def.Capabilities }

// ComponentHost is the way to the full FBP runtime participant that
// announces component, if one does.
func (r *Runtime) ComponentHost(component string) (*Forward, bool) {
	if component == "" {
		return nil, false
	}
	return r.fwd.host(func(def network.Definition) bool { return def.Component == component })
}

// GraphHost is the way to the full FBP runtime participant that hosts
// graphID, if one does. The coordinator's own graphs always stay its own.
func (r *Runtime) GraphHost(graphID string) (*Forward, bool) {
	if graphID == "" {
		return nil, false
	}
	if _, ours := r.ids.Load(graphID); ours {
		return nil, false
	}
	return r.fwd.host(func(def network.Definition) bool {
		return r.dir.Hosted(def) == graphID || def.Component == graphID
	})
}

// host is the way to the participant heard from last (as for a role) of
// those that match and announce FBP queues. The runtime listens on a
// participant's queues only once a client sends it something (Do): an
// announcement makes no tap (#19: announcements describe, never command).
func (r *forwarder) host(match func(network.Definition) bool) (*Forward, bool) {
	var candidates []network.Entry
	for _, e := range r.dir.All() {
		if match(e.Definition) {
			candidates = append(candidates, e)
		}
	}
	sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].LastSeen.After(candidates[j].LastSeen) })
	for _, e := range candidates {
		def := e.Definition
		if r.local.has(def.Role) {
			continue
		}
		if proxy.EndpointOf(def).Announced {
			return &Forward{dir: r.dir, proxy: r.proxy, def: def}, true
		}
	}
	return nil, false
}

// Do sends the message and returns the participant's answer. The graph a
// component:source answer names is remembered as the graph the participant
// hosts, so that graph:* and network:* messages for it reach it.
func (f *Forward) Do(ctx context.Context, protocol, command string, payload json.RawMessage) ([]proxy.Message, error) {
	ch, err := f.proxy.Lookup(ctx, f.def)
	if err != nil {
		return nil, err
	}
	replies, err := ch.Request(ctx, protocol, command, payload)
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
		f.dir.SetHosted(f.def.ID, id)
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

// connect sends the connect messages of the plan: each tells a
// full FBP runtime participant which queue an edge touching one of its
// graph's ports uses (connectinport for an edge into the participant,
// connectoutport for one out of it). They go as graph messages, which is
// where such a participant handles its graph's ports; each is sent once,
// again only if sending it failed.
func (r *forwarder) connect(connects []plan.Connect) {
	for _, c := range connects {
		e, ok := r.dir.Get(c.Participant)
		if !ok {
			continue
		}
		ep := proxy.EndpointOf(e.Definition)
		r.mu.Lock()
		r.connected[c.Key] = true
		r.mu.Unlock()
		port := map[string]any{"port": c.Port.Port}
		if c.Port.Index != nil {
			port["index"] = c.Port.Index
		}
		q := map[string]any{"queue": c.Queue}
		payload := connectPortPayload{Graph: c.Graph, Src: port, Tgt: q}
		if c.Inport {
			payload.Src, payload.Tgt = q, port
		}
		go func() {
			// Nothing answers these (msgflo defines no reply): the
			// request only has to reach the participant's queue.
			ctx, cancel := context.WithTimeout(context.Background(), r.proxy.Timeout())
			defer cancel()
			if err := r.proxy.Post(ctx, ep, "graph", c.Command(), payload); err != nil {
				r.log.Warn().Err(err).Str("participant", c.Participant).Str("command", c.Command()).Msg("cannot tell a participant which queue its port uses")
				r.mu.Lock()
				delete(r.connected, c.Key)
				r.mu.Unlock()
			}
		}()
	}
}

// sent are the keys of the connect messages sent.
func (r *forwarder) sent() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.connected)
}

// forget forgets the connect messages sent to a participant that is gone.
func (r *forwarder) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	maps.DeleteFunc(r.connected, func(k string, _ bool) bool { return strings.HasPrefix(k, id+"\x00") })
}
