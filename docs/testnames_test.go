package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The documents give tests as evidence ("each cannot names the test that
// shows it"): every test they name in backquotes, outside code blocks, is
// a test, fuzz test or benchmark of the module, in the package named
// when one is (`directory.TestBounds`). A test renamed or removed leaves
// no claim without its evidence.
func TestDocumentsNameTestsThatExist(t *testing.T) {
	defined, err := testFunctions("..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	cited := 0
	for _, file := range append(files, filepath.Join("..", "README.md")) {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range citedTests(string(text)) {
			cited++
			if problem := checkCited(c, defined); problem != "" {
				t.Errorf("%s:%d: %s", file, c.line, problem)
			}
		}
	}
	if cited == 0 {
		t.Fatal("no test named in the documents: is the pattern still right?")
	}
}

// citation is a test named in a document, with the package it is said to
// be in ("" when none is named).
type citation struct {
	pkg, name string
	line      int
}

var (
	inBackquotes = regexp.MustCompile("`[^`\n]+`")
	testName     = regexp.MustCompile(`\b(?:([a-z][a-z0-9]*)\.)?((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*)\b`)
)

// citedTests lists the tests text names in backquotes, leaving out fenced
// code blocks (examples of the user's own code).
func citedTests(text string) []citation {
	var out []citation
	fenced := false
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, quoted := range inBackquotes.FindAllString(line, -1) {
			for _, m := range testName.FindAllStringSubmatch(quoted, -1) {
				out = append(out, citation{pkg: m[1], name: m[2], line: i + 1})
			}
		}
	}
	return out
}

// checkCited says what is wrong with a citation, or "".
func checkCited(c citation, defined map[string][]string) string {
	dirs, ok := defined[c.name]
	if !ok {
		return c.name + " is named, and no _test.go file of the module defines it"
	}
	if c.pkg == "" {
		return ""
	}
	for _, dir := range dirs {
		if path.Base(dir) == c.pkg {
			return ""
		}
	}
	return c.pkg + "." + c.name + " is named, and " + c.name + " is in " + strings.Join(dirs, ", ")
}

// testFunctions maps the name of each test, fuzz test and benchmark
// function of the module below root to the folders defining it.
func testFunctions(root string) (map[string][]string, error) {
	defined := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(p))
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if ok && fn.Recv == nil && testName.MatchString(fn.Name.Name) {
				defined[fn.Name.Name] = append(defined[fn.Name.Name], filepath.ToSlash(dir))
			}
		}
		return nil
	})
	for _, dirs := range defined {
		sort.Strings(dirs)
	}
	return defined, err
}
