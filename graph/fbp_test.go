package graph

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
)

// reference runs the pinned npm fbp parser (1.8.0, installed by
// scripts/npm-interop.sh into MSGFLO_NODE_DIR) over files and returns, per
// file, its JSON result or "" when it refused the file.
func reference(t *testing.T, files []string) map[string]string {
	t.Helper()
	testenv.Needs(t, "npm's fbp parser")
	dir := os.Getenv("MSGFLO_NODE_DIR")
	if dir == "" {
		testenv.SkipOrFail(t, "MSGFLO_NODE_DIR is not set (make test sets it): the differential test needs the npm fbp parser")
	}
	const script = `
const fbp = require("fbp");
const fs = require("fs");
const out = {};
for (const f of process.argv.slice(1)) {
  try { out[f] = JSON.stringify(fbp.parse(fs.readFileSync(f, "utf8"))); }
  catch (e) { out[f] = ""; }
}
process.stdout.write(JSON.stringify(out));
`
	abs := make([]string, len(files))
	for i, f := range files {
		a, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		abs[i] = a
	}
	cmd := exec.Command("node", append([]string{"-e", script}, abs...)...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference parser: %v", err)
	}
	var byAbs map[string]string
	if err := json.Unmarshal(data, &byAbs); err != nil {
		t.Fatal(err)
	}
	res := map[string]string{}
	for i, f := range files {
		res[f] = byAbs[abs[i]]
	}
	if v := referenceVersion(t, dir); v != "1.8.0" {
		t.Fatalf("reference parser is fbp %s, want 1.8.0", v)
	}
	return res
}

func referenceVersion(t *testing.T, dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "node_modules", "fbp", "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Version string }
	_ = json.Unmarshal(data, &pkg)
	return pkg.Version
}

// compareWithReference returns how many files both accepted.
func compareWithReference(t *testing.T, files []string) (accepted int) {
	t.Helper()
	ref := reference(t, files)
	defer func() { t.Logf("%d of %d files accepted by both parsers", accepted, len(files)) }()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := ParseFBP(string(src))
		want := ref[f]
		switch {
		case err != nil && want == "":
			var fe *FBPError
			if !strings.Contains(err.Error(), "fbp: ") || !asFBPError(err, &fe) {
				t.Errorf("%s: error %v is not an FBPError", f, err)
			}
		case err != nil:
			t.Errorf("%s: we refuse it (%v), the reference gives %s\n--- source:\n%s", f, err, want, src)
		case want == "":
			t.Errorf("%s: the reference refuses it, we give %s\n--- source:\n%s", f, ours, src)
		default:
			var a, b any
			_ = json.Unmarshal(ours, &a)
			_ = json.Unmarshal([]byte(want), &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: differs\n ours: %s\n  ref: %s\n--- source:\n%s", f, ours, want, src)
			}
			accepted++
		}
	}
	return accepted
}

func asFBPError(err error, target **FBPError) bool {
	fe, ok := err.(*FBPError)
	if ok {
		*target = fe
	}
	return ok
}

// The corpus in testdata/fbp parses exactly as the reference parses it.
func TestFBPMatchesReference(t *testing.T) {
	files, err := filepath.Glob("testdata/fbp/*.fbp")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	sort.Strings(files)
	compareWithReference(t, files)
}

