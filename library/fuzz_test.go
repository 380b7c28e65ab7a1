package library

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// fuzzTemplates put #ROLE in every kind of place a template may: bare,
// in '…' and "…", joined to other text, after '$' and '\', in an
// assignment, in a pipeline, and in the script of a nested shell quoted
// for both levels (sh -c, bash -c behind wrappers, eval), or after it.
var fuzzTemplates = []string{
	`prog #ROLE`, `prog --name=#ROLE tail`, `prog "#ROLE"`, `prog "pre #ROLE post"`,
	`prog '#ROLE'`, `prog 'pre #ROLE post'`, `prog a#ROLE"b"'c'`, `prog $#ROLE`,
	`prog "$#ROLE"`, `prog "\#ROLE"`, `A=#ROLE prog #ROLE`, `cd . && prog #ROLE | cat`,
	`prog #ROLE:#ROLE`, `prog "$HOME#ROLE" x$HOME#ROLE`, `prog #ROLE # a comment #ROLE`,
	`sh -c "prog '#ROLE'"`, `sh -c 'prog "#ROLE" "pre #ROLE"'`, `eval "prog '#ROLE' x"`,
	`env A=1 timeout 5 bash -ec 'prog "#ROLE" x' && prog`, `sh -c 'prog "$1"' sh #ROLE`,
}

var errSubstitution = errors.New("a command substitution")

// shellWords is what a shell does with text, without running anything:
// the words of each command, in order (an assignment is one word
// NAME=value; a nested shell's script is the word <script>), followed by
// those of the script of each nested shell.
// mvdan.cc/sh's expansion reads them, not our renderer.
func shellWords(t *testing.T, text string) [][]string {
	t.Helper()
	f, err := parseShell(text)
	if err != nil {
		t.Fatalf("%q does not parse: %v", text, err)
	}
	cfg := &expand.Config{Env: expand.ListEnviron(), CmdSubst: func(io.Writer, *syntax.CmdSubst) error { return errSubstitution }}
	var cmds [][]string
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		var words []string
		for _, a := range call.Assigns {
			// expand.Literal keeps the '\' of '\'' here; Fields reads
			// the value as the shell does (quoted: one field).
			v, err := expand.Fields(cfg, a.Value)
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			words = append(words, a.Name.Value+"="+strings.Join(v, " "))
		}
		fields, err := expand.Fields(cfg, call.Args...)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		lw := literalWords(fields)
		var nested [][]string
		for _, script := range nestedScripts(lw) {
			var parts []string
			for _, w := range script {
				parts = append(parts, literal(w))
				fields[slices.Index(lw, w)] = "<script>" // its words follow
			}
			nested = append(nested, shellWords(t, strings.Join(parts, " "))...)
		}
		cmds = append(cmds, append(words, fields...))
		cmds = append(cmds, nested...)
		return true
	})
	return cmds
}

// literalWords makes words of fields, for nestedScripts.
func literalWords(fields []string) []*syntax.Word {
	words := make([]*syntax.Word, len(fields))
	for i, f := range fields {
		words[i] = &syntax.Word{Parts: []syntax.WordPart{&syntax.SglQuoted{Value: f}}}
	}
	return words
}

// Whatever its bytes, a value changes neither the number nor the order of
// the words any shell sees, nested ones included: the words are those of
// the template filled with a plain marker, the marker replaced by the
// value. (NUL is refused by Command: no argument can hold it.)
func FuzzRenderKeepsWords(f *testing.F) {
	for i := range fuzzTemplates {
		for _, v := range hostileValues {
			f.Add(uint8(i), v)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		if strings.IndexByte(v, 0) >= 0 {
			t.Skip()
		}
		tmpl := fuzzTemplates[int(which)%len(fuzzTemplates)]
		tp, err := parseTemplate(tmpl, func(p string) bool { return p == "ROLE" })
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		const marker = "MARKER"
		text, _ := tp.render(map[string]string{"ROLE": marker})
		want := shellWords(t, text)
		text, _ = tp.render(map[string]string{"ROLE": v})
		got := shellWords(t, asValid(text))
		v = asValid(v)
		if len(got) != len(want) {
			t.Fatalf("%s with %q: %q: %d commands, want %d: %q", tmpl, v, text, len(got), len(want), got)
		}
		for i := range want {
			for j := range want[i] {
				want[i][j] = strings.ReplaceAll(want[i][j], marker, v)
			}
			if strings.Join(got[i], "\x00") != strings.Join(want[i], "\x00") || len(got[i]) != len(want[i]) {
				t.Fatalf("%s with %q: %q: command %d\n got %q\nwant %q", tmpl, v, text, i, got[i], want[i])
			}
		}
	})
}

// asValid maps each byte of s that is not UTF-8 to a rune of its own
// (U+F700 + the byte), for the parser, which takes UTF-8 only. Shells
// take such bytes as any other character, and quoting never splits nor
// completes a sequence, so the words are the same either way. It maps
// '\r' the same way: the parser drops a '\r' before '\n' even inside
// quotes (it reads CRLF line ends), where sh, dash and bash keep it as
// any other character (not in IFS, special nowhere).
func asValid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || r == '\r' {
			r = 0xF700 + rune(s[i])
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}
