package library

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
	templates := []struct {
		template string
		want     func(v string) []string
	}{
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
	for _, sh := range shells(t) {
		for _, tc := range templates {
			l := libraryOf(t, map[string]string{"C": tc.template})
			c, _ := l.Get("C")
			for _, v := range hostileValues {
				for _, script := range []func(*Component, string, map[string]any) (string, error){l.Command, l.Script} {
					text, err := script(c, v, nil)
					if err != nil {
						t.Fatalf("%q with role %q: %v", tc.template, v, err)
					}
					got := runArgs(t, sh, text)
					if want := tc.want(v); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
						t.Errorf("%s: %q with role %q: %q\n got %q\nwant %q", sh, tc.template, v, text, got, want)
					}
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
}

// A placeholder where the shell would run its value as code is refused.
func TestPlaceholderInSubstitutionRefused(t *testing.T) {
	for _, tmpl := range []string{
		"prog $(echo #ROLE)", "prog `echo #ROLE`", `prog "$(echo #ROLE)"`, "prog ${x:-#ROLE}",
		"prog $(echo '#ROLE')", "cat <<EOF\n#ROLE\nEOF", "prog $((#ROLE))",
	} {
		l := libraryOf(t, map[string]string{"C": tmpl})
		c, _ := l.Get("C")
		if _, err := l.Script(c, "r", nil); !errors.Is(err, ErrPlaceholderInSubstitution) {
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
