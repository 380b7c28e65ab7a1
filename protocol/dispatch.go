package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/logtext"
	"github.com/msgflo/msgflo-runtime/protocol/wire"
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
	raw      []byte     // the message's text
	value    *jsonValue // the payload as schema validation saw it (readStrict)
}

func (rc *request) reply(s *Server, m wire.Message) {
	msg, err := s.enc.encode(m)
	if err != nil {
		s.log.Error().Err(err).Msg("cannot encode reply")
		return
	}
	rc.c.queue(msg)
}

// payload decodes the request's payload into v (a pointer to a struct)
// from what schema validation saw, refusing keys that only encoding/json's
// case-insensitive matching would put into v. What decodeStrict leaves to
// it, encoding/json decodes from the text, with its own error texts.
func (rc *request) payload(v any) error {
	err := decodeStrict(rc.value, v, "payload")
	if errors.Is(err, errNotDecoded) {
		reflect.ValueOf(v).Elem().SetZero()
		env := struct {
			Payload any `json:"payload"`
		}{Payload: v}
		err = json.Unmarshal(rc.raw, &env)
	}
	if err != nil {
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
	// strings says every top-level value but the payload is a string:
	// the payload is all there is left to read (readPayload).
	strings bool
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
	var keys []string
	var seen map[string]struct{}
	var topSecret string
	env.strings = true
	err := members(data, func(key string, value []byte) error {
		if repeated(keys, &seen, key) {
			return fmt.Errorf("Invalid message: duplicate key %q", key)
		}
		keys = append(keys, key)
		if key != "payload" && value[0] != '"' {
			env.strings = false
		}
		switch key {
		case "protocol":
			env.protocol = stringValue(value)
		case "command":
			env.command = stringValue(value)
		case "secret":
			topSecret = stringValue(value)
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
				env.secret = stringValue(value)
			}
			return nil
		})
	}
	return env, ""
}

// stringValue is the text of a JSON string, "" for any other value (as
// encoding/json leaves a string it cannot decode into).
func stringValue(value []byte) string {
	if value[0] != '"' {
		return ""
	}
	return keyText(value)
}

// handle processes one message from a client. Every path ends in a reply,
// an error to the sender, or (for edits) the runtime's broadcast.
//
// The secret and the capability are checked on a first, cheap reading of
// the envelope only. For a client that may send the message, it is then
// read once, whole (readStrict): schema validation and the handler both
// take it from there.
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

	payload, unread := readPayload(data, env)
	if unread != nil {
		s.fail(c, unread.protocol(protocol), unread.text)
		return
	}
	if s.forward(c, caps, protocol, command, payload, env.payload) {
		return
	}
	if needsGraph(protocol, command) && payload.stringMember("graph") == "" {
		s.fail(c, protocol, runtime.ErrNoGraph.Error())
		return
	}
	if err := s.validator.ValidateInputValue(protocol, command, payload); err != nil {
		s.fail(c, protocol, err.Error())
		return
	}
	rc := &request{c: c, protocol: protocol, command: command, raw: data, value: payload}
	if err := h(s, rc); err != nil {
		s.fail(c, protocol, err.Error())
	}
}

// badMessage is why a message could not be read; runtime says the error
// goes to the client as runtime:error, else as the message's own
// sub-protocol's.
type badMessage struct {
	text    string
	runtime bool
}

func (b *badMessage) protocol(own string) string {
	if b.runtime {
		return "runtime"
	}
	return own
}

// emptyPayload is the payload of a message without one.
var emptyPayload = jsonValue{kind: '{', raw: []byte("{}")}

// readPayload reads the message once (readStrict) and returns its payload,
// an empty object when it has none. The envelope was read already: when
// all else in it is strings, only the payload is read.
func readPayload(data []byte, env envelope) (*jsonValue, *badMessage) {
	text, payloadOnly := data, env.strings && env.payload != nil
	if payloadOnly {
		text = env.payload
	}
	msg, err := readStrict(text)
	var dup errDuplicateKey
	switch {
	case errors.As(err, &dup):
		return nil, &badMessage{text: dup.Error()}
	case err != nil: // a number no float64 holds: encoding/json's words for it
		uerr := json.Unmarshal(data, new(map[string]any))
		return nil, &badMessage{text: fmt.Sprintf("Invalid message: not a JSON object: %v", uerr), runtime: true}
	}
	if payloadOnly {
		return &msg, nil
	}
	if p := msg.member("payload"); p != nil {
		return p, nil
	}
	empty := emptyPayload
	return &empty, nil
}

