package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A node's role names its participant and, through it, the participant's
// queues (ROLE.PORT) or topics on the broker, and it is a value library
// command templates put in a command line (#ROLE). Node ids are any string
// the FBP protocol allows (Flowhub makes ids like "core/Output_3v0gj"); a
// role keeps to a conservative alphabet that every supported broker takes
// in a queue or topic name and that no shell reads as anything but a word:
// letters, digits, '_', '.' and '-'. A node's role is its id when the id is
// such a name, else a readable, deterministic escape of it (see Role).

// maxRoleLength keeps ROLE.PORT well within AMQP's 255-byte queue names.
const maxRoleLength = 200

// SafeRole reports whether id can be used as a role as it is: not empty, at
// most 200 bytes of UTF-8 made of letters, digits, '_', '.' and '-', not
// starting with "amq." (RabbitMQ's reserved names). So no space, control
// character, '/', '+' or '#' (MQTT topic levels and wildcards), '$'
// (MQTT's system topics, shell expansions) or other shell syntax ("$(",
// "`", quotes, ';', '|'). A role starting with '-' is safe here; the
// library refuses to give it to a command, where it would be an option.
func SafeRole(id string) bool {
	if id == "" || len(id) > maxRoleLength || !utf8.ValidString(id) ||
		strings.HasPrefix(id, "amq.") {
		return false
	}
	for _, c := range id {
		if !safeRoleRune(c) {
			return false
		}
	}
	return true
}

func safeRoleRune(c rune) bool {
	return unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '.' || c == '-'
}

// EscapeRole turns an id into a safe role: every character a role may not
// contain becomes '_' ("core/Output_3v0gj" -> "core_Output_3v0gj",
// "a$(b)" -> "a__b_"), a leading "amq." gets a '_' before it, and an id
// too long is cut and ends with a hash of the whole id. A safe id is
// returned unchanged.
func EscapeRole(id string) string {
	if SafeRole(id) {
		return id
	}
	var b strings.Builder
	for _, c := range strings.ToValidUTF8(id, "_") {
		if safeRoleRune(c) {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if strings.HasPrefix(s, "amq.") {
		s = "_" + s
	}
	if s == "" {
		s = "_"
	}
	if len(s) > maxRoleLength {
		cut := maxRoleLength - 9
		for !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "_" + roleHash(id)
	}
	return s
}

// roleHash is a short hash of an id, to tell apart ids that escape alike.
func roleHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:4])
}

// Role is the role of node id in the graph: the id itself when it is safe
// (SafeRole), else its escape (EscapeRole), followed by "_" and a short hash
// of the id when another node of the graph has that id or escapes to the
// same (so "a/b" and "a+b" in one graph get "a_b_XXXXXXXX" each, and "a/b"
// beside a node "a_b" gets one too). The result depends only on the graph's
// node ids, so every tool reading the same graph finds the same roles.
func (g *Graph) Role(id string) string {
	if SafeRole(id) {
		return id
	}
	esc := EscapeRole(id)
	for _, n := range g.Nodes {
		if n.ID != id && (n.ID == esc || EscapeRole(n.ID) == esc) {
			return esc + "_" + roleHash(id)
		}
	}
	return esc
}

// Roles maps every node id of the graph to its role (as Role, for all
// nodes at once).
func (g *Graph) Roles() map[string]string {
	esc := make(map[string]string, len(g.Nodes))
	count := make(map[string]int, len(g.Nodes))
	for _, n := range g.Nodes {
		e := EscapeRole(n.ID)
		esc[n.ID] = e
		count[e]++
	}
	out := make(map[string]string, len(g.Nodes))
	for _, n := range g.Nodes {
		switch e := esc[n.ID]; {
		case e == n.ID:
			out[n.ID] = n.ID
		case count[e] > 1:
			out[n.ID] = e + "_" + roleHash(n.ID)
		default:
			out[n.ID] = e
		}
	}
	return out
}

// NodesOfRole lists the ids of the graph's nodes whose role is role, in
// graph order.
func (g *Graph) NodesOfRole(role string) []string {
	roles := g.Roles()
	var out []string
	for _, n := range g.Nodes {
		if roles[n.ID] == role {
			out = append(out, n.ID)
		}
	}
	return out
}
