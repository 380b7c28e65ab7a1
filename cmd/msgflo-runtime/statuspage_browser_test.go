package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
	"github.com/msgflo/msgflo-runtime/internal/uuid"
	"github.com/msgflo/msgflo-runtime/network/brokertest"
)

// EnvArtifacts names the folder where the browser test keeps its
// screenshots (default: msgflo-runtime-artifacts in the temporary folder).
const EnvArtifacts = "MSGFLO_TEST_ARTIFACTS"

// chromium finds Debian's chromium (.ci/run installs it), or skips.
func chromium(t *testing.T) string {
	t.Helper()
	testenv.Needs(t, "a browser")
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	brokertest.SkipOrFail(t, "chromium is not installed (.ci/run installs Debian's chromium package)")
	return ""
}

// browser starts headless chromium with a fresh profile; the returned
// context runs actions in one tab.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1100, 760),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// inBrowser runs browser actions with a deadline, failing the test on an error.
func inBrowser(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitPage waits until the page's check (a JavaScript expression giving ""
// when met, else what is missing) is met; on the deadline it fails with
// what is still missing.
func waitPage(t *testing.T, ctx context.Context, what, check string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := chromedp.Poll[bool]("("+check+") === ''", chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))(ctx, tgt)
		return err
	}))
	if err != nil {
		miss, _ := chromedp.Run(ctx, chromedp.Evaluate[string](check))
		t.Fatalf("%s: %v (page: %s)", what, err, miss)
	}
}

// graphCheck is a JavaScript expression checking the drawing of a graph:
// its nodes and edges by their data-node and data-edge hooks (each node
// with a data-state), every node inside the picture and none overlapping,
// every edge of the graph's layering drawn left to right.
func graphCheck(graphID string, nodes, edges []string, leftToRight bool) string {
	return fmt.Sprintf(`(() => {
  const svg = [...document.querySelectorAll('section.graph')].find((s) => s.dataset.graph === %q)?.querySelector('svg');
  if (!svg) return 'no picture of the graph';
  const want = %s, wantEdges = %s;
  const box = svg.getBoundingClientRect(), rects = new Map();
  for (const n of svg.querySelectorAll('[data-node]')) {
    if (!n.dataset.state) return 'node ' + n.dataset.node + ' has no data-state';
    rects.set(n.dataset.node, n.getBoundingClientRect());
  }
  if (rects.size !== want.length || !want.every((id) => rects.has(id))) return 'nodes ' + [...rects.keys()].join(',');
  const drawn = [...svg.querySelectorAll('[data-edge]')].map((e) => e.dataset.edge);
  if (drawn.length !== wantEdges.length || !wantEdges.every((e) => drawn.includes(e))) return 'edges ' + drawn.join(',');
  const all = [...rects];
  for (let i = 0; i < all.length; i++) {
    const [id, r] = all[i];
    if (r.left < box.left || r.top < box.top || r.right > box.right || r.bottom > box.bottom) return id + ' outside the picture';
    for (let j = i + 1; j < all.length; j++) {
      const s = all[j][1];
      if (r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom) return id + ' overlaps ' + all[j][0];
    }
  }
  if (%t) {
    for (const e of drawn) {
      const [src, tgt] = e.split('->').map((end) => end.slice(0, end.lastIndexOf('.')));
      if (!(rects.get(src).right <= rects.get(tgt).left)) return 'edge ' + e + ' not left to right';
    }
  }
  return '';
})()`, graphID, mustJSON(nodes), mustJSON(edges), leftToRight)
}

// stateOf is a JavaScript expression checking a node's data-state.
func stateOf(node, state string) string {
	return fmt.Sprintf(`(() => {
  const n = [...document.querySelectorAll('[data-node]')].find((n) => n.dataset.node === %q);
  return !n ? 'no node %s' : n.dataset.state === %q ? '' : 'state ' + n.dataset.state;
})()`, node, node, state)
}

// keepScreenshot writes a PNG of the whole page where test artefacts are
// kept, and logs its path.
func keepScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	keepPNG(t, ctx, name, chromedp.FullScreenshot(100))
}

