package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

const loadedFBP = `# a graph to load
INPORT=first.IN:START
OUTPORT=last.OUT:RESULT
'go' -> IN first(core/Repeat)
first OUT -> IN middle(core/Repeat)
middle OUT -> IN last(core/Repeat)
spare(core/Repeat)
`

// editorAt opens the editor on a runtime and waits for graph id.
func editorAt(t *testing.T, base, graphID string) tab {
	t.Helper()
	a := tab{t, browser(t, chromium(t)), "editor"}
	check := pageProblems(t, a, base)
	t.Cleanup(func() {
		if !t.Failed() {
			check()
		}
	})
	a.do("open the editor", chromedp.Navigate(base+"/#secret="+testSecret))
	a.wait("the main graph", fmt.Sprintf(`document.getElementById('canvas').dataset.graph === %q && document.getElementById('canvas').dataset.loaded === 'true' ? '' : 'not loaded'`, graphID))
	return a
}

// graphBecomes waits until the runtime's graph passes check ("" when
// met): it looks again after each graph event the client receives.
func graphBecomes(t *testing.T, c *fbpclient.Client, id, what string, check func(g *graph.Graph) string) *graph.Graph {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		g := sourceOf(t, c, id)
		miss := check(g)
		if miss == "" {
			return g
		}
		if _, err := c.WaitFor(ctx, func(m fbpclient.Message) bool { return m.Protocol == "graph" }); err != nil {
			t.Fatalf("%s: %s (%v)", what, miss, err)
		}
	}
}

