// Package docs holds the project's documentation. Its tests check that
// ARCHITECTURE.md's package list and dependency table say what the code
// does: every package of the module is listed, every import between our
// packages is one the table allows, every import the table names is made,
// and the table's rows only point down; and that every test the documents
// name as evidence exists (testnames_test.go). They read the sources with
// go/parser, so they need no build and run in the fast tier.
package docs

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const document = "ARCHITECTURE.md"

func TestArchitectureMatchesTheImportGraph(t *testing.T) {
	graph, err := readImports("..")
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(document)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := parseArchitecture(string(text))
	if err != nil {
		t.Fatalf("%s: %v", document, err)
	}
	for _, problem := range check(doc, graph, dirExists("..")) {
		t.Errorf("%s: %s", document, problem)
	}
}

// imports is the module's import graph between its own packages, by
// folder relative to the module root ("runtime/plan"), from the packages'
// non-test files (tests may import any package of ours). Every package has
// an entry, empty when it imports none of ours.
type imports struct {
	code map[string]map[string]bool
}

func (g imports) packages() []string {
	var out []string
	for p := range g.code {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// readImports parses the imports of every .go file under root (skipping
// testdata, hidden and _ folders and files built only with the "ignore"
// tag). Build constraints are otherwise ignored: a Linux-only file's
// imports count like any other.
func readImports(root string) (imports, error) {
	module, err := modulePath(filepath.Join(root, "go.mod"))
	if err != nil {
		return imports{}, err
	}
	g := imports{code: map[string]map[string]bool{}}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p == root {
				return nil
			}
			if name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if ignored(f) {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if g.code[pkg] == nil {
			g.code[pkg] = map[string]bool{}
		}
		if strings.HasSuffix(name, "_test.go") {
			return nil
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if ours, ok := strings.CutPrefix(ip, module+"/"); ok {
				g.code[pkg][ours] = true
			}
		}
		return nil
	})
	return g, err
}

// ignored says whether the file's build constraint leaves it out of every
// build (//go:build ignore).
func ignored(f *ast.File) bool {
	for _, group := range f.Comments {
		if group.Pos() > f.Package {
			break
		}
		for _, c := range group.List {
			if expr, err := constraint.Parse(c.Text); err == nil && constraint.IsGoBuild(c.Text) {
				return expr.String() == "ignore"
			}
		}
	}
	return false
}

func modulePath(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`), nil
		}
	}
	return "", fmt.Errorf("%s: no module line", gomod)
}

func dirExists(root string) func(string) bool {
	return func(dir string) bool {
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir)))
		return err == nil && fi.IsDir()
	}
}

// architecture is what the test reads from the document.
type architecture struct {
	listed    []string // the package list's folders ("runtime/plan")
	rows      []row    // the dependency table, top to bottom
	testsOnly []string // packages only tests (and each other) import
}

// row is one row of the dependency table: the packages it is about
// (patterns: "internal/*") and the packages of ours they import.
type row struct {
	line     int
	packages []string
	anything bool     // "anything"
	imports  []string // patterns; empty with "nothing"
}

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	listEntry  = regexp.MustCompile(`^([a-z0-9_*./-]+)/(\s|$)`)
)

func parseArchitecture(text string) (architecture, error) {
	var a architecture
	lines := strings.Split(text, "\n")
	list, err := section(lines, "## Packages")
	if err != nil {
		return a, err
	}
	inFence := false
	for _, l := range list {
		if strings.HasPrefix(l.text, "```") {
			if inFence {
				break
			}
			inFence = true
			continue
		}
		if m := listEntry.FindStringSubmatch(l.text); inFence && m != nil {
			a.listed = append(a.listed, m[1])
		}
	}
	if len(a.listed) == 0 {
		return a, errors.New(`"## Packages" has no fenced list of folders ("runtime/plan/  what it is")`)
	}
	deps, err := section(lines, "## Dependencies")
	if err != nil {
		return a, err
	}
	if a.rows, err = parseTable(deps); err != nil {
		return a, err
	}
	a.testsOnly = testsOnly(deps)
	if len(a.testsOnly) == 0 {
		return a, errors.New(`"## Dependencies" names no packages after "For tests only"`)
	}
	return a, nil
}

