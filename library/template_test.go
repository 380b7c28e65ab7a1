package library

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hostileValues are node ids, file names and packet data that a shell
// would take as syntax if they were inserted as they are. Each touches the
// file PWNED in the working directory if any shell runs it.
var hostileValues = []string{
	"$(touch PWNED)",
	"`touch PWNED`",
	"x;touch PWNED",
	"x && touch PWNED",
	"x || touch PWNED",
	"x | touch PWNED",
	"x\ntouch PWNED",
	"x' ; touch PWNED ; echo '",
	`x" ; touch PWNED ; echo "`,
	`x\'; touch PWNED; '`,
	"${IFS}touch${IFS}PWNED",
	"$HOME/*",
	"HOME",
	"(touch PWNED)",
	"{,}",
	"~root",
	"a b\tc",
	"#ROLE #IIPS", // a value is never scanned for placeholders
	"x > PWNED",
	"ünï ☃ 'çødé'",
	`back\slash\`,
	"",
}

// shells the rendered text is run with: the default /bin/sh and, where
// installed, bash (msgflo's setup --shell).
func shells(t *testing.T) []string {
	out := []string{"/bin/sh"}
	if p, err := exec.LookPath("bash"); err == nil {
		out = append(out, p)
	}
	return out
}

// runArgs runs text under shell in a fresh directory, with printf
// writing its arguments NUL-terminated, and fails if anything touched PWNED.
func runArgs(t *testing.T, shell, text string) []string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(shell, "-c", text)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -c %q: %v\n%s", shell, text, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
		t.Fatalf("%s -c %q ran a value as shell code", shell, text)
	}
	args := strings.Split(string(out), "\x00")
	return args[:len(args)-1]
}

// recordEnd ends the output of each text runBatch runs.
const recordEnd = "\x1e\x00"

// runBatch is runArgs for many texts at once, each in a subshell of its
// own (one shell process instead of one per text: the tests run the
// hostile values through every template); a PWNED file fails the batch,
// and names its texts.
func runBatch(t *testing.T, shell string, texts []string) [][]string {
	t.Helper()
	var script strings.Builder
	for _, text := range texts {
		if strings.Contains(text, "exec ") {
			script.WriteString("(\n" + text + "\n)\n") // exec replaces the subshell only
		} else {
			script.WriteString("{\n" + text + "\n}\n")
		}
		script.WriteString("printf '\\036\\0'\n")
	}
	dir := t.TempDir()
	cmd := exec.Command(shell, "-c", script.String())
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -c %q: %v\n%s", shell, script.String(), err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
		t.Fatalf("%s ran a value as shell code, in one of %q", shell, texts)
	}
	records := strings.Split(string(out), recordEnd)
	if len(records) != len(texts)+1 {
		t.Fatalf("%s: %d outputs for %d texts: %q", shell, len(records)-1, len(texts), out)
	}
	runs := make([][]string, len(texts))
	for i, r := range records[:len(texts)] {
		args := strings.Split(r, "\x00")
		runs[i] = args[:len(args)-1]
	}
	return runs
}

func libraryOf(t *testing.T, components map[string]string) *Library {
	t.Helper()
	data, err := json.Marshal(map[string]any{"components": components})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Load(write(t, t.TempDir(), "lib.json", string(data)), false, "")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Every value reaches the program as the literal text it is, whatever the
// template does around its placeholder, and whichever shell runs it.
func TestValuesAreLiteralWords(t *testing.T) {
	p := `printf '%s\0' `
	templates := []literalCase{
		{p + "#ROLE", func(v string) []string { return []string{v} }},
		{p + "--name #ROLE tail", func(v string) []string { return []string{"--name", v, "tail"} }},
		{p + "--name=#ROLE", func(v string) []string { return []string{"--name=" + v} }},
		{p + `"#ROLE"`, func(v string) []string { return []string{v} }},
		{p + `"pre #ROLE post"`, func(v string) []string { return []string{"pre " + v + " post"} }},
		{p + `'#ROLE'`, func(v string) []string { return []string{v} }},
		{p + `'pre #ROLE post'`, func(v string) []string { return []string{"pre " + v + " post"} }},
		{p + `a#ROLE"b"'c'`, func(v string) []string { return []string{"a" + v + "bc"} }},
		{p + `$#ROLE`, func(v string) []string { return []string{"$" + v} }},
		{p + `"$#ROLE"`, func(v string) []string { return []string{"$" + v} }},
		{p + `"\#ROLE"`, func(v string) []string { return []string{`\` + v} }},
		{p + `\#ROLE`, func(string) []string { return []string{"#ROLE"} }},
		{"A=#ROLE " + p + "#ROLE", func(v string) []string { return []string{v} }},
		{"cd . && " + p + "#ROLE | cat", func(v string) []string { return []string{v} }},
		{p + "#ROLE # a comment #ROLE", func(v string) []string { return []string{v} }},
		{p + "#ROLE:#ROLE", func(v string) []string { return []string{v + ":" + v} }},
	}
	expectLiteralWords(t, templates)
}

// literalCase is a template, and the words its program must get for a
// role v.
type literalCase struct {
	template string
	want     func(v string) []string
}

// expectLiteralWords runs each template, as Command and as Script gives
// it, with every hostile role, under every shell.
func expectLiteralWords(t *testing.T, templates []literalCase) {
	t.Helper()
	type run struct{ v, text string }
	for _, tc := range templates {
		l := libraryOf(t, map[string]string{"C": tc.template})
		c, _ := l.Get("C")
		var runs []run
		for _, v := range hostileValues {
			for _, script := range []func(*Component, string, map[string]any) (string, error){l.Command, l.Script} {
				text, err := script(c, v, nil)
				if err != nil {
					t.Fatalf("%q with role %q: %v", tc.template, v, err)
				}
				runs = append(runs, run{v, text})
			}
		}
		texts := make([]string, len(runs))
		for i, r := range runs {
			texts[i] = r.text
		}
		for _, sh := range shells(t) {
			for i, got := range runBatch(t, sh, texts) {
				r := runs[i]
				if want := tc.want(r.v); strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
					t.Errorf("%s: %q with role %q: %q\n got %q\nwant %q", sh, tc.template, r.v, r.text, got, want)
				}
			}
		}
	}
}

// Initial packets reach the program as one word of JSON (msgflo's #IIPS),
// and component and file names as the names they are.
func TestPacketsAndFileNamesAreLiteral(t *testing.T) {
	dir := t.TempDir()
	comps := filepath.Join(dir, "comps")
	if err := os.Mkdir(comps, 0o755); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, name := range []string{"a;touch PWNED;b", "$(touch PWNED)", "x' `touch PWNED` '", "-opt", "ünï code"} {
		write(t, comps, name+".py", "")
		files = append(files, name)
	}
	lib := write(t, dir, "lib.json", `{"handlers": {".py": "printf '%s\\0' #FILENAME #COMPONENT #COMPONENTNAME --iips #IIPS"}}`)
	l, err := Load(lib, false, comps)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		c, ok := l.Get(name)
		if !ok {
			t.Fatalf("component %q not found", name)
		}
		for _, v := range hostileValues {
			iips := map[string]any{"in": v, v: []any{v, 1}}
			data, err := iipsJSON(iips)
			if err != nil {
				t.Fatal(err)
			}
			text, err := l.Script(c, "r", iips)
			if strings.HasPrefix(name, "-") {
				// the file is ./-opt.py; the component name would be an option
				if !errors.Is(err, ErrOptionValue) {
					t.Fatalf("component %q: %v", name, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, sh := range shells(t) {
				got := runArgs(t, sh, text)
				want := []string{filepath.Join(comps, name+".py"), name, name, "--iips", data}
				if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
					t.Errorf("%s: %q\n got %q\nwant %q", sh, text, got, want)
				}
			}
		}
	}
}

// A value starting with '-' would be an option of the program: refused.
func TestOptionValuesRefused(t *testing.T) {
	l := libraryOf(t, map[string]string{"C": "prog --name #ROLE"})
	c, _ := l.Get("C")
	for _, role := range []string{"-x", "--help", "-"} {
		if _, err := l.Script(c, role, nil); !errors.Is(err, ErrOptionValue) {
			t.Errorf("role %q: %v", role, err)
		}
	}
	// No argument can hold a NUL byte: a shell would cut or drop it.
	if _, err := l.Script(c, "a\x00b", nil); !errors.Is(err, ErrNULValue) {
		t.Errorf("role with NUL: %v", err)
	}
}

// loadError is the error of loading a library with one component.
func loadError(t *testing.T, tmpl string) error {
	t.Helper()
	data, err := json.Marshal(map[string]any{"components": map[string]string{"C": tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(write(t, t.TempDir(), "lib.json", string(data)), false, "")
	return err
}

// A placeholder where the shell would run its value as code is refused
// when the library is loaded, naming the component and the placeholder.
func TestPlaceholderInSubstitutionRefused(t *testing.T) {
	for _, tmpl := range []string{
		"prog $(echo #ROLE)", "prog `echo #ROLE`", `prog "$(echo #ROLE)"`, "prog ${x:-#ROLE}",
		"prog $(echo '#ROLE')", "cat <<EOF\n#ROLE\nEOF", "prog $((#ROLE))",
	} {
		err := loadError(t, tmpl)
		if !errors.Is(err, ErrPlaceholderInSubstitution) || !strings.Contains(err.Error(), "component C: #ROLE") {
			t.Errorf("%q: %v", tmpl, err)
		}
	}
	// Substitutions that hold no placeholder are the owner's: allowed.
	l := libraryOf(t, map[string]string{"C": `printf '%s\0' "$(echo a)" #ROLE`})
	c, _ := l.Get("C")
	text, err := l.Script(c, "r", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := runArgs(t, "/bin/sh", text); strings.Join(got, ",") != "a,r" {
		t.Fatalf("%q: %q", text, got)
	}
}

// The shell execs a simple command's program; commands with the shell's
// own syntax run as the template says.
func TestScriptExecsSimpleCommands(t *testing.T) {
	for tmpl, want := range map[string]string{
		"prog --name #ROLE":                  "exec prog --name r",
		"VAR=x OTHER='a b' prog #ROLE":       "VAR=x OTHER='a b' exec prog r",
		"#FILENAME #ROLE":                    "#FILENAME #ROLE", // no file: the marker is a comment, as in sh
		"prog #ROLE > log 2>&1":              "prog r > log 2>&1",
		"prog #ROLE >log":                    "exec prog r >log",
		"a && prog #ROLE":                    "a && prog r",
		"prog #ROLE | tee x":                 "prog r | tee x",
		"prog #ROLE; other":                  "prog r; other",
		"cd dir":                             "cd dir",
		"if true; then prog; fi":             "if true; then prog; fi",
		"prog --iips #IIPS":                  "exec prog --iips '{}'",
		"node ./node_modules/.bin/x #ROLE &": "node ./node_modules/.bin/x r &",
	} {
		l := libraryOf(t, map[string]string{"C": tmpl})
		c, _ := l.Get("C")
		got, err := l.Script(c, "r", nil)
		if err != nil || got != want {
			t.Errorf("%q: got %q (%v), want %q", tmpl, got, err, want)
		}
	}
}

// #IIPS carries each packet's JSON text as the graph holds it: numbers as
// written, key order kept, no escaping of <, > and &.
func TestIIPsKeepTheirBytes(t *testing.T) {
	dir := t.TempDir()
	lib := write(t, dir, "lib.json", `{"components": {"x/P": "printf '%s\\0' #IIPS"}}`)
	l, err := Load(lib, false, "")
	if err != nil {
		t.Fatal(err)
	}
	c, ok := l.Get("x/P")
	if !ok {
		t.Fatal("component x/P not found")
	}
	raw := json.RawMessage(`{"z":12345678901234567890,"a":-0,"f":1.10,"s":"<&> \u00e6"}`)
	text, err := l.Script(c, "r", map[string]any{"in": raw})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"in":` + string(raw) + `}`
	for _, sh := range shells(t) {
		got := runArgs(t, sh, text)
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q\n got %q\nwant %q", sh, text, got, want)
		}
	}
}

// A placeholder where the shell reads a name or a pattern, not a word, is
// refused when the library is loaded.
func TestPlaceholderAsSyntaxRefused(t *testing.T) {
	for _, tmpl := range []string{
		"prog $'#ROLE'", `prog $"#ROLE"`, "#ROLE=x prog", "for #ROLE in a; do prog; done", "prog @(#ROLE)", "#ROLE() { prog; }",
	} {
		err := loadError(t, tmpl)
		if !errors.Is(err, ErrPlaceholderAsSyntax) || !strings.Contains(err.Error(), "component C: #ROLE") {
			t.Errorf("%q: %v", tmpl, err)
		}
	}
}

// A placeholder in the script of a nested shell is refused when the
// library is loaded, unless the template quotes it for both levels;
// arguments after the script are the script's parameters, not code.
func TestNestedShells(t *testing.T) {
	for _, tc := range []struct {
		tmpl string
		want error // nil: accepted
	}{
		{`sh -c 'echo #ROLE'`, ErrNestedShell},
		{`bash -c "echo #IIPS"`, ErrNestedShell},
		{`env A=1 nice -n 5 timeout 10 sh -c 'echo #ROLE'`, ErrNestedShell},
		{`exec /bin/bash -lc 'prog #ROLE'`, ErrNestedShell},
		{`sudo -u someone dash -ec "prog #ROLE"`, ErrNestedShell},
		{`busybox sh -c 'prog #ROLE'`, ErrNestedShell},
		{`zsh -o pipefail -c 'prog #ROLE'`, ErrNestedShell},
		{`xargs -0 ksh -c 'prog #ROLE'`, ErrNestedShell},
		{`eval prog #ROLE`, ErrNestedShell},
		{`eval "prog #ROLE"`, ErrNestedShell},
		{`command eval "prog '#ROLE'" #IIPS`, ErrNestedShell},
		{`su -c 'prog #ROLE' someone`, ErrNestedShell},
		{`flock /tmp/lock -c "prog #ROLE"`, ErrNestedShell},
		{`ssh -p 22 -t host prog #ROLE`, ErrNestedShell},
		{`sh -c prog\ #ROLE`, ErrNestedShell},
		{`sh -c 'prog '"'"#ROLE"'"`, ErrNestedShell},       // quoted inside, not outside
		{`sh -c "prog \"\#ROLE\""`, ErrNestedShell},        // a '\' before it inside
		{`sh -c "prog '$HOME#ROLE'"`, ErrNestedShell},      // not fixed text
		{`sh -c 'sh -c "prog \"#ROLE\""'`, ErrNestedShell}, // two levels deep
		{`sh -c 'prog "$#ROLE"'`, ErrNestedShell},
		{`sh -c 'prog "$(#ROLE)"'`, ErrPlaceholderInSubstitution},
		{`sh -c "prog '#ROLE'"`, nil},
		{`sh -c 'prog "#ROLE"'`, nil},
		{`bash -c "prog '--iips=#IIPS'"`, nil},
		{`eval "prog '#ROLE'"`, nil},
		{`sh -c 'prog "$1"' sh #ROLE`, nil},
		{`ssh host`, nil},
		{`prog -c #ROLE`, nil},
		{`sh #FILENAME #ROLE`, nil},
	} {
		err := loadError(t, tc.tmpl)
		if tc.want == nil && err != nil {
			t.Errorf("%s: refused: %v", tc.tmpl, err)
		}
		if tc.want != nil && (!errors.Is(err, tc.want) || !strings.Contains(err.Error(), "component C: #")) {
			t.Errorf("%s: got %v, want %v naming the component and the placeholder", tc.tmpl, err, tc.want)
		}
	}
}

// In a nested shell's script quoted for both levels, every value reaches
// the inner program as the literal text it is.
func TestNestedShellValuesAreLiteralWords(t *testing.T) {
	p := `printf '%s\0'`
	templates := []literalCase{
		{`sh -c "` + p + ` '#ROLE'"`, func(v string) []string { return []string{v} }},
		{`sh -c 'printf "%s\0" "#ROLE"'`, func(v string) []string { return []string{v} }},
		{`sh -c "` + p + ` 'pre #ROLE post' x"`, func(v string) []string { return []string{"pre " + v + " post", "x"} }},
		{`sh -c 'printf "%s\0" "$0" "#ROLE"' '#ROLE'`, func(v string) []string { return []string{v, v} }},
		{`env A=1 sh -c "` + p + ` '#ROLE'"`, func(v string) []string { return []string{v} }},
		{`eval "` + p + ` '#ROLE'"`, func(v string) []string { return []string{v} }},
		{`eval 'printf "%s\0" "#ROLE"'`, func(v string) []string { return []string{v} }},
	}
	expectLiteralWords(t, templates)
}

// #19 "Nested shells re-parse values": node id a$(touch${IFS}PWNED1) with
// sh -c 'echo #ROLE', and the initial packet "$(touch PWNED2)" with
// bash -c "echo #IIPS", both touched their files. Both templates are
// refused now; quoted for both levels, the same values are printed as
// they are and touch nothing. (Seen failing before this check: the
// library loaded both and the shells created PWNED1 and PWNED2.)
func TestNestedShellRow(t *testing.T) {
	const id, packet = "a$(touch${IFS}PWNED1)", "$(touch PWNED2)"
	for _, tmpl := range []string{`sh -c 'echo #ROLE'`, `bash -c "echo #IIPS"`} {
		if err := loadError(t, tmpl); !errors.Is(err, ErrNestedShell) {
			t.Errorf("%s: %v", tmpl, err)
		}
	}
	l := libraryOf(t, map[string]string{
		"R": `sh -c "printf '%s\0' '#ROLE'"`,
		"I": `bash -c 'printf "%s\0" "#IIPS"'`,
	})
	r, _ := l.Get("R")
	i, _ := l.Get("I")
	rt, err := l.Script(r, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	it, err := l.Script(i, "n", map[string]any{"in": packet})
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shells(t) {
		for text, want := range map[string]string{rt: id, it: `{"in":"` + packet + `"}`} {
			dir := t.TempDir()
			cmd := exec.Command(sh, "-c", text)
			cmd.Dir = dir
			out, err := cmd.Output()
			if err != nil || string(out) != want+"\x00" {
				t.Errorf("%s -c %q: %q %v, want %q", sh, text, out, err, want)
			}
			for _, f := range []string{"PWNED1", "PWNED2"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s -c %q created %s", sh, text, f)
				}
			}
		}
	}
}

// QuoteWord makes any value one literal word, bare when it needs no
// quotes (procfile lines stay msgflo's).
func TestQuoteWord(t *testing.T) {
	for _, v := range []string{"repeat", "core/Repeat", "", "a b", "it's", `"$(touch x)"`, "`x`", "a\nb", "*", "~"} {
		words := shellWords(t, "prog "+QuoteWord(v))
		if len(words) != 1 || !slices.Equal(words[0], []string{"prog", v}) {
			t.Errorf("%q: written %s, read %q", v, QuoteWord(v), words)
		}
	}
	if got := QuoteWord("core/Repeat"); got != "core/Repeat" {
		t.Errorf("a plain name is quoted: %s", got)
	}
}