// keepPNG writes the PNG a screenshot action takes where test artefacts
// are kept, and logs its path.
func keepPNG(t *testing.T, ctx context.Context, name string, shot chromedp.Action[[]byte]) {
	t.Helper()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "msgflo-runtime-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// The status page in a browser: a runtime on RabbitMQ with a three-node
// graph (one node a participant process); the page asks for the secret and
// shows nothing without it, then draws the graph and follows it as it
// changes: a node added through the protocol appears, a participant
// process that is stopped turns its node to exited. A second graph of 200
// nodes is drawn correctly too. The link printed at start opens the page
// with the secret of its fragment.
func TestStatusPageInChromium(t *testing.T) {
	url := brokertest.RabbitMQURL(t)
	chrome := chromium(t)
	suffix := strings.ReplaceAll(uuid.New()[:8], "-", "")
	first, middle, last, added := "pgfirst"+suffix, "pgmiddle"+suffix, "pglast"+suffix, "pgadded"+suffix
	t.Cleanup(func() { deleteQueues(url, first, middle, last, added) })
	lib := writeFile(t, "library.json", mustJSON(map[string]any{
		"components": map[string]string{"page/GoRepeat": runtimeBinary(t) + " participant core/Repeat --role #ROLE"},
	}))
	path := writeFile(t, "page.fbp", fmt.Sprintf("%s(core/Repeat) OUT -> IN %s(page/GoRepeat) OUT -> IN %s(core/Drop)\n", first, middle, last))
	p := start(t, []string{"MSGFLO_BROKER=" + url}, "--port", "0", "--graph", path, "--library", lib, "--componentdir", "")
	ws, _ := p.ready(t)
	base := "http" + strings.TrimPrefix(ws, "ws")
	ctx := browser(t, chrome)

	// Without the secret: the form, and no graph.
	inBrowser(t, ctx, "open the page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("secret")))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-node]').length`)); err != nil || n != 0 {
		t.Fatalf("nodes shown without the secret: %d (%v)", n, err)
	}
	inBrowser(t, ctx, "a wrong secret", chromedp.SendKeys(chromedp.ID("secret"), "guess"), chromedp.Click(chromedp.CSS("#auth button")))
	waitPage(t, ctx, "a wrong secret is refused", `document.getElementById('auth_error').textContent === 'Wrong secret.' ? '' : 'no error shown'`)
	inBrowser(t, ctx, "authenticate",
		chromedp.SetValue(chromedp.ID("secret"), testSecret),
		chromedp.Click(chromedp.CSS("#auth button")))

	edges := []string{first + ".out->" + middle + ".in", middle + ".out->" + last + ".in"}
	waitPage(t, ctx, "three nodes and two edges", graphCheck("page", []string{first, middle, last}, edges, true))
	for _, n := range []string{first, middle, last} {
		waitPage(t, ctx, n+" running", stateOf(n, "running"))
	}

	c := connectFBP(t, ws)
	began := time.Now()
	c.edit("addnode", map[string]any{"id": added, "component": "core/Repeat", "graph": "page"})
	waitPage(t, ctx, "the added node appears", graphCheck("page", []string{first, middle, last, added}, edges, true))
	t.Logf("the added node appeared %s after addnode was sent", time.Since(began).Round(time.Millisecond))

	pid := pidsOf(p)[middle]
	if pid == 0 {
		t.Fatalf("no pid of %s in the log", middle)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, "the stopped participant's node is exited", stateOf(middle, "exited"))
	waitPage(t, ctx, "the participants table shows the exit", fmt.Sprintf(`[...document.querySelectorAll('#participants tr')].some((r) => r.dataset.role === %q && r.textContent.includes('exited with code')) ? '' : 'no exit status'`, middle))
	waitPage(t, ctx, "the error is listed", fmt.Sprintf(`document.getElementById('errors').textContent.includes(%q) ? '' : 'no error of the node'`, middle))
	keepScreenshot(t, ctx, "status-page.png")

	// 200 nodes: a tree of components nobody serves (nothing is started).
	big := "big" + suffix
	c.edit("clear", map[string]any{"id": big})
	var nodes, bigEdges []string
	for i := range 200 {
		id := fmt.Sprintf("n%d%s", i, suffix)
		nodes = append(nodes, id)
		c.edit("addnode", map[string]any{"id": id, "component": "page/Absent", "graph": big})
		if i > 0 {
			src := nodes[(i-1)/3]
			c.edit("addedge", map[string]any{"src": map[string]any{"node": src, "port": "out"}, "tgt": map[string]any{"node": id, "port": "in"}, "graph": big})
			bigEdges = append(bigEdges, src+".out->"+id+".in")
		}
	}
	// The editor shows one graph at a time, chosen from its list.
	chooseGraph(t, ctx, big)
	began = time.Now()
	waitPage(t, ctx, "200 nodes drawn", graphCheck(big, nodes, bigEdges, true))
	drawMS, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('canvas').dataset.drawMs`))
	t.Logf("200 nodes drawn %s after the graph was chosen (loading it included); drawing them took the page %s ms", time.Since(began).Round(time.Millisecond), drawMS)
	waitPage(t, ctx, "nodes without a participant wait", stateOf(nodes[199], "waiting"))
	keepScreenshot(t, ctx, "status-page-200-nodes.png")
	chooseGraph(t, ctx, "page")
	waitPage(t, ctx, "the first graph is still drawn", graphCheck("page", []string{first, middle, last, added}, edges, true))

	// The link printed at start opens the page with the secret of its
	// fragment: no form to fill.
	p.flowhubLink(t)
	line, err := p.stdout.ReadString('\n')
	link, ok := strings.CutPrefix(strings.TrimSpace(line), "Status page: ")
	if err != nil || !ok {
		t.Fatalf("third line %q (%v), want the status page link", line, err)
	}
	inBrowser(t, ctx, "open the printed link", chromedp.Navigate("about:blank"), chromedp.Navigate(link))
	waitPage(t, ctx, "the graph, with the link's secret", graphCheck("page", []string{first, middle, last, added}, edges, true))
	p.signalAndWait(t, syscall.SIGTERM)
}