// headingLevel is the number of #s starting a Markdown heading, else 0.
func headingLevel(line string) int {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	if n == 0 || !strings.HasPrefix(line[n:], " ") {
		return 0
	}
	return n
}

type numbered struct {
	n    int
	text string
}

// section returns the lines under heading, up to the next heading of the
// same or a higher level.
func section(lines []string, heading string) ([]numbered, error) {
	level := headingLevel(heading)
	for i, l := range lines {
		if strings.TrimSpace(l) != heading {
			continue
		}
		var out []numbered
		fenced := false
		for j := i + 1; j < len(lines); j++ {
			if strings.HasPrefix(lines[j], "```") {
				fenced = !fenced
			}
			if h := headingLevel(lines[j]); !fenced && h > 0 && h <= level {
				break
			}
			out = append(out, numbered{j + 1, lines[j]})
		}
		return out, nil
	}
	return nil, fmt.Errorf("no %q section", heading)
}

// parseTable reads the first table of the section: | packages | imports |.
func parseTable(lines []numbered) ([]row, error) {
	var rows []row
	for _, l := range lines {
		s := strings.TrimSpace(l.text)
		if !strings.HasPrefix(s, "|") {
			if len(rows) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(s, "|"), "|")
		if len(cells) < 2 || strings.HasPrefix(strings.TrimSpace(cells[0]), "---") || !strings.Contains(cells[0], "`") {
			continue // the header and its rule
		}
		r := row{line: l.n, packages: ticked(cells[0]), imports: ticked(cells[1])}
		if len(r.imports) == 0 {
			switch strings.TrimSpace(cells[1]) {
			case "anything":
				r.anything = true
			case "nothing":
			default:
				return nil, fmt.Errorf("line %d: the imports cell names no `package` and is neither \"anything\" nor \"nothing\"", l.n)
			}
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, errors.New(`"## Dependencies" has no table of | package | imports of ours |`)
	}
	return rows, nil
}

func ticked(cell string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		out = append(out, strings.TrimSuffix(m[1], "/"))
	}
	return out
}

// testsOnly reads the packages named in backticks from "For tests only"
// to the end of that paragraph.
func testsOnly(lines []numbered) []string {
	var para strings.Builder
	found := false
	for _, l := range lines {
		text := l.text
		if i := strings.Index(text, "For tests only"); i >= 0 && !found {
			found, text = true, text[i:]
		}
		if found && strings.TrimSpace(text) == "" {
			break
		}
		if found {
			para.WriteString(text + "\n")
		}
	}
	return ticked(para.String())
}

func match(pattern, pkg string) bool {
	ok, _ := path.Match(pattern, pkg)
	return ok
}

func matchAny(patterns []string, pkg string) bool {
	for _, p := range patterns {
		if match(p, pkg) {
			return true
		}
	}
	return false
}

// check compares the document with the import graph and returns what
// disagrees, each as a sentence saying what to change.
func check(a architecture, g imports, isDir func(string) bool) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	pkgs := g.packages()

	for _, p := range pkgs {
		if !matchAny(a.listed, p) {
			add("package %s/ is missing from the list under \"## Packages\"", p)
		}
	}
	for _, l := range a.listed {
		if !isDir(l) {
			add("the package list names %s/, which does not exist", l)
		}
	}

	rowOf := map[string]int{}
	for _, p := range pkgs {
		rowOf[p] = -1
		for i, r := range a.rows {
			if !matchAny(r.packages, p) {
				continue
			}
			if rowOf[p] >= 0 {
				add("package %s is in two rows of the dependency table (lines %d and %d)", p, a.rows[rowOf[p]].line, r.line)
				continue
			}
			rowOf[p] = i
		}
		if rowOf[p] < 0 {
			add("package %s is in no row of the dependency table", p)
		}
	}

	for i, r := range a.rows {
		problems = append(problems, checkRow(i, r, a.rows, g, pkgs, rowOf)...)
	}
	problems = append(problems, checkTestsOnly(a.testsOnly, g, pkgs)...)
	return problems
}

