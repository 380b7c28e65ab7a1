package protocol

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/runtime"
)

// A handler carries out one command. It replies to the sender through rc;
// a returned error becomes <protocol>:error to the sender only.
type handler func(s *Server, rc *request) error

// request is one decoded message being handled.
type request struct {
	c        *client
	protocol string
	command  string
	raw      []byte
	decoded  map[string]any // the payload as schema validation saw it
}

func (rc *request) reply(s *Server, command string, payload any) {
	rc.replyOn(s, rc.protocol, command, payload)
}

func (rc *request) replyOn(s *Server, protocol, command string, payload any) {
	msg, err := s.enc.encode(protocol, command, payload)
	if err != nil {
		s.log.Error().Err(err).Str("protocol", protocol).Str("command", command).Msg("cannot encode reply")
		return
	}
	rc.c.queue(msg)
}

// payload decodes the request's payload into v, refusing keys that only
// encoding/json's case-insensitive matching would put into v.
func (rc *request) payload(v any) error {
	if err := caseExactKeys(rc.decoded, reflect.TypeOf(v), "payload"); err != nil {
		return fmt.Errorf("%s:%s: invalid payload: %v", rc.protocol, rc.command, err)
	}
	env := struct {
		Payload any `json:"payload"`
	}{Payload: v}
	if err := json.Unmarshal(rc.raw, &env); err != nil {
		return fmt.Errorf("%s:%s: invalid payload: %v", rc.protocol, rc.command, err)
	}
	return nil
}

var knownProtocols = map[string]bool{"runtime": true, "graph": true, "component": true, "network": true, "trace": true}

// needsGraph lists the commands whose payload must name an existing graph;
// the check comes before schema validation so clients get the exact texts
// they match on.
func needsGraph(protocol, command string) bool {
	switch protocol {
	case "graph":
		return command != "clear"
	case "network":
		return command != "persist"
	case "runtime":
		return command == "packet"
	}
	return false
}

// envelope is what the first, cheap reading of a message finds: enough
// to check the secret and the capability before the whole message is
// decoded and validated.
type envelope struct {
	protocol, command string
	secret            string // top level (protocol 0.8), else payload.secret (older clients)
	payload           []byte // raw; nil when absent
}

var envelopeKeys = []string{"protocol", "command", "payload", "secret"}

// readEnvelope reads the top-level members of a message without decoding
// its payload. The error is the text for the client.
func readEnvelope(data []byte) (envelope, string) {
	var env envelope
	if !json.Valid(data) {
		// Unmarshal for the syntax error's text only: it reports what
		// json.Valid found, where a RawMessage would copy every message.
		err := json.Unmarshal(data, new(any))
		return env, fmt.Sprintf("Invalid message: not a JSON object: %v", err)
	}
	if i := skipSpace(data, 0); data[i] != '{' {
		return env, "Invalid message: not a JSON object"
	}
	seen := map[string]bool{}
	var topSecret string
	err := members(data, func(key string, value []byte) error {
		if seen[key] {
			return fmt.Errorf("Invalid message: duplicate key %q", key)
		}
		seen[key] = true
		switch key {
		case "protocol":
			_ = json.Unmarshal(value, &env.protocol)
		case "command":
			_ = json.Unmarshal(value, &env.command)
		case "secret":
			_ = json.Unmarshal(value, &topSecret)
		case "payload":
			env.payload = value
		default:
			for _, k := range envelopeKeys {
				if strings.EqualFold(key, k) {
					return fmt.Errorf("Invalid message: key %q: keys are case-sensitive (%q)", key, k)
				}
			}
		}
		return nil
	})
	if err != nil {
		return env, err.Error()
	}
	env.secret = topSecret
	if env.secret == "" && len(env.payload) > 0 && env.payload[0] == '{' {
		_ = members(env.payload, func(key string, value []byte) error {
			if key == "secret" {
				_ = json.Unmarshal(value, &env.secret)
			}
			return nil
		})
	}
	return env, ""
}

