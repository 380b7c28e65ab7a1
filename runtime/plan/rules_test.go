package plan

import (
	"errors"
	"testing"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/network"
)

// --ignore names a node by its id or by its role, never by anything else.
func TestIgnoreListMatchesIDOrRole(t *testing.T) {
	g := graph.New("g")
	for _, id := range []string{"web", "core/Output_1", "a/b", "a+b"} {
		if _, err := g.AddNode(id, "x/Y", nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		ignore IgnoreList
		node   string
		want   bool
	}{
		{IgnoreList{"web"}, "web", true},
		{IgnoreList{"core/Output_1"}, "core/Output_1", true}, // by id
		{IgnoreList{"core_Output_1"}, "core/Output_1", true}, // by role
		{IgnoreList{"core_Output_1"}, "web", false},
		{IgnoreList{g.Role("a/b")}, "a/b", true},
		{IgnoreList{g.Role("a/b")}, "a+b", false}, // ids that escape alike have roles of their own
		{IgnoreList{"a_b"}, "a/b", false},
		{IgnoreList{"WEB"}, "web", false},
		{nil, "web", false},
	} {
		if got := c.ignore.Matches(c.node, g.Role(c.node)); got != c.want {
			t.Errorf("%q matches %q (role %q): %v, want %v", c.ignore, c.node, g.Role(c.node), got, c.want)
		}
	}
}

// What the runtime does for a node: an observation nothing; --ignore
// before the component; a built-in in-process before the library; else a
// participant is expected from outside.
func TestRulesRun(t *testing.T) {
	rules := Rules{
		Ignore:  IgnoreList{"skip"},
		Builtin: func(c string) bool { return c == "core/Repeat" },
		Library: func(c string) bool { return c == "lib/W" || c == "core/Repeat" },
	}
	for _, c := range []struct {
		id, component string
		observed      bool
		want          Run
	}{
		{"r", "core/Repeat", false, InProcess},
		{"w", "lib/W", false, LibraryProcess},
		{"e", "ext/E", false, External},
		{"skip", "core/Repeat", false, Ignored},
		{"skip", "lib/W", false, Ignored},
		{"o", "core/Repeat", true, Observed},
		{"o", "lib/W", true, Observed},
		{"skip", "lib/W", true, Observed},
	} {
		if got := rules.Run(c.id, c.id, c.component, c.observed); got != c.want {
			t.Errorf("%s (%s, observed %v): %v, want %v", c.id, c.component, c.observed, got, c.want)
		}
	}
	if (Rules{}).Run("r", "r", "core/Repeat", false) != External {
		t.Error("without components everything is external")
	}
	for _, r := range []Run{External, InProcess, LibraryProcess, Ignored, Observed} {
		if r.Describe() == "" || r.String() == "" || r.Starts() != (r == InProcess || r == LibraryProcess) {
			t.Errorf("%d: %q %q %v", r, r, r.Describe(), r.Starts())
		}
	}
}

// A port's queue is the one its participant announced: exact id first,
// then case-insensitively; a port it lacks, or announced without a queue,
// is an error naming the participant.
func TestPortQueue(t *testing.T) {
	def := network.Definition{ID: "p1", Role: "r", Component: "x/Y",
		Inports:  []network.Port{{ID: "in", Queue: "q.in"}, {ID: "IN", Queue: "q.IN"}, {ID: "noqueue"}},
		Outports: []network.Port{{ID: "Out", Queue: "q.out"}}}
	for _, c := range []struct {
		port  string
		out   bool
		queue string
		err   string
	}{
		{"in", false, "q.in", ""},
		{"IN", false, "q.IN", ""},
		{"In", false, "q.in", ""},
		{"out", true, "q.out", ""},
		{"in", true, "", "Participant p1 (role r) has no outport in"},
		{"noqueue", false, "", "Participant p1 (role r) has no inport noqueue"},
		{"missing", false, "", "Participant p1 (role r) has no inport missing"},
	} {
		q, err := PortQueue(def, c.port, c.out)
		if q != c.queue || (err == nil) != (c.err == "") || (err != nil && err.Error() != c.err) {
			t.Errorf("%s (out %v): %q, %v; want %q, %q", c.port, c.out, q, err, c.queue, c.err)
		}
		var pe *PortError
		if err != nil && !errors.As(err, &pe) {
			t.Errorf("%v is not a *PortError", err)
		}
	}
}