// Random programs built from the language's pieces (and some junk) parse
// as the reference parses them.
func TestFBPRandomProgramsMatchReference(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var files []string
	for i := range 800 {
		f := filepath.Join(dir, fmt.Sprintf("r%03d.fbp", i))
		if err := os.WriteFile(f, []byte(randomFBP(rng)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if n := compareWithReference(t, files); n < len(files)/5 {
		t.Fatalf("only %d of %d random programs are valid: the generator needs fixing", n, len(files))
	}
}

// Corpus files with random edits (characters the grammar cares about
// inserted, deleted or replaced) parse, or fail, as the reference does.
func TestFBPMutantsMatchReference(t *testing.T) {
	corpus, _ := filepath.Glob("testdata/fbp/*.fbp")
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune("()[]:,=->' \"#\t\n{}@._aZ09/é")
	var files []string
	for i := range 800 {
		src, err := os.ReadFile(corpus[rng.IntN(len(corpus))])
		if err != nil {
			t.Fatal(err)
		}
		r := []rune(string(src))
		for range 1 + rng.IntN(3) {
			at := 0
			if len(r) > 0 {
				at = rng.IntN(len(r))
			}
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				r = append(r[:at], append([]rune{c}, r[at:]...)...)
			case 1:
				if len(r) > 0 {
					r = append(r[:at], r[at+1:]...)
				}
			default:
				if len(r) > 0 {
					r[at] = c
				}
			}
		}
		f := filepath.Join(dir, fmt.Sprintf("m%03d.fbp", i))
		if err := os.WriteFile(f, []byte(string(r)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if n := compareWithReference(t, files); n < len(files)/10 {
		t.Fatalf("only %d of %d mutants are valid: the test proves little", n, len(files))
	}
}

func randomFBP(rng *rand.Rand) string {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	names := []string{"a", "b", "c", "node_1", "x-y", "Up", "true", "null"}
	comps := []string{"(core/Repeat)", "(core/Drop)", "(ns/C-2:x=1,y=2)", "(c:route)", "(a/b/c)", "(core/Repeat)", "()"}
	ports := []string{"IN", "OUT", "in", "Out", "port.sub", "IN[0]", "OUT[3]", "data_x"}
	iips := []string{"'hi'", "'it\\'s'", "''", "5", "-1.5e2", `"s"`, `{"a":[1,null]}`, "[1, 2]", "true", "{ }"}
	seps := []string{" ", "  ", ""}
	var b strings.Builder
	lines := 1 + rng.IntN(6)
	for range lines {
		switch rng.IntN(16) {
		case 0:
			b.WriteString("# @" + pick("runtime", "name", "x") + " " + pick("msgflo", "My graph", "v1.2"))
		case 1:
			b.WriteString(pick("INPORT", "OUTPORT") + "=" + pick(names...) + "." + pick(ports[:5]...) + ":" + pick("IN", "out", "Pub"))
		case 2:
			b.WriteString(pick("# comment", "  # indented", ""))
		case 3:
			b.WriteString(pick("DEFAULT_INPORT", "DEFAULT_OUTPORT") + "=" + pick("in", "Data"))
		default:
			// a chain
			if rng.IntN(3) == 0 {
				b.WriteString(pick(iips...) + " -> ")
			}
			hops := 1 + rng.IntN(3)
			for h := range hops {
				if h > 0 || rng.IntN(2) == 0 {
					b.WriteString(pick(ports...) + " ")
				}
				b.WriteString(pick(names...))
				if rng.IntN(4) != 0 {
					b.WriteString(pick(comps...))
				}
				if h < hops-1 {
					b.WriteString(" " + pick(ports...) + pick(seps...) + "->" + pick(seps...))
				}
			}
			b.WriteString(pick("", "", "", ",", " # c", " ,", "\t"))
		}
		b.WriteString(pick("\n", "\n", "\r\n", "\n\n"))
	}
	return b.String()
}

// ParseFBP never panics, whatever it is given, and what it accepts loads
// as a graph.
func FuzzParseFBP(f *testing.F) {
	files, _ := filepath.Glob("testdata/fbp/*.fbp")
	for _, file := range files {
		src, _ := os.ReadFile(file)
		f.Add(string(src))
	}
	f.Fuzz(func(t *testing.T, src string) {
		data, err := ParseFBP(src)
		if err != nil {
			return
		}
		g := &Graph{}
		if err := g.UnmarshalJSON(data); err != nil {
			t.Fatalf("accepted %q but its JSON does not load: %v\n%s", src, err, data)
		}
	})
}

func TestFBPErrorsNameLineAndColumn(t *testing.T) {
	_, err := ParseFBP("a(core/Repeat) OUT -> IN b(core/Drop)\nc(core/Repeat) => IN d\n")
	if err == nil || !strings.Contains(err.Error(), "line 2, column 16") {
		t.Fatalf("error %v", err)
	}
	_, err = ParseFBP("'x' -> IN a")
	if err == nil || !strings.Contains(err.Error(), `Node "a" does not have a component defined`) &&
		!strings.Contains(err.Error(), "undefined target node") {
		t.Fatalf("error %v", err)
	}
}

func TestLoadFBP(t *testing.T) {
	g, err := LoadFBP("main", "# @name Demo\nINPORT=a.IN:IN\n'x' -> IN a(core/Repeat:x=1) OUT -> IN b(core/Drop)\n")
	if err != nil {
		t.Fatal(err)
	}
	if g.ID != "main" || g.Name != "Demo" || len(g.Nodes) != 2 || len(g.Edges) != 1 || len(g.IIPs) != 1 || len(g.Inports) != 1 {
		t.Fatalf("graph %+v", g)
	}
}

// Every valid file of the corpus round-trips through the JSON graph format
// without losing anything.
func TestFBPRoundTripsThroughJSON(t *testing.T) {
	files, _ := filepath.Glob("testdata/fbp/*.fbp")
	valid := 0
	for _, f := range files {
		src, _ := os.ReadFile(f)
		g, err := LoadFBP("g", string(src))
		if err != nil {
			continue
		}
		valid++
		first, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		back := &Graph{}
		if err := back.UnmarshalJSON(first); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		second, _ := json.Marshal(back)
		if string(first) != string(second) {
			t.Errorf("%s: JSON round trip changed the graph\n%s\n%s", f, first, second)
		}
		parsed, _ := ParseFBP(string(src))
		var ref struct {
			Processes   map[string]any
			Connections []any
			Inports     map[string]any
			Outports    map[string]any
		}
		_ = json.Unmarshal(parsed, &ref)
		if len(back.Nodes) != len(ref.Processes) || len(back.Edges)+len(back.IIPs) != len(ref.Connections) ||
			len(back.Inports) != len(ref.Inports) || len(back.Outports) != len(ref.Outports) {
			t.Errorf("%s: the graph lost parts of the file: %s", f, second)
		}
	}
	if valid < 10 {
		t.Fatalf("only %d valid files in the corpus", valid)
	}
}

// An IIP's data is its JSON text as written (compacted): a JSON literal in
// the FBP source keeps its numbers, escapes and key order; a 'text' IIP is
// the JSON string of its text (as npm fbp makes it a string). The graph
// keeps those bytes through the JSON graph format (autosave).
func TestIIPDataKeepsItsBytes(t *testing.T) {
	src, err := os.ReadFile("testdata/fbp/iips-exact.fbp")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a": `{"big":12345678901234567890,"z":1,"a":-0,"f":1.10,"e":1e2,"s":"\u00e6\ud83d\ude00<&>"}`,
		"b": `[1.10,-0,1e2]`,
		"c": `"\u00e6 bare"`,
		"d": `"{\"a\":1} <&>"`,
		"e": `12345678901234567890`,
	}
	g, err := LoadFBP("g", string(src))
	if err != nil {
		t.Fatal(err)
	}
	saved, err := g.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back := &Graph{}
	if err := back.UnmarshalJSON(saved); err != nil {
		t.Fatal(err)
	}
	for name, gr := range map[string]*Graph{"parsed": g, "saved and loaded": back} {
		if len(gr.IIPs) != len(want) {
			t.Fatalf("%s: %d IIPs, want %d", name, len(gr.IIPs), len(want))
		}
		for _, i := range gr.IIPs {
			if string(i.Data) != want[i.Tgt.Node] {
				t.Errorf("%s: IIP to %s is %s, want %s", name, i.Tgt.Node, i.Data, want[i.Tgt.Node])
			}
		}
	}
	// Graphs read from JSON keep the text too (whitespace aside), null
	// included.
	j := `{"processes":{"a":{"component":"core/Repeat"}},"connections":[{"data": {"z": 1, "a": [ 1.10, -0 ], "s": "\ud83d\ude00<"}, "tgt":{"process":"a","port":"in"}}, {"data":null,"tgt":{"process":"a","port":"in"}}]}`
	jg := &Graph{}
	if err := jg.UnmarshalJSON([]byte(j)); err != nil {
		t.Fatal(err)
	}
	if len(jg.IIPs) != 2 || string(jg.IIPs[0].Data) != `{"z":1,"a":[1.10,-0],"s":"\ud83d\ude00<"}` || string(jg.IIPs[1].Data) != `null` {
		t.Fatalf("IIPs from JSON: %s, %s", jg.IIPs[0].Data, jg.IIPs[1].Data)
	}
}
