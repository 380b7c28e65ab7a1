package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
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

// DecodeDiscovery parses and checks a discovery message. It requires id,
// role, component, inports and outports (as msgflo's coordinator does) and
// every port to have an id.
func DecodeDiscovery(data []byte) (Definition, error) {
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
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