// handle processes one message from a client. Every path ends in a reply,
// an error to the sender, or (for edits) the runtime's broadcast.
//
// The secret and the capability are checked on a first reading of the
// envelope only; the message is decoded whole and validated against its
// schema only for a client that may send it.
func (s *Server) handle(c *client, data []byte) {
	env, bad := readEnvelope(data)
	if bad != "" {
		s.fail(c, "runtime", bad)
		return
	}
	protocol, command := env.protocol, env.command
	s.countMessage(protocol, command)
	if protocol == "" || command == "" {
		s.fail(c, "runtime", "Invalid message: protocol and command must be non-empty strings")
		return
	}
	if !knownProtocols[protocol] {
		s.fail(c, "runtime", fmt.Sprintf("Unknown protocol %q", protocol))
		return
	}
	if env.payload != nil && env.payload[0] != '{' {
		s.fail(c, protocol, fmt.Sprintf("%s:%s: payload must be an object", protocol, command))
		return
	}
	caps := s.capabilitiesFor(c, env.secret)
	c.caps.Store(caps)

	h, known := s.handlers[protocol+":"+command]
	if !known || !s.validator.KnownInput(protocol, command) {
		s.fail(c, protocol, fmt.Sprintf("Unknown command %q for protocol %q", command, protocol))
		return
	}
	if !caps.allowsInput(protocol, command) {
		s.fail(c, protocol, fmt.Sprintf("%s:%s is not permitted", protocol, command))
		return
	}

	if key, dup := duplicateKey(data); dup {
		s.fail(c, protocol, fmt.Sprintf("Invalid message: duplicate key %q", key))
		return
	}
	var msg map[string]any
	if err := json.Unmarshal(data, &msg); err != nil {
		s.fail(c, "runtime", fmt.Sprintf("Invalid message: not a JSON object: %v", err))
		return
	}
	payload, _ := msg["payload"].(map[string]any)
	if payload == nil {
		payload = map[string]any{}
		msg["payload"] = payload
	}
	if s.forward(c, caps, protocol, command, msg, env.payload) {
		return
	}
	if needsGraph(protocol, command) {
		if g, _ := payload["graph"].(string); g == "" {
			s.fail(c, protocol, runtime.ErrNoGraph.Error())
			return
		}
	}
	if err := s.validator.ValidateInput(protocol, command, msg); err != nil {
		s.fail(c, protocol, err.Error())
		return
	}
	rc := &request{c: c, protocol: protocol, command: command, raw: data, decoded: payload}
	if err := h(s, rc); err != nil {
		s.fail(c, protocol, err.Error())
	}
}

// fail sends <protocol>:error to one client and logs it.
func (s *Server) fail(c *client, protocol, message string) {
	s.opts.Metrics.ProtocolError(protocol)
	c.log.Info().Str("protocol", protocol).Str("error", message).Msg("request refused")
	msg, err := s.enc.encode(protocol, "error", runtime.ErrorPayload{Message: message})
	if err != nil {
		s.log.Error().Err(err).Msg("cannot encode error")
		return
	}
	c.queue(msg)
}

// edit adapts a runtime edit to a handler: decode the payload, apply it.
func edit[T any](apply func(*runtime.Runtime, T) error) handler {
	return func(s *Server, rc *request) error {
		var p T
		if err := rc.payload(&p); err != nil {
			return err
		}
		return apply(s.rt, p)
	}
}

// query adapts a runtime question answered to the sender only.
func query[T, R any](replyCommand string, ask func(*Server, *request, T) (R, error)) handler {
	return func(s *Server, rc *request) error {
		var p T
		if err := rc.payload(&p); err != nil {
			return err
		}
		out, err := ask(s, rc, p)
		if err != nil {
			return err
		}
		rc.reply(s, replyCommand, out)
		return nil
	}
}

type graphRef struct {
	Graph string `json:"graph"`
}

