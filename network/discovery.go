package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Port is one port of a participant as announced in discovery.
type Port struct {
	ID          string         `json:"id"`
	Queue       string         `json:"queue,omitempty"`
	Type        string         `json:"type,omitempty"`
	Description string         `json:"description,omitempty"`
	Schema      string         `json:"schema,omitempty"`
	Options     map[string]any `json:"options,omitempty"`
	Hidden      bool           `json:"hidden,omitempty"`
}

// Definition is the payload of a discovery message: what a participant is
// and where its ports are.
type Definition struct {
	ID        string `json:"id"`
	Role      string `json:"role"`
	Component string `json:"component"`
	Label     string `json:"label,omitempty"`
	Icon      string `json:"icon,omitempty"`
	Inports   []Port `json:"inports"`
	Outports  []Port `json:"outports"`
	// Heartbeat is how often, in seconds, the participant announces
	// itself; optional. A coordinator considers it gone after
	// HeartbeatMisses of them without a word (see Expiry).
	Heartbeat float64 `json:"heartbeat,omitempty"`

	// Keys announced by FBP-capable participants, reached through the proxy.
	Type         string   `json:"type,omitempty"`
	Version      string   `json:"version,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	Inqueue      string   `json:"inqueue,omitempty"`
	Outqueue     string   `json:"outqueue,omitempty"`
}

// Inport returns the inport whose id matches name (case-insensitively, as
// FBP tools lower-case port names), or false.
func (d *Definition) Inport(name string) (Port, bool) { return findPort(d.Inports, name) }

// Outport returns the outport whose id matches name case-insensitively.
func (d *Definition) Outport(name string) (Port, bool) { return findPort(d.Outports, name) }

func findPort(ports []Port, name string) (Port, bool) {
	for _, p := range ports {
		if p.ID == name {
			return p, true
		}
	}
	for _, p := range ports {
		if strings.EqualFold(p.ID, name) {
			return p, true
		}
	}
	return Port{}, false
}

// HeartbeatMisses is how many announced heartbeats a participant may miss
// before it is considered gone.
const HeartbeatMisses = 3

// maxHeartbeatExpiry bounds what an announced heartbeat can ask for.
const maxHeartbeatExpiry = 7 * 24 * time.Hour

// Expiry is how long a coordinator waits for def's next announcement
// before it considers the participant gone: HeartbeatMisses times its
// announced heartbeat (at most a week), or fallback for a participant that
// announces none.
func Expiry(def Definition, fallback time.Duration) time.Duration {
	if def.Heartbeat <= 0 || math.IsNaN(def.Heartbeat) {
		return fallback
	}
	if def.Heartbeat*HeartbeatMisses >= maxHeartbeatExpiry.Seconds() {
		return maxHeartbeatExpiry
	}
	return time.Duration(def.Heartbeat * HeartbeatMisses * float64(time.Second))
}

// QueueName is msgflo's queue naming convention: ROLE.PORT, port upper-cased.
func QueueName(role, port string) string { return role + "." + strings.ToUpper(port) }

type discoveryMessage struct {
	Protocol string          `json:"protocol"`
	Command  string          `json:"command"`
	Payload  json.RawMessage `json:"payload"`
}

// EncodeDiscovery wraps a definition in the discovery envelope
// {"protocol":"discovery","command":"participant","payload":...}.
func EncodeDiscovery(def Definition) ([]byte, error) {
	payload, err := json.Marshal(def)
	if err != nil {
		return nil, fmt.Errorf("encode discovery for %s: %w", def.Role, err)
	}
	return json.Marshal(discoveryMessage{Protocol: "discovery", Command: "participant", Payload: payload})
}

// Errors of DecodeDiscovery; the message says which key is wrong.
var ErrBadDiscovery = errors.New("invalid discovery message")

// Limits of an announcement. Anything on the broker can announce, and the
// coordinator keeps what it hears and does work per port, so an
// announcement past them is refused (DecodeDiscovery). They are generous
// for real participants: msgflo-nodejs, msgflo-python and
// noflo-runtime-msgflo announce a few to tens of ports, each with a short
// description, in a few KiB.
const (
	// MaxDiscoveryBytes bounds a discovery message: 64 times the largest
	// real ones.
	MaxDiscoveryBytes = 256 << 10
	// MaxPorts bounds the inports, and the outports, of a participant:
	// every port costs the coordinator queues, bindings, taps and live
	// edges; noflo-runtime-msgflo exports a graph's ports, tens at most.
	MaxPorts = 256
	// MaxNameBytes bounds the names of an announcement (id, role,
	// component, port ids, types, icon, capabilities): they are shown
	// in lists, logs and queue names (AMQP's are 255 bytes).
	MaxNameBytes = 255
	// MaxTextBytes bounds its texts (label, descriptions, schemas).
	MaxTextBytes = 16 << 10
	// MaxCapabilities bounds the capabilities an FBP-capable participant
	// announces (the FBP protocol defines about a dozen).
	MaxCapabilities = 64
	// maxSenderBytes is how much of a refused sender's id errors show.
	maxSenderBytes = 64
)

// DecodeDiscovery is DecodeDiscoveryFor with the names every broker takes
// (AnyBroker).
func DecodeDiscovery(data []byte) (Definition, error) {
	return DecodeDiscoveryFor(data, AnyBroker)
}

// DecodeDiscoveryFor parses and checks a discovery message heard on a
// broker whose names follow rules. It requires id, role, component,
// inports and outports (as msgflo's coordinator does) and every port to
// have an id, and refuses an announcement past the limits above, with
// names that have control characters, or with a role, queue, inqueue or
// outqueue the broker cannot use. Its errors name the sender's id
// (truncated and quoted, see Sender), so that the log says who it was.
func DecodeDiscoveryFor(data []byte, rules NameRules) (Definition, error) {
	if len(data) > MaxDiscoveryBytes {
		return Definition{}, refused(senderOf(data), fmt.Errorf("%d bytes, over the limit of %d", len(data), MaxDiscoveryBytes))
	}
	def, err := decodeDefinition(data)
	if err != nil {
		return Definition{}, err
	}
	if err := checkDefinition(def, rules); err != nil {
		return Definition{}, refused(def.ID, err)
	}
	return def, nil
}

func refused(id string, err error) error {
	return fmt.Errorf("%w: participant %s: %v", ErrBadDiscovery, Sender(id), err)
}

// Sender is how errors and logs show a participant id heard from the
// broker: quoted (control characters and invalid UTF-8 escaped) and cut
// to 64 bytes.
func Sender(id string) string {
	if len(id) > maxSenderBytes {
		cut := maxSenderBytes
		for cut > 0 && !utf8.RuneStart(id[cut]) {
			cut--
		}
		return strconv.Quote(id[:cut]) + "..."
	}
	return strconv.Quote(id)
}

// senderOf finds the id in a message refused before it is decoded as a
// definition ("" when there is none).
func senderOf(data []byte) string {
	var msg struct {
		Payload struct {
			ID string `json:"id"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(data, &msg)
	return msg.Payload.ID
}

