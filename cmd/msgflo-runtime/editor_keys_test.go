package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/msgflo/msgflo-runtime/graph"
)

// selected is a check that exactly these nodes are selected.
func selected(ids ...string) string {
	return fmt.Sprintf(`(() => {
  const sel = [...document.querySelectorAll('#canvas .node.selected')].map((n) => n.dataset.node).sort().join(',');
  return sel === %q ? '' : 'selected: ' + sel;
})()`, strings.Join(ids, ","))
}

// focused is a check that the node with this id has the keyboard's focus.
func focused(id string) string {
	return fmt.Sprintf(`document.activeElement?.dataset?.node === %q ? '' : 'focus on ' + (document.activeElement?.dataset?.node || document.activeElement?.id || document.activeElement?.tagName)`, id)
}

// The keyboard table of docs/editor.md, key by key, on a graph a -> b:
// Tab and Shift+Tab go from node to node, selecting each; the arrows move
// the selection (Shift: further); Escape selects nothing, and nothing is
// selected again behind the user's back (a redraw keeps the focus where
// it was, and Delete then deletes nothing); L lays the graph out, Ctrl+Z
// undoes it, Ctrl+Y and Ctrl+Shift+Z redo; - and 0 zoom out and fit; / and
// the arrows go down the palette, Enter adds the component focused,
// Escape goes back to the canvas.
func TestEditorByKeyboard(t *testing.T) {
	path := writeFile(t, "keys.fbp", "a(core/Repeat) OUT -> IN b(core/Repeat)\n")
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path, "--componentdir", "")
	ws, _ := p.ready(t)
	c := dialFBP(t, ws)
	a := editorAt(t, "http"+strings.TrimPrefix(ws, "ws"), "keys")
	key := func(what string, k string, mods ...chromedp.KeyOption) {
		t.Helper()
		a.do("press "+what, chromedp.KeyEvent(k, mods...))
	}

	eval[bool](a, `(() => { document.querySelector('#canvas svg').focus(); return true; })()`)
	key("Tab", kb.Tab)
	a.wait("a focused", focused("a"))
	a.wait("a selected", selected("a"))
	key("Tab", kb.Tab)
	a.wait("b focused", focused("b"))
	a.wait("b selected, a not", selected("b"))
	key("Shift+Tab", kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift))
	a.wait("a selected again", selected("a"))

	ax, ay := eval[float64](a, jsNode("a")+`.transform.baseVal[0].matrix.e`), eval[float64](a, jsNode("a")+`.transform.baseVal[0].matrix.f`)
	key("ArrowRight", kb.ArrowRight)
	key("Shift+ArrowDown", kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierShift))
	graphBecomes(t, c, "keys", "a moved right by 12 and down by 48", func(g *graph.Graph) string {
		if x, y, ok := positionOf(g, "a"); !ok || x != ax+12 || y != ay+48 {
			return fmt.Sprintf("a at %v,%v (%v), want %v,%v", x, y, ok, ax+12, ay+48)
		}
		return ""
	})

	key("Escape", kb.Escape)
	a.wait("nothing selected", selected())
	request(t, c, "graph", "changenode", map[string]any{"id": "b", "metadata": map[string]any{"x": 400, "y": 300}, "graph": "keys"})
	a.wait("another client's change drawn", fmt.Sprintf(`%s.getAttribute('transform') === 'translate(400,300)' ? '' : 'not yet'`, jsNode("b")))
	a.wait("a keeps the focus", focused("a"))
	a.wait("nothing selected after the redraw", selected())
	key("Delete", kb.Delete)
	allAcknowledged(t, a)
	if g := sourceOf(t, c, "keys"); len(g.Nodes) != 2 {
		t.Fatalf("Delete with nothing selected deleted something: %d nodes left", len(g.Nodes))
	}

	before := sourceOf(t, c, "keys")
	changed := func(g *graph.Graph) string {
		if graphDiff(g, before, true) == "" {
			return "as before"
		}
		return ""
	}
	key("L", "l")
	// The layout moves each node with a changenode of its own: the graph
	// laid out is the one once every one is acknowledged, not the first
	// that differs (seen failing with only a moved).
	graphBecomes(t, c, "keys", "the graph laid out", changed)
	allAcknowledged(t, a)
	laidOut := sourceOf(t, c, "keys")
	key("Ctrl+Z", "z", chromedp.KeyModifiers(chromedp.ModifierCtrl))
	graphBecomes(t, c, "keys", "the layout undone", func(g *graph.Graph) string { return graphDiff(g, before, true) })
	key("Ctrl+Y", "y", chromedp.KeyModifiers(chromedp.ModifierCtrl))
	graphBecomes(t, c, "keys", "the layout redone", func(g *graph.Graph) string { return graphDiff(g, laidOut, true) })
	key("Ctrl+Z", "z", chromedp.KeyModifiers(chromedp.ModifierCtrl))
	graphBecomes(t, c, "keys", "the layout undone again", func(g *graph.Graph) string { return graphDiff(g, before, true) })
	key("Ctrl+Shift+Z", "Z", chromedp.KeyModifiers(chromedp.ModifierCtrl|chromedp.ModifierShift))
	graphBecomes(t, c, "keys", "the layout redone again", func(g *graph.Graph) string { return graphDiff(g, laidOut, true) })

	// 0 fits the view to the graph as drawn now (node states redrawn
	// meanwhile change its size): zoomed in again from -, the whole graph
	// inside the canvas.
	zoom := func() float64 { return eval[float64](a, `Number(document.getElementById('canvas').dataset.zoom)`) }
	before0 := zoom()
	key("-", "-")
	a.wait("zoomed out", fmt.Sprintf(`Number(document.getElementById('canvas').dataset.zoom) < %v ? '' : 'zoom ' + document.getElementById('canvas').dataset.zoom`, before0))
	out := zoom()
	key("0", "0")
	a.wait("fitted again", fmt.Sprintf(`(() => {
  const z = Number(document.getElementById('canvas').dataset.zoom);
  const box = document.querySelector('#canvas svg').getBoundingClientRect();
  const r = document.querySelector('#canvas svg g.view').getBoundingClientRect();
  const inside = r.left >= box.left - 1 && r.top >= box.top - 1 && r.right <= box.right + 1 && r.bottom <= box.bottom + 1;
  return z > %v && inside ? '' : 'zoom ' + z + (inside ? '' : ', graph outside the canvas');
})()`, out))

	// KeyEvent types the / too (the page cannot cancel it): ArrowDown
	// leaves the search whatever it holds.
	key("/", "/")
	a.wait("the search focused", `document.activeElement === document.getElementById('palette_search') ? '' : 'focus on ' + document.activeElement.id`)
	eval[bool](a, `(() => { const s = document.getElementById('palette_search'); s.value = ''; s.dispatchEvent(new Event('input')); return true; })()`)
	key("ArrowDown", kb.ArrowDown)
	key("ArrowDown", kb.ArrowDown)
	second := eval[string](a, `document.querySelectorAll('#palette li.component')[1].dataset.component`)
	a.wait("the second component focused", fmt.Sprintf(`document.activeElement?.dataset?.component === %q ? '' : 'focus on ' + (document.activeElement?.dataset?.component || document.activeElement?.id)`, second))
	key("Enter", kb.Enter)
	addedTo := graphBecomes(t, c, "keys", "a node of "+second+" added", func(g *graph.Graph) string {
		for _, n := range g.Nodes {
			if len(g.Nodes) == 3 && n.ID != "a" && n.ID != "b" && n.Component == second {
				return ""
			}
		}
		return fmt.Sprintf("nodes %v", g.Nodes)
	})
	var added string
	for _, n := range addedTo.Nodes {
		if n.ID != "a" && n.ID != "b" {
			added = n.ID
		}
	}
	a.wait("the new node selected", selected(added))
	key("Escape", kb.Escape)
	a.wait("back on the canvas", focused(added))
	allAcknowledged(t, a)
}
