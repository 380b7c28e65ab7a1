package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/msgflo/msgflo-runtime/graph"
)

// fbpInEditor is what the editor's fbp.js makes of one source: the JSON
// graph it parses (or its error), and that graph written as .fbp again
// (or why it cannot be).
type fbpInEditor struct {
	Parsed string `json:"parsed"`
	Err    string `json:"err"`
	FBP    string `json:"fbp"`
	SerErr string `json:"serr"`
}

// editorFBP runs the editor's fbp.js, as the page serves it, over sources.
func editorFBP(t *testing.T, sources []string) []fbpInEditor {
	t.Helper()
	p := start(t, []string{"MSGFLO_BROKER="}, "--port", "0")
	ws, _ := p.ready(t)
	ctx := browser(t, chromium(t))
	inBrowser(t, ctx, "open the page", chromedp.Navigate("http"+strings.TrimPrefix(ws, "ws")+"/"))
	script := `(async () => {
  const fbp = await import('/status/fbp.js');
  const { Graph } = await import('/status/graph.js');
  return JSON.stringify(` + mustJSON(sources) + `.map((src) => {
    const out = {};
    try {
      const parsed = fbp.parse(src);
      out.parsed = JSON.stringify(parsed);
      try { out.fbp = fbp.serialize(Graph.fromJSON('g', parsed)); } catch (e) { out.serr = e.message; }
    } catch (e) {
      out.err = e.message;
    }
    return out;
  }));
})()`
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fbp.js: %v", err)
	}
	var out []fbpInEditor
	if err := json.Unmarshal([]byte(text), &out); err != nil || len(out) != len(sources) {
		t.Fatalf("fbp.js gave %d results for %d sources (%v)", len(out), len(sources), err)
	}
	return out
}

// edits are the corpus with one edit each, at every seventh character:
// one of the characters the language cares about inserted there, put in
// its place, or the character deleted.
func edits(corpus []string) []string {
	alphabet := []rune("()[]:,=->' \"#\t\n{}@._aZ09/")
	var out []string
	for f, src := range corpus {
		r := []rune(src)
		for at := f % 7; at < len(r); at += 7 {
			c := alphabet[(at+f)%len(alphabet)]
			var edited []rune
			switch (at / 7) % 3 {
			case 0:
				edited = append(append(append([]rune{}, r[:at]...), c), r[at:]...)
			case 1:
				edited = append(append([]rune{}, r[:at]...), r[at+1:]...)
			default:
				edited = append(append(append([]rune{}, r[:at]...), c), r[at+1:]...)
			}
			out = append(out, string(edited))
		}
	}
	return out
}

// The editor reads .fbp files (Load…) as the runtime does: the corpus of
// graph/testdata/fbp and hundreds of edits of it are accepted or
// refused alike, and give the same graphs. What it accepts it writes back
// (Download .fbp) so that the runtime reads the same nodes, edges, initial
// packets and exported ports.
func TestEditorReadsAndWritesFBPAsTheRuntime(t *testing.T) {
	files, err := filepath.Glob("../../graph/testdata/fbp/*.fbp")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	sort.Strings(files)
	var corpus []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		corpus = append(corpus, string(src))
	}
	sources := append(corpus, edits(corpus)...)
	results := editorFBP(t, sources)
	accepted, written, refused := 0, 0, 0
	for i, src := range sources {
		res := results[i]
		want, goErr := graph.ParseFBP(src)
		switch {
		case goErr != nil && res.Err != "":
			continue
		case goErr != nil:
			t.Errorf("the editor accepts what the runtime refuses (%v):\n%s\n--- gives %s", goErr, src, res.Parsed)
			continue
		case res.Err != "":
			t.Errorf("the editor refuses what the runtime accepts (%s):\n%s", res.Err, src)
			continue
		}
		accepted++
		if !sameJSON(res.Parsed, string(want)) {
			t.Errorf("the editor reads differently:\n%s\n---  editor: %s\n--- runtime: %s", src, res.Parsed, want)
		}
		orig, err := graph.LoadFBP("g", src)
		if err != nil {
			continue // parses, but is no graph the runtime loads
		}
		if res.SerErr != "" {
			// Only names the language cannot write (those of anonymous
			// nodes of some components) keep a graph from being written.
			if bad := unwritable(orig); bad == "" || !strings.Contains(res.SerErr, bad) {
				t.Errorf("the editor cannot write a graph it read (%s):\n%s", res.SerErr, src)
			}
			refused++
			continue
		}
		again, err := graph.LoadFBP("g", res.FBP)
		if err != nil {
			t.Errorf("the runtime cannot read what the editor wrote (%v):\n%s\n--- from:\n%s", err, res.FBP, src)
			continue
		}
		if diff := graphDiff(again, orig, false); diff != "" {
			t.Errorf("written and read again, the graph differs: %s\n--- written:\n%s\n--- from:\n%s", diff, res.FBP, src)
		}
		written++
	}
	t.Logf("%d of %d sources accepted by both parsers; %d written back and read again alike, %d not written (node ids the language cannot write)", accepted, len(sources), written, refused)
	if accepted < len(sources)/10 {
		t.Fatalf("only %d sources valid: the test proves little", accepted)
	}
}

var fbpNodeName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_-]*$`)

// unwritable is a node id of g that the FBP language cannot write, quoted
// as the editor names it; "" when there is none.
func unwritable(g *graph.Graph) string {
	for _, n := range g.Nodes {
		if !fbpNodeName.MatchString(n.ID) {
			return fmt.Sprintf("node id %q", n.ID)
		}
	}
	return ""
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// graphDiff compares what two graphs say about nodes, edges, initial
// packets and exported ports (and node metadata when withMetadata); ""
// when they say the same.
func graphDiff(got, want *graph.Graph, withMetadata bool) string {
	describe := func(g *graph.Graph) map[string][]string {
		d := map[string][]string{}
		for _, n := range g.Nodes {
			s := n.ID + "(" + n.Component + ")"
			if withMetadata {
				s += " " + mustJSON(n.Metadata)
			}
			d["nodes"] = append(d["nodes"], s)
		}
		for _, e := range g.Edges {
			d["edges"] = append(d["edges"], e.Src.String()+" -> "+e.Tgt.String())
		}
		for _, i := range g.IIPs {
			d["iips"] = append(d["iips"], string(i.Data)+" -> "+i.Tgt.String())
		}
		for _, x := range g.Inports {
			d["inports"] = append(d["inports"], x.Public+"="+x.Node+"."+x.Port)
		}
		for _, x := range g.Outports {
			d["outports"] = append(d["outports"], x.Public+"="+x.Node+"."+x.Port)
		}
		for _, v := range d {
			sort.Strings(v)
		}
		return d
	}
	if g, w := describe(got), describe(want); !reflect.DeepEqual(g, w) {
		return fmt.Sprintf("\n got %v\nwant %v", g, w)
	}
	return ""
}
