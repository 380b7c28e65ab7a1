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
		{"safe ids are roles", []string{"repeat", "A-b.c_d", "æøå", "x9-"}, map[string]string{"repeat": "repeat", "A-b.c_d": "A-b.c_d", "æøå": "æøå", "x9-": "x9-"}},
		{"shell syntax", []string{"a$(touch${IFS}PWNED1)", "`id`", "a;b", "'q'", "c:d", "*"}, map[string]string{"a$(touch${IFS}PWNED1)": "a__touch__IFS_PWNED1_", "`id`": "_id_", "a;b": "a_b", "'q'": "_q_", "c:d": "c_d", "*": "_"}},
		{"options stay (the library refuses them)", []string{"-rf", "--help"}, map[string]string{"-rf": "-rf", "--help": "--help"}},
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

// Whatever the id, its role is one word to a shell and a plain name to
// every broker: no byte a shell or a topic filter reads specially.
func FuzzEscapeRole(f *testing.F) {
	for _, id := range []string{"", "a$(touch${IFS}PWNED1)", "-rf", "amq.x", "é/ü", "\xff\xfe", "a b\tc\nd", strings.Repeat("ab/", 100), "x\u0301", "١٢٣", "c:d", "a;b|c&d", "~u=%{x}!,^@"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		r := EscapeRole(id)
		if !SafeRole(r) || strings.ContainsAny(r, " \t\n\r|&;()<>$`\\\"'*?[]#~=%{}!,:/+^@") {
			t.Fatalf("EscapeRole(%q) = %q", id, r)
		}
		if SafeRole(id) && r != id {
			t.Fatalf("safe %q escaped to %q", id, r)
		}
	})
}
