package network

import (
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/msgflo/msgflo-runtime/internal/testenv"
)

func TestAsJSON(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		// JSON stays the same bytes.
		{`{"big":12345678901234567890,"z":1,"a":-0,"f":1.10,"e":1e2,"s":"\u00e6"}`, `{"big":12345678901234567890,"z":1,"a":-0,"f":1.10,"e":1e2,"s":"\u00e6"}`},
		{`"\ud83d\ude00"`, `"\ud83d\ude00"`},
		{`null`, `null`},
		{" [1, 2] \n", " [1, 2] \n"},
		{`"<&>"`, `"<&>"`},
		// Anything else is the string of its text.
		{`on`, `"on"`},
		{``, `""`},
		{`{"a":`, `"{\"a\":"`},
		{"line\n<b>&", `"line\n<b>&"`},
		{"\ufeff1", "\"\ufeff1\""},
		// Invalid UTF-8: U+FFFD per maximal subpart, then JSON or text.
		{"\xff", "\"\ufffd\""},
		{"\"\xff\"", "\"\ufffd\""},
		{"a\xe2\x82b", "\"a\ufffdb\""},
		{"\xe2\x82\xe2\x82\xac", "\"\ufffd€\""},
		{"\xed\xa0\x80", "\"\ufffd\ufffd\ufffd\""},
		{"\xf0\x9f\x98", "\"\ufffd\""},
		{"\xc0\xaf", "\"\ufffd\ufffd\""},
	} {
		got := AsJSON([]byte(tc.body))
		if string(got) != tc.want {
			t.Errorf("AsJSON(%q) = %q, want %q", tc.body, got, tc.want)
		}
		if !IsJSON(got) {
			t.Errorf("AsJSON(%q) = %q is not JSON in UTF-8", tc.body, got)
		}
	}
}

// AsJSON reads bodies as msgflo-nodejs does (Buffer.toString, JSON.parse,
// the text when that fails): checked against Node.js itself on random
// bytes and text.
func TestAsJSONMatchesNodejs(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		testenv.SkipOrFail(t, "node is not installed")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"\xff", "\xe2\x82", "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\xc3", "\xa9", "\xf4\x90\x80\x80", "\xe0\x80", "é", "\"", "{", "}", "1", ":", "a", " ", "null", "[", "]", ","}
	var bodies [][]byte
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		bodies = append(bodies, []byte(b.String()))
	}
	var in strings.Builder
	for _, b := range bodies {
		in.WriteString(hex.EncodeToString(b) + "\n")
	}
	const script = `
const lines = require("fs").readFileSync(0, "utf8").split("\n").slice(0, -1);
const out = lines.map((h) => {
  const text = Buffer.from(h, "hex").toString();
  let v;
  try { v = JSON.parse(text); } catch (e) { v = text; }
  return v;
});
process.stdout.write(JSON.stringify(out));
`
	cmd := exec.Command("node", "-e", script)
	cmd.Stdin = strings.NewReader(in.String())
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		got := AsJSON(b)
		if !utf8.Valid(got) {
			t.Fatalf("%q: %q is not UTF-8", b, got)
		}
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("%q: %q: %v", b, got, err)
		}
		g, _ := json.Marshal(v)
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) {
			t.Errorf("%q: we read %s, Node.js reads %s", b, g, w)
		}
	}
}