// decodeDefinition is the envelope and the keys msgflo requires.
func decodeDefinition(data []byte) (Definition, error) {
	var msg discoveryMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		return Definition{}, fmt.Errorf("%w: %v", ErrBadDiscovery, err)
	}
	if msg.Protocol != "discovery" || msg.Command != "participant" {
		return Definition{}, fmt.Errorf("%w: protocol %q command %q, want discovery participant", ErrBadDiscovery, msg.Protocol, msg.Command)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(msg.Payload, &raw); err != nil {
		return Definition{}, fmt.Errorf("%w: payload: %v", ErrBadDiscovery, err)
	}
	for _, key := range []string{"id", "role", "component", "inports", "outports"} {
		if v, ok := raw[key]; !ok || string(v) == "null" {
			return Definition{}, fmt.Errorf("%w: payload misses %q", ErrBadDiscovery, key)
		}
	}
	var def Definition
	if err := json.Unmarshal(msg.Payload, &def); err != nil {
		return Definition{}, fmt.Errorf("%w: payload: %v", ErrBadDiscovery, err)
	}
	if def.ID == "" || def.Role == "" || def.Component == "" {
		return Definition{}, fmt.Errorf("%w: id, role and component must be non-empty strings", ErrBadDiscovery)
	}
	for _, p := range append(append([]Port{}, def.Inports...), def.Outports...) {
		if p.ID == "" {
			return Definition{}, fmt.Errorf("%w: participant %s has a port without id", ErrBadDiscovery, def.ID)
		}
	}
	return def, nil
}

