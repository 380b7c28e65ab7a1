package graph

import (
	"strings"
	"testing"
)

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []string
		want  map[string]string // node -> role; "#" stands for "_" + roleHash(node)
	}{
		{"safe ids are roles", []string{"repeat", "A-b.c_d:e", "æøå"}, map[string]string{"repeat": "repeat", "A-b.c_d:e": "A-b.c_d:e", "æøå": "æøå"}},
		{"flowhub ids", []string{"core/Output_3v0gj", "core/Repeat_x1"}, map[string]string{"core/Output_3v0gj": "core_Output_3v0gj", "core/Repeat_x1": "core_Repeat_x1"}},
		{"wildcards and spaces", []string{"a+b", "my node", "c#d", "tab\there"}, map[string]string{"a+b": "a_b", "my node": "my_node", "c#d": "c_d", "tab\there": "tab_here"}},
		{"reserved prefixes", []string{"$SYS", "amq.gen"}, map[string]string{"$SYS": "_SYS", "amq.gen": "_amq.gen"}},
		{"escape meets a safe id", []string{"a/b", "a_b"}, map[string]string{"a/b": "a_b#", "a_b": "a_b"}},
		{"two escapes meet", []string{"a/b", "a+b"}, map[string]string{"a/b": "a_b#", "a+b": "a_b#"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := New("g")
			for _, n := range tc.nodes {
				if _, err := g.AddNode(n, "c", nil); err != nil {
					t.Fatal(err)
				}
			}
			all := g.Roles()
			seen := map[string]string{}
			for node, want := range tc.want {
				want = strings.ReplaceAll(want, "#", "_"+roleHash(node))
				if got := g.Role(node); got != want {
					t.Errorf("Role(%q) = %q, want %q", node, got, want)
				}
				if all[node] != want {
					t.Errorf("Roles()[%q] = %q, want %q", node, all[node], want)
				}
				if !SafeRole(want) {
					t.Errorf("role %q of %q is not safe", want, node)
				}
				if other, dup := seen[want]; dup {
					t.Errorf("%q and %q share role %q", node, other, want)
				}
				seen[want] = node
			}
		})
	}
}

func TestEscapeRoleBounds(t *testing.T) {
	long := strings.Repeat("é/", 300)
	r := EscapeRole(long)
	if len(r) > maxRoleLength || !SafeRole(r) || !strings.HasSuffix(r, roleHash(long)) {
		t.Fatalf("EscapeRole of a long id: %q (%d bytes)", r, len(r))
	}
	if r2 := EscapeRole(long + "x"); r2 == r {
		t.Fatal("two long ids escape alike")
	}
	if r := EscapeRole("bad\xffutf8"); !SafeRole(r) {
		t.Fatalf("invalid UTF-8 escapes to %q", r)
	}
}
