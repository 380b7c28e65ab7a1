package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdppage "github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/msgflo/msgflo-runtime/graph"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
	"github.com/msgflo/msgflo-runtime/protocol/fbpclient"
)

// tab is a browser tab with the editor open.
type tab struct {
	t    *testing.T
	ctx  context.Context
	name string
}

func (b tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	inBrowser(b.t, b.ctx, b.name+": "+what, steps...)
}

func (b tab) wait(what, check string) {
	b.t.Helper()
	waitPage(b.t, b.ctx, b.name+": "+what, check)
}

// eval runs a JavaScript expression in the tab.
func eval[T any](b tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, expr, err)
	}
	return v
}

// point is the centre (in the page's pixels) of what a JavaScript
// expression gives: an element, or an SVG path's middle.
func (b tab) point(what, expr string) (x, y float64) {
	b.t.Helper()
	xy := eval[[]float64](b, `(() => {
  const e = `+expr+`;
  if (!e) return [];
  if (e.getPointAtLength) {
    const m = e.getPointAtLength(e.getTotalLength() / 2).matrixTransform(e.getScreenCTM());
    return [m.x, m.y];
  }
  const r = e.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
})()`)
	if len(xy) != 2 {
		b.t.Fatalf("%s: no %s on the page", b.name, what)
	}
	return xy[0], xy[1]
}

// pageProblems collects what must not happen in a tab: a script error,
// a request to another host than the runtime's (the editor works without
// the internet), a Content-Security-Policy violation.
func pageProblems(t *testing.T, b tab, base string) (check func()) {
	t.Helper()
	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*cdpruntime.EventExceptionThrown); ok {
			mu.Lock()
			problems = append(problems, "script error: "+e.ExceptionDetails.Text+" "+exceptionText(e))
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	b.do("record Content-Security-Policy violations", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__cspViolations = []; document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
		})
		return err
	}))
	return func() {
		t.Helper()
		elsewhere := eval[[]string](b, fmt.Sprintf(`performance.getEntries().map((e) => e.name).filter((u) => /^[a-z]+:/.test(u) && !u.startsWith(%q) && !u.startsWith('blob:'))`, base+"/"))
		violations := eval[[]string](b, `window.__cspViolations || []`)
		mu.Lock()
		defer mu.Unlock()
		for _, u := range elsewhere {
			problems = append(problems, "request to another host: "+u)
		}
		for _, v := range violations {
			problems = append(problems, "Content-Security-Policy violation: "+v)
		}
		if len(problems) > 0 {
			t.Fatalf("%s: %s", b.name, strings.Join(problems, "; "))
		}
	}
}

func exceptionText(e *cdpruntime.EventExceptionThrown) string {
	if e.ExceptionDetails.Exception != nil {
		return e.ExceptionDetails.Exception.Description
	}
	return ""
}

// allAcknowledged waits until the runtime has acknowledged every graph
// command the tab's editor sent: each of its edits was recognised in the
// runtime's events (none is taken for refused by a later error).
func allAcknowledged(t *testing.T, b tab) {
	t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(async () => { window.__editor = (await import('/status/status.js')).editor; return true; })()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: the page's editor: %v", b.name, err)
	}
	b.wait("every command acknowledged", `window.__editor.pending.length === 0 ? '' : JSON.stringify(window.__editor.pending.map((p) => p.command + ' ' + p.key))`)
}

// jsNode finds a node of the canvas by id.
func jsNode(id string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#canvas [data-node]')].find((n) => n.dataset.node === %q)`, id)
}

// jsPort finds a port of a node of the canvas (its visible mark).
func jsPort(node, port string, out bool) string {
	kind := "in"
	if out {
		kind = "out"
	}
	return fmt.Sprintf(`[...(%s)?.querySelectorAll('.port.%s') || []].find((p) => p.dataset.port === %q)?.querySelector('circle:not(.port-hit), rect')`, jsNode(node), kind, port)
}

// jsEdgeLine finds the drawn line of an edge.
func jsEdgeLine(key string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#canvas [data-edge]')].find((e) => e.dataset.edge === %q)?.querySelector('path.line')`, key)
}