// fail sends <protocol>:error to one client and logs it.
func (s *Server) fail(c *client, protocol, message string) {
	s.opts.Metrics.ProtocolError(protocol)
	s.clientLog.Event(c.log.Info()).Str("protocol", logtext.Short(protocol)).Str("error", logtext.Short(message)).Msg("request refused")
	msg, err := s.enc.encode(wire.Error{Proto: protocol, Message: message})
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
func query[T any, R wire.Message](ask func(*Server, *request, T) (R, error)) handler {
	return func(s *Server, rc *request) error {
		var p T
		if err := rc.payload(&p); err != nil {
			return err
		}
		out, err := ask(s, rc, p)
		if err != nil {
			return err
		}
		rc.reply(s, out)
		return nil
	}
}

func handlerTable() map[string]handler {
	return map[string]handler{
		"runtime:getruntime": getRuntime,
		"runtime:packet": query(func(s *Server, _ *request, p wire.Packet) (wire.PacketSent, error) {
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

		"component:list":      listComponents,
		"component:getsource": query(getSource),

		"network:start": edit(func(rt *runtime.Runtime, p wire.Start) error { return rt.Start(p.Graph) }),
		"network:stop":  edit(func(rt *runtime.Runtime, p wire.Stop) error { return rt.Stop(p.Graph) }),
		"network:getstatus": func(s *Server, rc *request) error {
			var p wire.GetStatus
			if err := rc.payload(&p); err != nil {
				return err
			}
			st, err := s.rt.Status(p.Graph)
			if err != nil {
				return err
			}
			rc.reply(s, st)
			s.rt.ReportProblems(rc.c.id, st.Graph) // what still keeps nodes from running
			return nil
		},
		"network:debug": query(func(s *Server, _ *request, p wire.Debug) (wire.Debug, error) {
			return s.rt.SetDebug(p.Graph, p.Enable)
		}),
		"network:edges": query(func(s *Server, rc *request, p wire.Edges) (wire.Edges, error) {
			return s.rt.WatchEdges(rc.c.id, p)
		}),
		"network:persist": func(s *Server, rc *request) error {
			if err := s.rt.Persist(); err != nil {
				return err
			}
			rc.reply(s, wire.Persist{Graph: s.rt.MainGraph()})
			return nil
		},

		"component:source": func(s *Server, rc *request) error {
			var p wire.Source
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
	if msg, err := s.runtimeMessage(caps, info); err != nil {
		s.log.Error().Err(err).Msg("cannot encode reply")
	} else {
		rc.c.queue(msg)
	}
	if info.MainGraph != "" && caps.allowsOutput("runtime", "ports") {
		// Not for a live main graph without ports (a runtime without a
		// graph file): clients that never use it expect nothing after
		// runtime:runtime.
		if ports, err := s.rt.Ports(info.MainGraph); err == nil && (!info.MainIsLive || len(ports.InPorts)+len(ports.OutPorts) > 0) {
			rc.reply(s, ports)
		}
	}
	s.rt.ReportProblems(rc.c.id, "") // what keeps nodes from running, for a client that just came
	return nil
}

// runtimeReply is a runtime:runtime as encoded for a client's
// capabilities and the runtime's description.
type runtimeReply struct {
	info runtime.Info
	text []byte
}

// runtimeMessage is runtime:runtime for a client with caps. It is the
// same text until the runtime's description changes, and encoded again
// only then (every client asks for it, some often).
func (s *Server) runtimeMessage(caps *capabilitySet, info runtime.Info) ([]byte, error) {
	var slot *atomic.Pointer[runtimeReply]
	switch caps {
	case s.all:
		slot = &s.runtimeReplies[0]
	case s.anonymous:
		slot = &s.runtimeReplies[1]
	}
	if slot != nil {
		if r := slot.Load(); r != nil && r.info == info {
			return r.text, nil
		}
	}
	text, err := s.enc.encode(wire.Runtime{
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
	if err == nil && slot != nil {
		slot.Store(&runtimeReply{info: info, text: text})
	}
	return text, err
}

// getSource answers component:getsource. A library component's file goes
// only to clients with full access (it is code the runtime runs, and what
// else the project keeps beside it); it is read outside the runtime's lock.
func getSource(s *Server, rc *request, p wire.GetSource) (wire.Source, error) {
	src, err := s.rt.SourceOf(p.Name)
	if err != nil || src.Kind != runtime.SourceFile {
		return src.Source, err
	}
	if rc.c.caps.Load() != s.all {
		return wire.Source{}, fmt.Errorf("the source of %s is only given to clients with full access", p.Name)
	}
	code, err := s.rt.ReadSourceFile(src.File)
	if err != nil {
		return wire.Source{}, fmt.Errorf("source of %s: %w", p.Name, err)
	}
	src.Code = string(code)
	if src.Tests, err = s.rt.ReadTests(src.Name); err != nil {
		return wire.Source{}, fmt.Errorf("tests of %s: %w", p.Name, err)
	}
	return src.Source, nil
}

func listComponents(s *Server, rc *request) error {
	list := s.rt.Components()
	for _, c := range list {
		rc.reply(s, c)
	}
	rc.reply(s, wire.ComponentsReady(len(list)))
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