// checkRow checks one row of the table: its packages import only what it
// names, it names only what they import (a pattern: something it
// matches), and what it names is in rows below it.
func checkRow(i int, r row, rows []row, g imports, pkgs []string, rowOf map[string]int) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: ", r.line)+fmt.Sprintf(format, args...))
	}
	for _, pat := range r.packages {
		if !anyMatches(pat, pkgs) {
			add("%s names no package of the module", pat)
		}
	}
	used := map[string]bool{}
	for _, p := range pkgs {
		if rowOf[p] != i {
			continue
		}
		for _, imp := range sortedKeys(g.code[p]) {
			if r.anything {
				continue
			}
			allowed := false
			for _, pat := range r.imports {
				if match(pat, imp) {
					allowed, used[pat] = true, true
				}
			}
			if !allowed {
				add("%s imports %s, which its row does not allow", p, imp)
			}
		}
	}
	for _, pat := range r.imports {
		if !used[pat] {
			add("the row says %s imports %s, but none of its packages does", strings.Join(r.packages, ", "), pat)
		}
		for _, p := range pkgs {
			if match(pat, p) && rowOf[p] >= 0 && rowOf[p] <= i {
				add("%s points up or sideways: %s is in the row of line %d; rows import only rows below them", pat, p, rows[rowOf[p]].line)
			}
		}
	}
	return problems
}

func anyMatches(pattern string, pkgs []string) bool {
	for _, p := range pkgs {
		if match(pattern, p) {
			return true
		}
	}
	return false
}

// checkTestsOnly: the packages for tests are imported by no other code but
// each other.
func checkTestsOnly(helpers []string, g imports, pkgs []string) []string {
	var problems []string
	for _, h := range helpers {
		if g.code[h] == nil {
			problems = append(problems, fmt.Sprintf("%q is named for tests only but is no package of the module", h))
		}
	}
	for _, p := range pkgs {
		if matchAny(helpers, p) {
			continue
		}
		for imp := range g.code[p] {
			if matchAny(helpers, imp) {
				problems = append(problems, fmt.Sprintf("%s imports %s outside its tests, but %s is for tests only", p, imp, imp))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestCheckFindsEachDisagreement runs the check on a small document and
// graph that disagree in every way it knows.
func TestCheckFindsEachDisagreement(t *testing.T) {
	const text = "# x\n\n## Packages\n\n```\napp/   the program\nlow/   a leaf\ngone/  removed\n```\n\n" +
		"## Dependencies\n\n| package | imports of ours |\n|---|---|\n" +
		"| `app` | `mid`, `low` |\n| `mid` | `app` |\n| `low`, `helper` | nothing |\n\n" +
		"For tests only: `helper`.\n\n## Next\n"
	a, err := parseArchitecture(text)
	if err != nil {
		t.Fatal(err)
	}
	g := imports{code: map[string]map[string]bool{
		"app":    {"mid": true, "helper": true},
		"mid":    {"app": true},
		"low":    {},
		"helper": {},
		"stray":  {},
	}}
	got := check(a, g, func(dir string) bool { return dir != "gone" })
	want := []string{
		`package helper/ is missing from the list under "## Packages"`,
		`package mid/ is missing from the list under "## Packages"`,
		`package stray/ is missing from the list under "## Packages"`,
		`the package list names gone/, which does not exist`,
		`package stray is in no row of the dependency table`,
		`line 15: app imports helper, which its row does not allow`,
		`line 15: the row says app imports low, but none of its packages does`,
		`line 16: app points up or sideways: app is in the row of line 15; rows import only rows below them`,
		`app imports helper outside its tests, but helper is for tests only`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