func handlerTable() map[string]handler {
	return map[string]handler{
		"runtime:getruntime": getRuntime,
		"runtime:packet": query("packetsent", func(s *Server, _ *request, p runtime.PacketPayload) (runtime.PacketPayload, error) {
			return s.rt.SendPacket(p)
		}),

		"graph:clear":         edit((*runtime.Runtime).Clear),
		"graph:addnode":       edit((*runtime.Runtime).AddNode),
		"graph:removenode":    edit((*runtime.Runtime).RemoveNode),
		"graph:renamenode":    edit((*runtime.Runtime).RenameNode),
		"graph:changenode":    edit((*runtime.Runtime).ChangeNode),
		"graph:addedge":       edit((*runtime.Runtime).AddEdge),
		"graph:removeedge":    edit((*runtime.Runtime).RemoveEdge),
		"graph:changeedge":    edit((*runtime.Runtime).ChangeEdge),
		"graph:addinitial":    edit((*runtime.Runtime).AddInitial),
		"graph:removeinitial": edit((*runtime.Runtime).RemoveInitial),
		"graph:addinport":     edit(exported(graph.In, (*runtime.Runtime).AddExported)),
		"graph:addoutport":    edit(exported(graph.Out, (*runtime.Runtime).AddExported)),
		"graph:removeinport":  edit(exported(graph.In, (*runtime.Runtime).RemoveExported)),
		"graph:removeoutport": edit(exported(graph.Out, (*runtime.Runtime).RemoveExported)),
		"graph:renameinport":  edit(exported(graph.In, (*runtime.Runtime).RenameExported)),
		"graph:renameoutport": edit(exported(graph.Out, (*runtime.Runtime).RenameExported)),
		"graph:addgroup":      edit((*runtime.Runtime).AddGroup),
		"graph:removegroup":   edit((*runtime.Runtime).RemoveGroup),
		"graph:renamegroup":   edit((*runtime.Runtime).RenameGroup),
		"graph:changegroup":   edit((*runtime.Runtime).ChangeGroup),

		"component:list": listComponents,
		"component:getsource": query("source", func(s *Server, rc *request, p struct {
			Name string `json:"name"`
		}) (runtime.SourcePayload, error) {
			return s.rt.Source(p.Name, rc.c.caps.Load() == s.all) // a library's file only with full access
		}),

		"network:start": edit(func(rt *runtime.Runtime, p graphRef) error { return rt.Start(p.Graph) }),
		"network:stop":  edit(func(rt *runtime.Runtime, p graphRef) error { return rt.Stop(p.Graph) }),
		"network:getstatus": func(s *Server, rc *request) error {
			var p graphRef
			if err := rc.payload(&p); err != nil {
				return err
			}
			st, err := s.rt.Status(p.Graph)
			if err != nil {
				return err
			}
			rc.reply(s, "status", st)
			s.rt.ReportProblems(rc.c.id, st.Graph) // what still keeps nodes from running
			return nil
		},
		"network:debug": query("debug", func(s *Server, _ *request, p runtime.DebugPayload) (runtime.DebugPayload, error) {
			return s.rt.SetDebug(p.Graph, p.Enable)
		}),
		"network:edges": query("edges", func(s *Server, rc *request, p runtime.EdgesPayload) (runtime.EdgesPayload, error) {
			return s.rt.WatchEdges(rc.c.id, p)
		}),
		"network:persist": func(s *Server, rc *request) error {
			if err := s.rt.Persist(); err != nil {
				return err
			}
			rc.reply(s, "persist", map[string]any{"graph": s.rt.MainGraph()})
			return nil
		},

		"component:source": func(s *Server, rc *request) error {
			var p runtime.SourcePayload
			if err := rc.payload(&p); err != nil {
				return err
			}
			_, err := s.rt.SetSource(p) // the component message goes to every client
			return err
		},
	}
}

func exported[T any](k graph.PortKind, fn func(*runtime.Runtime, graph.PortKind, T) error) func(*runtime.Runtime, T) error {
	return func(rt *runtime.Runtime, p T) error { return fn(rt, k, p) }
}

func getRuntime(s *Server, rc *request) error {
	info := s.rt.Info()
	caps := rc.c.caps.Load()
	rc.reply(s, "runtime", runtime.RuntimePayload{
		ID:              info.ID,
		Label:           info.Label,
		Version:         runtime.ProtocolVersion,
		AllCapabilities: s.allNames,
		Capabilities:    nonNil(caps.names),
		Graph:           info.MainGraph,
		Type:            runtime.RuntimeType,
		Namespace:       info.Namespace,
		Repository:      info.Repository,
	})
	if info.MainGraph != "" && caps.allowsOutput("runtime", "ports") {
		// Not for a live main graph without ports (a runtime without a
		// graph file): clients that never use it expect nothing after
		// runtime:runtime.
		if ports, err := s.rt.Ports(info.MainGraph); err == nil && (!info.MainIsLive || len(ports.InPorts)+len(ports.OutPorts) > 0) {
			rc.reply(s, "ports", ports)
		}
	}
	s.rt.ReportProblems(rc.c.id, "") // what keeps nodes from running, for a client that just came
	return nil
}

func listComponents(s *Server, rc *request) error {
	list := s.rt.Components()
	for _, c := range list {
		rc.reply(s, "component", c)
	}
	rc.reply(s, "componentsready", len(list))
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