// shows is a check of the open graph's drawing: exactly these nodes and
// edges, and the graph loaded.
func shows(graphID string, nodes, edges []string) string {
	return fmt.Sprintf(`(() => {
  const c = document.getElementById('canvas');
  if (c.dataset.graph !== %q || c.dataset.loaded !== 'true') return 'graph ' + c.dataset.graph + ' loaded ' + c.dataset.loaded;
  const want = %s, wantEdges = %s;
  const drawn = [...c.querySelectorAll('[data-node]')].map((n) => n.dataset.node).sort();
  if (JSON.stringify(drawn) !== JSON.stringify(want.slice().sort())) return 'nodes ' + drawn.join(',');
  const edges = [...c.querySelectorAll('[data-edge]')].map((e) => e.dataset.edge).sort();
  if (JSON.stringify(edges) !== JSON.stringify(wantEdges.slice().sort())) return 'edges ' + edges.join(',');
  return '';
})()`, graphID, mustJSON(orEmpty(nodes)), mustJSON(orEmpty(edges)))
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// both does something in tab a and waits until both tabs show its
// outcome; it logs how long tab b took after the action (an acceptance
// figure: within a second).
func both(t *testing.T, a, b tab, what, check string, act func()) time.Duration {
	t.Helper()
	act()
	began := time.Now()
	b.wait(what, check)
	took := time.Since(began)
	a.wait(what, check)
	t.Logf("tab B shows %q %s after tab A did it", what, took.Round(time.Millisecond))
	return took
}

// downloads makes the tab save downloads into dir under their GUIDs and
// returns the channel of finished downloads' file paths.
func downloads(t *testing.T, b tab, dir string) <-chan string {
	t.Helper()
	done := make(chan string, 4)
	events := chromedp.Events(b.ctx, cdpbrowser.DownloadProgress)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if ev.State == cdpbrowser.DownloadProgressStateCompleted {
				done <- filepath.Join(dir, ev.GUID)
			}
		}
	}()
	b.do("allow downloads", chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		enabled := true
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &enabled,
		})
		return err
	}))
	return done
}

func downloaded(t *testing.T, files <-chan string, what string) string {
	t.Helper()
	select {
	case path := <-files:
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	case <-time.After(30 * time.Second):
		t.Fatalf("no download of %s", what)
	}
	return ""
}

// sameGraph fails the test when a graph differs from the runtime's (see
// graphDiff).
func sameGraph(t *testing.T, what string, got, want *graph.Graph, withMetadata bool) {
	t.Helper()
	if diff := graphDiff(got, want, withMetadata); diff != "" {
		t.Fatalf("%s differs from the runtime's graph:%s", what, diff)
	}
}

// sourceOf is a graph as component:getsource gives it.
func sourceOf(t *testing.T, c *fbpclient.Client, id string) *graph.Graph {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := c.Request(ctx, "component", "getsource", map[string]any{"name": id})
	if err != nil {
		t.Fatalf("getsource %s: %v", id, err)
	}
	var src struct{ Code string }
	if err := m.Decode(&src); err != nil {
		t.Fatal(err)
	}
	g := &graph.Graph{}
	if err := g.UnmarshalJSON([]byte(src.Code)); err != nil {
		t.Fatalf("getsource %s: %v\n%s", id, err, src.Code)
	}
	return g
}

