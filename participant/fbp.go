package participant

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/msgflo/msgflo-runtime/network"
)

// FBP-capable participants (Options.FBP) speak the FBP protocol on two
// queues of their own, as msgflo's README describes and as
// noflo-runtime-msgflo names them: they take requests on
// .fbp.<id>.receive and answer on .fbp.<id>.send, and announce both as
// inqueue and outqueue with their type, version and capabilities. The
// coordinator reaches them through its proxy.

// FBPRuntimeType is the runtime type an FBP-capable Go participant announces.
const FBPRuntimeType = "msgflo-go"

// fbpCapabilities are what an FBP-capable Go participant can do.
var fbpCapabilities = []string{"protocol:runtime", "protocol:component", "component:getsource", "protocol:trace"}

// defaultFBPTraceBuffer is the number of events kept when trace:start
// gives no buffersize.
const defaultFBPTraceBuffer = 400

// MaxFBPTraceBuffer bounds the buffersize trace:start may ask for: the
// request comes from the broker, and every event keeps a message's data.
// trace:start answers with the size in use.
const MaxFBPTraceBuffer = 10000

// fbpServer answers FBP requests for one participant and records its
// flowtrace while tracing.
type fbpServer struct {
	p                 *Participant
	inqueue, outqueue string

	mu         sync.Mutex // guards the trace state below
	tracing    bool
	buffersize int
	events     []json.RawMessage // a ring of at most buffersize events
	next       int               // where the next event goes once the ring is full
}

// enableFBP makes the participant FBP-capable: def announces the queues.
func (p *Participant) enableFBP(def *network.Definition) {
	in, out := ".fbp."+def.ID+".receive", ".fbp."+def.ID+".send"
	def.Inqueue, def.Outqueue = in, out
	def.Type, def.Version = FBPRuntimeType, "0.8"
	def.Capabilities = append([]string(nil), fbpCapabilities...)
	p.fbp = &fbpServer{p: p, inqueue: in, outqueue: out, buffersize: defaultFBPTraceBuffer}
}

// start declares the FBP queues (non-persistent: they go with the
// participant) and serves requests.
func (s *fbpServer) start(ctx context.Context) (network.Subscription, error) {
	opts := network.QueueOptions{NonPersistent: true}
	if err := s.p.broker.DeclareOutport(ctx, s.outqueue, opts); err != nil {
		return nil, fmt.Errorf("participant %s: declare %s: %w", s.p.role, s.outqueue, err)
	}
	if err := s.p.broker.DeclareInport(ctx, s.inqueue, opts); err != nil {
		return nil, fmt.Errorf("participant %s: declare %s: %w", s.p.role, s.inqueue, err)
	}
	sub, err := s.p.broker.Consume(ctx, s.inqueue, 1, s.handle)
	if err != nil {
		return nil, fmt.Errorf("participant %s: consume %s: %w", s.p.role, s.inqueue, err)
	}
	return sub, nil
}

type fbpMessage struct {
	Protocol string          `json:"protocol"`
	Command  string          `json:"command"`
	Payload  json.RawMessage `json:"payload,omitempty"`
}

func (s *fbpServer) handle(d network.Delivery) {
	defer func() { _ = d.Ack() }()
	var req fbpMessage
	if err := json.Unmarshal(d.Data(), &req); err != nil || req.Protocol == "" || req.Command == "" {
		s.p.log.Warn().Str("role", s.p.role).Str("queue", s.inqueue).Msg("dropped a message that is not an FBP request")
		return
	}
	for _, reply := range s.answer(req) {
		data, err := json.Marshal(reply)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.p.broker.Publish(ctx, s.outqueue, data)
		cancel()
		if err != nil {
			s.p.log.Warn().Err(err).Str("role", s.p.role).Str("queue", s.outqueue).Msg("FBP answer not sent")
		}
	}
}

func reply(protocol, command string, payload any) fbpMessage {
	data, _ := json.Marshal(payload)
	return fbpMessage{Protocol: protocol, Command: command, Payload: data}
}

func fbpError(protocol, format string, args ...any) []fbpMessage {
	return []fbpMessage{reply(protocol, "error", map[string]string{"message": fmt.Sprintf(format, args...)})}
}

type fbpPort struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Addressable bool   `json:"addressable"`
	Required    bool   `json:"required"`
}

func fbpPorts(ports []network.Port) []fbpPort {
	out := make([]fbpPort, 0, len(ports))
	for _, p := range ports {
		out = append(out, fbpPort{ID: p.ID, Type: p.Type, Description: p.Description})
	}
	return out
}