// The editor's other edits, checked against the runtime's graph: a .fbp
// file loaded into a new graph; auto-layout (and undo); a node dragged to
// a place (metadata x, y, as Flowhub keeps them); a node renamed with F2
// (and undo); ports exported, the graph started and a packet sent to its
// exported inport seen at its exported outport as typed; an edge made
// with the keyboard (C); a .json file loaded over the graph (and undo);
// zoom with the keyboard.
func TestEditorEditsGraphs(t *testing.T) {
	path := writeFile(t, "start.fbp", "a(core/Repeat) OUT -> IN b(core/Repeat)\n")
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--graph", path, "--componentdir", "")
	ws, _ := p.ready(t)
	base := "http" + strings.TrimPrefix(ws, "ws")
	c := dialFBP(t, ws)
	a := editorAt(t, base, "start")

	want, err := graph.LoadFBP("loaded", loadedFBP)
	if err != nil {
		t.Fatal(err)
	}
	loadFile(t, a, writeFile(t, "loaded.fbp", loadedFBP), "")
	a.wait("the loaded graph", shows("loaded", []string{"first", "middle", "last", "spare"}, []string{"first.out->middle.in", "middle.out->last.in"}))
	allAcknowledged(t, a) // the exported ports and the IIP too, not only what is drawn
	sameGraph(t, "the loaded .fbp", sourceOf(t, c, "loaded"), want, false)

	autoLayout(t, a, c)
	dragNode(t, a, c, "spare")
	renameNode(t, a, c)
	exportAndSend(t, a, c)

	selectNode(a, "middle")
	a.do("press C", chromedp.KeyEvent("c"))
	a.wait("the outport to connect focused", `document.activeElement?.id === 'connect_from' ? '' : 'focus on ' + document.activeElement?.id`)
	a.do("choose spare.in and connect", chromedp.SetValue(chromedp.ID("connect_to"), "spare.in"), chromedp.Focus(chromedp.CSS(`#connect button`)), chromedp.KeyEvent(kb.Enter))
	graphBecomes(t, c, "loaded", "the edge made with the keyboard", func(g *graph.Graph) string {
		return hasEdge(g, "middle.out -> spare.in")
	})

	before := sourceOf(t, c, "loaded")
	replacement := writeFile(t, "other.json", `{"processes":{"x":{"component":"core/Repeat","metadata":{"x":10,"y":20}}},"connections":[{"data":{"n":1.50},"tgt":{"process":"x","port":"in"}}]}`)
	loadFile(t, a, replacement, "loaded")
	a.wait("the graph replaced", shows("loaded", []string{"x"}, nil))
	g := sourceOf(t, c, "loaded")
	if len(g.IIPs) != 1 || string(g.IIPs[0].Data) != `{"n":1.50}` {
		t.Fatalf("the loaded initial packet is not the file's text: %+v", g.IIPs)
	}
	a.do("undo the load", chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	graphBecomes(t, c, "loaded", "the graph back as before the load", func(g *graph.Graph) string {
		return graphDiff(g, before, true)
	})
	// Loading a graph clears it: the runtime stops it, and the editor says so.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.Request(ctx, "network", "getstatus", map[string]any{"graph": "loaded"})
	if err != nil || !strings.Contains(string(st.Payload), `"started":false`) {
		t.Fatalf("status after the load: %s (%v)", st.Payload, err)
	}
	a.wait("the graph shown stopped", `document.getElementById('run_state').textContent === 'stopped' ? '' : 'shown ' + document.getElementById('run_state').textContent`)

	a.wait("all of it drawn again", shows("loaded", []string{"first", "middle", "last", "spare"}, []string{"first.out->middle.in", "middle.out->last.in", "middle.out->spare.in"}))
	a.wait("its initial packet and exported ports drawn", `document.querySelectorAll('#canvas [data-iip]').length === 1 && document.querySelectorAll('#canvas [data-export]').length === 4 ? '' : 'not yet'`)
	zoom := func() float64 { return eval[float64](a, `Number(document.getElementById('canvas').dataset.zoom)`) }
	k := zoom()
	a.do("zoom in", chromedp.KeyEvent("+"))
	if z := zoom(); z <= k {
		t.Fatalf("zoom %v after + (was %v)", z, k)
	}
	view := func() []float64 {
		return eval[[]float64](a, `(() => { const m = document.querySelector('#canvas g.view').transform.baseVal[0].matrix; return [m.a, m.e, m.f]; })()`)
	}
	box := eval[[]float64](a, `(() => { const r = document.getElementById('canvas').getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()`)
	x0, y0 := box[0]+12, box[1]+box[3]-12 // a corner: the background
	v := view()
	a.do("drag the background", chromedp.DragAndDropXY(x0, y0, x0+50, y0-30))
	if w := view(); w[0] != v[0] || math.Abs(w[1]-v[1]-50) > 0.5 || math.Abs(w[2]-v[2]+30) > 0.5 {
		t.Fatalf("view %v after dragging the background by 50,-30 (was %v)", w, v)
	}
	a.do("wheel", chromedp.MouseEvent(chromedp.MouseWheel, box[0]+box[2]/2, box[1]+box[3]/2, func(p *input.DispatchMouseEventParams) { p.DeltaX, p.DeltaY = 0.01, -200 }))
	a.wait("zoomed in by the wheel", fmt.Sprintf(`Number(document.getElementById('canvas').dataset.zoom) > %v ? '' : 'zoom ' + document.getElementById('canvas').dataset.zoom`, v[0]))
	keepScreenshot(t, a.ctx, "editor-edits.png")
	allAcknowledged(t, a)
	refusedEditForgotten(t, a)
}

// refusedEditForgotten: an edit the runtime refuses (a graph:error after
// it, before its acknowledgement) is not on the undo stack, and the user
// is told. The error is made in the page, right after the edit (in the
// same task, before the runtime can answer): a real refusal needs another
// client's change racing the user's.
func refusedEditForgotten(t *testing.T, a tab) {
	t.Helper()
	got, err := chromedp.Run(a.ctx, chromedp.Evaluate[[]string](`(async () => {
  const { editor } = await import('/status/status.js');
  const steps = () => String(editor.history.stacks('loaded').undo.length);
  const before = steps();
  editor.connect({ node: 'first', port: 'out' }, { node: 'last', port: 'in' });
  const after = steps();
  editor.conn.dispatch({ protocol: 'graph', command: 'error', payload: { message: 'refused for the test' } });
  return [before, after, steps(), document.getElementById('message').textContent];
})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[1] == got[0] || got[2] != got[0] || got[3] != "refused for the test" {
		t.Fatalf("steps to undo before, after the edit, after its refusal, and the message: %q", got)
	}
}

// loadFile loads a file with Load…, into the graph named after it or into
// graph into.
func loadFile(t *testing.T, a tab, path, into string) {
	t.Helper()
	a.do("choose the file", chromedp.SetUploadFiles(chromedp.ID("load_file"), []string{path}), chromedp.WaitVisible(chromedp.ID("load_graph_id")))
	want := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	a.wait("the graph named after the file", fmt.Sprintf(`document.getElementById('load_graph_id').value === %q ? '' : 'named ' + document.getElementById('load_graph_id').value`, want))
	if into != "" {
		a.do("load into "+into, chromedp.SetValue(chromedp.ID("load_graph_id"), into))
	}
	a.do("load", chromedp.Click(chromedp.CSS(`#load button[type=submit]`)))
}

func hasEdge(g *graph.Graph, edge string) string {
	for _, e := range g.Edges {
		if e.Src.String()+" -> "+e.Tgt.String() == edge {
			return ""
		}
	}
	return "no edge " + edge
}

// positionOf is a node's position in its metadata, if it has one.
func positionOf(g *graph.Graph, id string) (x, y float64, ok bool) {
	n := g.Node(id)
	if n == nil {
		return 0, 0, false
	}
	x, okx := n.Metadata["x"].(float64)
	y, oky := n.Metadata["y"].(float64)
	return x, y, okx && oky
}

// autoLayout lays out a graph without positions (every node gets one) and
// undoes it (none has one again).
func autoLayout(t *testing.T, a tab, c *fbpclient.Client) {
	t.Helper()
	placed := func(want bool) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#canvas [data-node]')].every((n) => n.dataset.placed === '%t') ? '' : 'not all placed %t'`, want, want)
	}
	a.do("auto-layout", chromedp.Click(chromedp.ID("layout")))
	graphBecomes(t, c, "loaded", "every node placed", func(g *graph.Graph) string {
		for _, n := range g.Nodes {
			if _, _, ok := positionOf(g, n.ID); !ok {
				return n.ID + " has no position"
			}
		}
		return ""
	})
	a.wait("every node placed", placed(true))
	a.do("undo", chromedp.Click(chromedp.ID("undo")))
	graphBecomes(t, c, "loaded", "no node placed", func(g *graph.Graph) string {
		for _, n := range g.Nodes {
			if _, _, ok := positionOf(g, n.ID); ok {
				return n.ID + " still has a position"
			}
		}
		return ""
	})
	a.wait("no node placed", placed(false))
}

// dragNode drags a node by 90 × 60 pixels: its metadata x, y move by that
// much at the view's zoom, and the node is drawn there.
func dragNode(t *testing.T, a tab, c *fbpclient.Client, id string) {
	t.Helper()
	a.wait("the layout back", shows("loaded", []string{"first", "middle", "last", "spare"}, []string{"first.out->middle.in", "middle.out->last.in"}))
	x, y := a.point(id, jsNode(id)+`.querySelector('rect.box')`)
	from := eval[[]float64](a, `(() => { const m = `+jsNode(id)+`.transform.baseVal[0].matrix; return [m.e, m.f, Number(document.getElementById('canvas').dataset.zoom)]; })()`)
	a.do("drag the node", chromedp.DragAndDropXY(x, y, x+90, y+60))
	wantX, wantY := math.Round(from[0]+90/from[2]), math.Round(from[1]+60/from[2])
	g := graphBecomes(t, c, "loaded", "the node's new place", func(g *graph.Graph) string {
		gx, gy, ok := positionOf(g, id)
		if !ok || math.Abs(gx-wantX) > 1 || math.Abs(gy-wantY) > 1 {
			return fmt.Sprintf("at %v,%v (%v), want %v,%v", gx, gy, ok, wantX, wantY)
		}
		return ""
	})
	// The other nodes get their places in changenodes of their own: all
	// in once every one is acknowledged.
	allAcknowledged(t, a)
	g = sourceOf(t, c, "loaded")
	gx, gy, _ := positionOf(g, id)
	a.wait("drawn at its metadata", fmt.Sprintf(`%s.getAttribute('transform') === 'translate(%v,%v)' ? '' : %s.getAttribute('transform')`, jsNode(id), gx, gy, jsNode(id)))
	for _, n := range g.Nodes {
		if _, _, ok := positionOf(g, n.ID); !ok {
			t.Errorf("node %s was not given its place when %s was moved", n.ID, id)
		}
	}
}

// renameNode renames last (F2, type, Enter): edges and exported ports
// follow; undo brings the old name back.
func renameNode(t *testing.T, a tab, c *fbpclient.Client) {
	t.Helper()
	selectNode(a, "last")
	a.do("press F2", chromedp.KeyEvent(kb.F2))
	a.wait("the id field focused", `document.activeElement?.id === 'node_id' ? '' : 'focus on ' + document.activeElement?.id`)
	a.do("type the new id", chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent("final"+kb.Enter))
	graphBecomes(t, c, "loaded", "the node renamed", func(g *graph.Graph) string {
		if g.Node("final") == nil || len(g.Outports) != 1 || g.Outports[0].Node != "final" {
			return "not renamed"
		}
		return hasEdge(g, "middle.out -> final.in")
	})
	eval[bool](a, `(() => { document.activeElement.blur(); return true; })()`)
	a.do("undo", chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	graphBecomes(t, c, "loaded", "the old name back", func(g *graph.Graph) string {
		if g.Node("last") == nil {
			return "not renamed back"
		}
		return hasEdge(g, "middle.out -> last.in")
	})
	allAcknowledged(t, a) // the tab has the old name back too
}

// selectNode clicks a node and waits until the inspector shows it: a
// click on the inspector before then would reach the one of the node
// selected before.
func selectNode(a tab, id string) {
	a.t.Helper()
	x, y := a.point(id, jsNode(id)+`.querySelector('rect.box')`)
	a.do("select "+id, chromedp.MouseClickXY(x, y))
	a.wait(id+" selected", fmt.Sprintf(`document.getElementById('node_id')?.value === %q ? '' : 'inspector of ' + document.getElementById('node_id')?.value`, id))
}

// exportAndSend exports spare's ports, starts the graph, sends a packet
// to the exported inport from the graph's panel and sees it come out of
// the exported outport as it was typed.
func exportAndSend(t *testing.T, a tab, c *fbpclient.Client) {
	t.Helper()
	selectNode(a, "spare")
	for _, sel := range []string{`#inspector button[data-key="export-in:in"]`, `#inspector button[data-key="export-out:out"]`} {
		a.do("export", chromedp.Click(chromedp.CSS(sel)))
		a.wait("exported", fmt.Sprintf(`document.querySelector(%q) ? 'not yet' : ''`, sel))
	}
	graphBecomes(t, c, "loaded", "the ports exported", func(g *graph.Graph) string {
		if len(g.Inports) != 2 || len(g.Outports) != 2 {
			return fmt.Sprintf("inports %v outports %v", g.Inports, g.Outports)
		}
		return ""
	})
	a.do("deselect, start", chromedp.KeyEvent(kb.Escape), chromedp.Click(chromedp.ID("run")))
	a.wait("running", `document.getElementById('run_state').textContent === 'running' ? '' : 'not running'`)
	field := `#graph_inports input[data-key="send-in"]`
	// Typed into the focused field (the inspector keeps focus when it draws
	// again), not into a DOM node found beforehand, which a new drawing
	// replaces (see setInitialPacket).
	a.wait("the packet's field", `document.querySelector('`+field+`') ? '' : 'no field'`)
	eval[bool](a, `(() => { const f = document.querySelector('`+field+`'); f.value = ''; f.focus(); return true; })()`)
	a.do("type a packet", chromedp.KeyEvent(`{"n": 1.50}`+kb.Enter))
	a.wait("the packet out of the exported outport", `document.getElementById('graph_output').textContent.includes('out: {"n":1.50}') ? '' : document.getElementById('graph_output').textContent`)
	a.wait("the nodes running", `[...document.querySelectorAll('#canvas [data-node]')].every((n) => n.dataset.state === 'running') ? '' : 'not all running'`)
	keepPNG(t, a.ctx, "editor-readme.png", chromedp.CaptureScreenshot()) // docs/editor.png
}

// A participant discovered on the broker appears in the live main graph
// (a runtime without a graph file) and its component in the palette,
// without a reload.
func TestEditorShowsDiscoveredParticipants(t *testing.T) {
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0", "--componentdir", "")
	ws, broker := p.ready(t)
	a := editorAt(t, "http"+strings.TrimPrefix(ws, "ws"), "default/main")
	a.wait("the palette", `document.querySelector('#palette li[data-component="core/Repeat"]') ? '' : 'no components'`)
	startGoParticipant(t, broker, "live/Echo", "echo1", 60)
	a.wait("the participant's node", fmt.Sprintf(`%s?.dataset.state === 'running' ? '' : 'no running node echo1'`, jsNode("echo1")))
	a.wait("its component in the palette", `document.querySelector('#palette li[data-component="live/Echo"]')?.textContent.includes('in: in') ? '' : 'not listed'`)
}