// dialFBP connects an FBP protocol client with the test secret.
func dialFBP(t *testing.T, ws string) *fbpclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := fbpclient.Dial(ctx, ws, fbpclient.Options{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.GetRuntime(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func request(t *testing.T, c *fbpclient.Client, protocol, command string, payload any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Request(ctx, protocol, command, payload); err != nil {
		t.Fatalf("%s:%s: %v", protocol, command, err)
	}
}

var flowhubStyleID = regexp.MustCompile(`^Repeat_[a-z0-9]{5}$`)

// The editor in two browser tabs on a runtime on RabbitMQ, the steps of
// #21's acceptance: the secret is asked for (and a wrong one refused);
// core/Repeat is added twice from the palette (with the keyboard, and by
// dragging it onto the canvas); the two are connected by dragging from an
// outport to an inport; an initial packet is set (JSON checked first); the
// graph is started and the packet seen in the edge's panel; it is stopped
// (keyboard); the edge is deleted (keyboard) and the deletion undone; the
// downloaded .fbp and .json are the graph component:getsource gives; a
// third client's node appears in both tabs. Tab B shows every step.
func TestEditorInChromium(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	chrome := chromium(t)
	suffix := strings.ReplaceAll(uuid.New()[:8], "-", "")
	mainID, graphID := "main"+suffix, "ed"+suffix
	path := writeFile(t, mainID+".fbp", "# the main graph, empty\n")
	p := start(t, []string{"MSGFLO_BROKER=" + url}, "--port", "0", "--graph", path, "--componentdir", "")
	ws, _ := p.ready(t)
	base := "http" + strings.TrimPrefix(ws, "ws")
	a := tab{t, browser(t, chrome), "tab A"}
	checkA := pageProblems(t, a, base)
	secretAsked(t, a, base)

	bctx, cancel := chromedp.NewContext(a.ctx)
	t.Cleanup(cancel)
	b := tab{t, bctx, "tab B"}
	b.do("open the editor", chromedp.Navigate("about:blank"))
	checkB := pageProblems(t, b, base)
	b.do("open the editor", chromedp.Navigate(base+"/#secret="+testSecret))
	for _, x := range []tab{a, b} {
		x.wait("the empty main graph", shows(mainID, nil, nil))
		x.wait("the palette", `document.querySelector('#palette li[data-component="core/Repeat"]') ? '' : 'no core/Repeat'`)
	}
	t.Logf("documents hidden: tab A %v, tab B %v", eval[bool](a, "document.hidden"), eval[bool](b, "document.hidden"))
	newGraph(t, a, b, graphID)

	var slowest time.Duration
	step := func(what, check string, act func()) {
		t.Helper()
		slowest = max(slowest, both(t, a, b, what, check, act))
	}
	first, second := addTwoRepeats(t, a, b, graphID, step)
	t.Cleanup(func() { deleteQueues(url, first, second, "third"+suffix) })
	edge := first + ".out->" + second + ".in"
	step("the edge dragged from "+first+".out to "+second+".in", shows(graphID, []string{first, second}, []string{edge}), func() {
		x1, y1 := a.point("the outport", jsPort(first, "out", true))
		x2, y2 := a.point("the inport", jsPort(second, "in", false))
		a.do("drag from the outport to the inport", chromedp.DragAndDropXY(x1, y1, x2, y2))
	})
	setInitialPacket(t, a, b, first, step)
	runAndWatch(t, a, b, first, second, step)

	step("the edge deleted (Delete)", shows(graphID, []string{first, second}, nil), func() {
		a.do("press Delete", chromedp.KeyEvent(kb.Delete))
	})
	step("the deletion undone (Ctrl+Z)", shows(graphID, []string{first, second}, []string{edge}), func() {
		a.do("press Ctrl+Z", chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	})

	c := dialFBP(t, ws)
	compareDownloads(t, a, c, graphID)

	third := "third" + suffix
	step("the third client's node", shows(graphID, []string{first, second, third}, []string{edge}), func() {
		request(t, c, "graph", "addnode", map[string]any{"id": third, "component": "core/Repeat", "metadata": map[string]any{"x": 420, "y": 260}, "graph": graphID})
	})
	for _, x := range []tab{a, b} {
		x.wait("the third node where its metadata puts it", fmt.Sprintf(`%s.getAttribute('transform') === 'translate(420,260)' ? '' : 'at ' + %s.getAttribute('transform')`, jsNode(third), jsNode(third)))
	}
	keepScreenshot(t, a.ctx, "editor.png")
	keepScreenshot(t, b.ctx, "editor-tab-b.png")
	// A position far beyond the picture (any client or file may set one)
	// is drawn as no position: placed automatically, the view not shrunk
	// to nothing (it was, at scale 7e-28) nor the node refused by the SVG
	// renderer (1e308: a console error at every redraw, which
	// pageProblems reports).
	far := "far" + suffix
	step("a node placed far away", shows(graphID, []string{first, second, third, far}, []string{edge}), func() {
		request(t, c, "graph", "addnode", map[string]any{"id": far, "component": "core/Repeat", "metadata": map[string]any{"x": 1e30, "y": 1e308}, "graph": graphID})
	})
	for _, x := range []tab{a, b} {
		x.wait("the far node placed automatically, the view not shrunk", fmt.Sprintf(`(() => {
  const n = %s, z = Number(document.querySelector('[data-zoom]').dataset.zoom);
  if (n.getAttribute('data-placed') !== 'false') return 'drawn where its metadata puts it: ' + n.getAttribute('transform');
  return z >= 0.05 ? '' : 'view zoom ' + z;
})()`, jsNode(far)))
	}
	t.Logf("the slowest step reached tab B %s after tab A did it", slowest.Round(time.Millisecond))
	allAcknowledged(t, a)
	allAcknowledged(t, b)
	checkA()
	checkB()
}

// newGraph creates a graph in tab A (New…), which opens it; tab B lists
// it at once and opens it from the list.
func newGraph(t *testing.T, a, b tab, id string) {
	t.Helper()
	a.do("create a graph", chromedp.Click(chromedp.ID("graph_new")), chromedp.WaitVisible(chromedp.ID("new_graph_id")),
		chromedp.SendKeys(chromedp.ID("new_graph_id"), id+kb.Enter))
	a.wait("the new graph open", shows(id, nil, nil))
	chooseGraph(t, b.ctx, id)
	b.wait("the new graph open", shows(id, nil, nil))
	a.wait("the new graph stopped", `document.getElementById('run_state').textContent === 'stopped' ? '' : 'state ' + document.getElementById('run_state').textContent`)
}

// chooseGraph opens a graph from the editor's list of graphs.
func chooseGraph(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	waitPage(t, ctx, "graph "+id+" listed", fmt.Sprintf(`[...document.getElementById('graph_select').options].some((o) => o.value === %q) ? '' : 'not listed'`, id))
	choose := fmt.Sprintf(`(() => { const s = document.getElementById('graph_select'); s.value = %q; s.dispatchEvent(new Event('change')); return true; })()`, id)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](choose)); err != nil {
		t.Fatalf("choose graph %s: %v", id, err)
	}
}

// secretAsked opens the editor without the secret and with a wrong one:
// the form, and nothing of the graph; then with the right one.
func secretAsked(t *testing.T, a tab, base string) {
	t.Helper()
	a.do("open the editor without the secret", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("secret")))
	nothing := `document.querySelectorAll('[data-node], #palette li.component').length === 0 && document.getElementById('editor').hidden ? '' : 'something shown'`
	a.wait("nothing without the secret", nothing)
	a.do("a wrong secret", chromedp.SendKeys(chromedp.ID("secret"), "guess"), chromedp.Click(chromedp.CSS("#auth button")))
	a.wait("a wrong secret is refused", `document.getElementById('auth_error').textContent === 'Wrong secret.' ? '' : 'no error shown'`)
	a.wait("nothing with a wrong secret", nothing)
	a.do("the right secret", chromedp.SetValue(chromedp.ID("secret"), testSecret), chromedp.Click(chromedp.CSS("#auth button")))
}

// addTwoRepeats adds core/Repeat from the palette with the keyboard (/,
// the search, Enter), then by dragging it onto the canvas; it returns the
// two nodes' ids.
func addTwoRepeats(t *testing.T, a, b tab, graphID string, step func(what, check string, act func())) (first, second string) {
	t.Helper()
	ids := func() []string {
		return eval[[]string](a, `[...document.querySelectorAll('#canvas [data-node]')].map((n) => n.dataset.node)`)
	}
	count := func(n int) string {
		return fmt.Sprintf(`document.querySelectorAll('#canvas [data-node]').length === %d ? '' : document.querySelectorAll('#canvas [data-node]').length + ' nodes'`, n)
	}
	step("core/Repeat added with the keyboard", count(1), func() {
		// KeyEvent sends the character of / apart from its key, and
		// the page cannot cancel it: select what it typed, to replace it.
		a.do("press /", chromedp.KeyEvent("/"))
		a.wait("the search focused", `document.activeElement === document.getElementById('palette_search') ? '' : 'focus on ' + document.activeElement.id`)
		a.do("search the palette", chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent("repeat"))
		a.wait("core/Repeat first", `document.querySelector('#palette li.component')?.dataset.component === 'core/Repeat' ? '' : 'first is ' + document.querySelector('#palette li.component')?.dataset.component`)
		a.do("add the first match", chromedp.KeyEvent(kb.Enter))
	})
	first = ids()[0]
	step("core/Repeat dragged onto the canvas", count(2), func() {
		x1, y1 := a.point("core/Repeat in the palette", `document.querySelector('#palette li[data-component="core/Repeat"]')`)
		box := eval[[]float64](a, `(() => { const r = document.getElementById('canvas').getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()`)
		a.do("drag core/Repeat onto the canvas", chromedp.DragAndDropXY(x1, y1, box[0]+box[2]*0.75, box[1]+box[3]*0.45))
	})
	for _, id := range ids() {
		if id != first {
			second = id
		}
	}
	for _, id := range []string{first, second} {
		if !flowhubStyleID.MatchString(id) {
			t.Errorf("new node id %q is not the component's name and a random suffix", id)
		}
	}
	for _, x := range []tab{a, b} {
		x.wait("both nodes inside the picture, apart", graphCheck(graphID, []string{first, second}, []string{}, false))
	}
	return first, second
}

// setInitialPacket selects a node and sets the initial packet of its
// inport: text that is not JSON is refused before anything is sent.
func setInitialPacket(t *testing.T, a, b tab, node string, step func(what, check string, act func())) {
	t.Helper()
	x, y := a.point("the node", jsNode(node)+`.querySelector('rect.box')`)
	a.do("select the node", chromedp.MouseClickXY(x, y))
	field := `#inspector input[data-key="iip:in"]`
	// The inspector may draw the field again just after the selection
	// (the node's state comes in): typing goes to the focused field, not
	// to a DOM node found beforehand (SendKeys failed with "Could not find
	// node with given id" once the field was replaced).
	a.wait("the initial packet's field", `document.querySelector('`+field+`') ? '' : 'no field'`)
	eval[bool](a, `(() => { const f = document.querySelector('`+field+`'); f.value = ''; f.focus(); return true; })()`)
	a.do("type text that is not JSON", chromedp.KeyEvent("hello editor"+kb.Enter))
	a.wait("it is refused", `[...document.querySelectorAll('#inspector .field-error')].some((e) => e.textContent.startsWith('Not JSON')) ? '' : 'no error shown'`)
	if n := eval[int](a, `document.querySelectorAll('#canvas [data-iip]').length`); n != 0 {
		t.Fatalf("%d initial packets drawn after text that is not JSON", n)
	}
	shown := fmt.Sprintf(`[...document.querySelectorAll('#canvas [data-iip]')].some((i) => i.dataset.iip === %q && i.textContent.includes('"hello editor"')) ? '' : 'no initial packet drawn'`, node+".in")
	step("the initial packet", shown, func() {
		eval[bool](a, `(() => { const f = document.querySelector('`+field+`'); f.value = ''; f.focus(); return true; })()`)
		a.do("type JSON", chromedp.KeyEvent(`"hello editor"`+kb.Enter))
	})
}

// runAndWatch selects the edge (so its packets are watched), starts the
// graph with the Start button, sees the initial packet pass in the edge's
// panel, and stops the graph with Ctrl+Enter.
func runAndWatch(t *testing.T, a, b tab, first, second string, step func(what, check string, act func())) {
	t.Helper()
	edge := first + ".out->" + second + ".in"
	x, y := a.point("the edge", jsEdgeLine(edge))
	a.do("click the edge", chromedp.MouseClickXY(x, y))
	a.wait("the edge's panel", `document.getElementById('edge_packets') ? '' : 'no packet list'`)
	running := func(state string) string {
		return fmt.Sprintf(`document.getElementById('run_state').textContent === %q ? '' : 'state ' + document.getElementById('run_state').textContent`, state)
	}
	step("the graph started", running("running"), func() { a.do("click Start", chromedp.Click(chromedp.ID("run"))) })
	began := time.Now()
	a.wait("the packet in the edge's panel", `document.getElementById('edge_packets').textContent.includes('"hello editor"') ? '' : 'packets: ' + document.getElementById('edge_packets').textContent`)
	t.Logf("the packet was in the edge's panel %s after the start", time.Since(began).Round(time.Millisecond))
	a.wait("the nodes running", fmt.Sprintf(`%s?.dataset.state === 'running' && %s?.dataset.state === 'running' ? '' : 'not running yet'`, jsNode(first), jsNode(second)))
	keepPNG(t, a.ctx, "editor-running.png", chromedp.CaptureScreenshot()) // docs/editor.png
	step("the graph stopped (Ctrl+Enter)", running("stopped"), func() {
		a.do("press Ctrl+Enter", chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	})
}

// compareDownloads downloads the graph as .fbp and as .json and compares
// both with what component:getsource gives (the .json with the nodes'
// positions too).
func compareDownloads(t *testing.T, a tab, c *fbpclient.Client, graphID string) {
	t.Helper()
	files := downloads(t, a, t.TempDir())
	want := sourceOf(t, c, graphID)
	a.do("download .fbp", chromedp.Click(chromedp.ID("download_fbp")))
	text := downloaded(t, files, ".fbp")
	t.Logf("downloaded .fbp:\n%s", text)
	got, err := graph.LoadFBP(graphID, text)
	if err != nil {
		t.Fatalf("the downloaded .fbp: %v\n%s", err, text)
	}
	sameGraph(t, "the downloaded .fbp", got, want, false)
	a.do("download .json", chromedp.Click(chromedp.ID("download_json")))
	text = downloaded(t, files, ".json")
	got = &graph.Graph{}
	if err := got.UnmarshalJSON([]byte(text)); err != nil {
		t.Fatalf("the downloaded .json: %v\n%s", err, text)
	}
	sameGraph(t, "the downloaded .json", got, want, true)
	for _, n := range want.Nodes {
		if _, ok := n.Metadata["x"].(float64); !ok {
			t.Errorf("node %s has no position x in its metadata: %v", n.ID, n.Metadata)
		}
	}
}