// answer is what the participant says to one request.
func (s *fbpServer) answer(req fbpMessage) []fbpMessage {
	p := s.p
	var in struct {
		Graph      string `json:"graph"`
		Name       string `json:"name"`
		Type       string `json:"type"`
		Buffersize int    `json:"buffersize"`
	}
	if len(req.Payload) > 0 {
		if err := json.Unmarshal(req.Payload, &in); err != nil {
			return fbpError(req.Protocol, "%s:%s: invalid payload: %v", req.Protocol, req.Command, err)
		}
	}
	switch req.Protocol + ":" + req.Command {
	case "runtime:getruntime":
		return []fbpMessage{reply("runtime", "runtime", map[string]any{
			"id": p.def.ID, "label": p.def.Label, "type": FBPRuntimeType, "version": "0.8",
			"capabilities": fbpCapabilities, "allCapabilities": fbpCapabilities, "graph": p.role,
		})}
	case "component:list":
		return []fbpMessage{
			reply("component", "component", map[string]any{
				"name": p.comp.Name, "description": p.comp.Description, "icon": p.comp.Icon, "subgraph": false,
				"inPorts": fbpPorts(p.def.Inports), "outPorts": fbpPorts(p.def.Outports),
			}),
			reply("component", "componentsready", 1),
		}
	case "component:getsource":
		if in.Name != p.comp.Name {
			return fbpError("component", "Component %s not found", in.Name)
		}
		if p.opts.Source == "" {
			return fbpError("component", "The source of %s is not available", in.Name)
		}
		return []fbpMessage{reply("component", "source", map[string]string{"name": p.comp.Name, "language": "go", "code": p.opts.Source})}
	case "trace:start":
		s.mu.Lock()
		s.tracing = true
		if in.Buffersize > 0 {
			s.resize(min(in.Buffersize, MaxFBPTraceBuffer))
		}
		size := s.buffersize
		s.mu.Unlock()
		return []fbpMessage{reply("trace", "start", map[string]any{"graph": in.Graph, "buffersize": size})}
	case "trace:stop":
		s.mu.Lock()
		s.tracing = false
		s.mu.Unlock()
		return []fbpMessage{reply("trace", "stop", map[string]any{"graph": in.Graph})}
	case "trace:clear":
		s.mu.Lock()
		s.events, s.next = nil, 0
		s.mu.Unlock()
		return []fbpMessage{reply("trace", "clear", map[string]any{"graph": in.Graph})}
	case "trace:dump":
		ft, err := s.flowtrace()
		if err != nil {
			return fbpError("trace", "%v", err)
		}
		return []fbpMessage{reply("trace", "dump", map[string]any{"graph": in.Graph, "type": in.Type, "flowtrace": ft})}
	}
	return fbpError(req.Protocol, "%s:%s is not supported by participant %s", req.Protocol, req.Command, p.def.ID)
}

// graph is the participant as a graph of one node, for the flowtrace header.
func (s *fbpServer) graph() map[string]any {
	p := s.p
	exported := func(ports []network.Port) map[string]any {
		m := map[string]any{}
		for _, port := range ports {
			m[port.ID] = map[string]string{"process": p.role, "port": port.ID}
		}
		return m
	}
	return map[string]any{
		"properties":  map[string]string{"name": p.role},
		"processes":   map[string]any{p.role: map[string]string{"component": p.comp.Name}},
		"connections": []any{},
		"inports":     exported(p.def.Inports),
		"outports":    exported(p.def.Outports),
	}
}

func (s *fbpServer) flowtrace() (string, error) {
	s.mu.Lock()
	events := s.ordered()
	s.mu.Unlock()
	header, err := json.Marshal(map[string]any{"graphs": map[string]any{s.p.role: s.graph()}})
	if err != nil {
		return "", err
	}
	// Events keep the data's bytes: assembled, not re-encoded.
	return string(network.RawObject(map[string]json.RawMessage{"header": header, "events": network.RawArray(events)})), nil
}

type fbpEndpoint struct {
	Node string `json:"node"`
	Port string `json:"port"`
}

// record keeps a network:data event of data coming in on an inport (in)
// or going out on an outport, while tracing. Safe on a nil server.
func (s *fbpServer) record(port string, in bool, data json.RawMessage) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tracing {
		return
	}
	str := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	payload := map[string]json.RawMessage{"time": str(time.Now().UTC().Format(time.RFC3339Nano)), "graph": str(s.p.role), "data": data}
	ep := str(fbpEndpoint{Node: s.p.role, Port: port})
	if in {
		payload["tgt"] = ep
	} else {
		payload["src"] = ep
	}
	ev := network.RawObject(map[string]json.RawMessage{"protocol": str("network"), "command": str("data"), "payload": network.RawObject(payload)})
	if len(s.events) < s.buffersize {
		s.events = append(s.events, ev)
		return
	}
	s.events[s.next] = ev
	s.next = (s.next + 1) % len(s.events)
}

// ordered is a copy of the events, oldest first. s.mu is held.
func (s *fbpServer) ordered() []json.RawMessage {
	out := make([]json.RawMessage, 0, len(s.events))
	out = append(out, s.events[s.next:]...)
	return append(out, s.events[:s.next]...)
}

// resize keeps the last size events. s.mu is held.
func (s *fbpServer) resize(size int) {
	events := s.ordered()
	s.events = events[max(0, len(events)-size):]
	s.next = 0
	s.buffersize = size
}