// checkDefinition applies the limits and the broker's name rules.
func checkDefinition(def Definition, rules NameRules) error {
	if n := len(def.Inports); n > MaxPorts {
		return fmt.Errorf("%d inports, over the limit of %d", n, MaxPorts)
	}
	if n := len(def.Outports); n > MaxPorts {
		return fmt.Errorf("%d outports, over the limit of %d", n, MaxPorts)
	}
	if n := len(def.Capabilities); n > MaxCapabilities {
		return fmt.Errorf("%d capabilities, over the limit of %d", n, MaxCapabilities)
	}
	names := []string{def.ID, def.Role, def.Component, def.Icon, def.Type, def.Version}
	names = append(names, def.Capabilities...)
	texts := []string{def.Label}
	queues := []string{def.Role, def.Inqueue, def.Outqueue}
	for _, p := range append(append([]Port{}, def.Inports...), def.Outports...) {
		names = append(names, p.ID, p.Type)
		texts = append(texts, p.Description, p.Schema)
		queues = append(queues, p.Queue)
	}
	for _, n := range names {
		if err := checkText(n, MaxNameBytes, false); err != nil {
			return fmt.Errorf("name %s: %v", Sender(n), err)
		}
	}
	for _, t := range texts {
		if err := checkText(t, MaxTextBytes, true); err != nil {
			return fmt.Errorf("text %s: %v", Sender(t), err)
		}
	}
	for _, q := range queues {
		if q == "" {
			continue
		}
		if err := checkText(q, MaxNameBytes, false); err != nil {
			return fmt.Errorf("queue %s: %v", Sender(q), err)
		}
		if err := rules.CheckName(q); err != nil {
			return fmt.Errorf("queue %s cannot be used on this broker: %v", Sender(q), err)
		}
	}
	return nil
}

// checkText refuses a string over max bytes or with control characters
// (tab and newline allowed in texts).
func checkText(s string, max int, text bool) error {
	if len(s) > max {
		return fmt.Errorf("%d bytes, over the limit of %d", len(s), max)
	}
	for _, c := range s {
		if unicode.IsControl(c) && !(text && (c == '\t' || c == '\n' || c == '\r')) {
			return fmt.Errorf("control character %U", c)
		}
	}
	return nil
}

// RedactURL hides the password of a broker URL, or of each URL of a
// comma-separated list (see SplitURLs), for messages and logs.
func RedactURL(raw string) string {
	if urls := SplitURLs(raw); len(urls) > 1 {
		for i, u := range urls {
			urls[i] = redactOne(u)
		}
		return strings.Join(urls, ",")
	}
	return redactOne(raw)
}

func redactOne(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactUnparsed(raw)
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// redactUnparsed hides what may be credentials in a URL that does not
// parse (a password with a stray '%' or a space): everything between the
// scheme and the last '@'.
func redactUnparsed(raw string) string {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return raw[:start] + "xxxxx" + raw[at:]
}

// BrokerURLError is the error for a broker URL that does not parse,
// naming the URL redacted: url.Parse's own error quotes it whole,
// password included.
func BrokerURLError(raw string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("broker URL %q: %w", RedactURL(raw), err)
}
