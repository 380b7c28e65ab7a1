package library

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// A command template is shell text written by the library's owner (the
// library file's components and handlers, with its variables expanded:
// those are template text too, so "--prefetch 1" stays two words). The
// shell keeps the template's own syntax (&&, pipes, VAR=x cmd, quotes).
// The placeholders are values that come from elsewhere: a node id (#ROLE),
// initial packets (#IIPS), a file name (#FILENAME), a component name
// (#COMPONENT, #COMPONENTNAME). Each is inserted as exactly one literal
// shell word (or part of one): no value is ever shell syntax.
//
// A template is read once, when the library is loaded, by a real shell
// parser (mvdan.cc/sh): where each placeholder sits (unquoted, in '…' or
// "…") decides how its value is quoted, and a template that puts one where
// a shell would read the value as code (in $(…), `…`, ${…}, $((…)), a
// here-document, a variable name, or the script of a nested shell that is
// not quoted for both levels: see nested.go) is refused then.

// Placeholders, longest first where one is a prefix of another.
var placeholders = []string{"COMPONENTNAME", "COMPONENT", "FILENAME", "ROLE", "IIPS"}

// Errors of reading a template or filling it.
var (
	// ErrPlaceholderInSubstitution: a value would become shell code run by
	// $(…), `…`, ${…} or a here-document.
	ErrPlaceholderInSubstitution = errors.New("a placeholder inside $(…), `…`, ${…} or a here-document would run its value as shell code")
	// ErrPlaceholderAsSyntax: a value would be read as a name or a
	// pattern of the shell's syntax, not as a word.
	ErrPlaceholderAsSyntax = errors.New("a placeholder where the shell reads a name or a pattern (a variable or function name, $'…', @(…)) is not a word")
	// ErrNestedShell: a value would be read again by a nested shell.
	ErrNestedShell = errors.New("a placeholder in the script of a nested shell (sh -c, eval, su -c, ssh, …) is read again by that shell: quote it for both levels, or pass it as an argument of the script (sh -c '… \"$1\"' sh #ROLE)")
	// ErrOptionValue: a value would become an option of the program.
	ErrOptionValue = errors.New("a value may not start with '-'")
	// ErrNULValue: no program argument can hold a NUL byte.
	ErrNULValue = errors.New("a value may not hold a NUL byte")
)

// safeWord are values that need no quoting: shell output stays the same as
// msgflo's for ordinary names (procfile lines are compared with msgflo's).
var safeWord = regexp.MustCompile(`^[A-Za-z0-9_@%+:,./-]+$`)

// QuoteWord returns v as one literal shell word (bare when it needs no
// quotes), as a placeholder's value is written where it stands unquoted.
func QuoteWord(v string) string { return unquoted.quote(v, false) }

// quoting is where a placeholder sits in a shell word.
type quoting int

const (
	unquoted quoting = iota
	singleQuoted
	doubleQuoted
)

// quote returns v to be written where q says, so that the shell reads it
// back as v, literally. Unless quoted is set, a value that needs no
// quotes is written bare.
func (q quoting) quote(v string, quoted bool) string {
	bare := !quoted && safeWord.MatchString(v)
	switch {
	case q == singleQuoted:
		return strings.ReplaceAll(v, "'", `'\''`)
	case bare:
		return v
	case q == doubleQuoted:
		return `"'` + strings.ReplaceAll(v, "'", `'\''`) + `'"` // leave "…", one quoted part, back into "…"
	default:
		return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
	}
}

// site is a placeholder of a template, and how its value is written.
type site struct {
	name       string
	start, end int // "#ROLE" in the template text
	outer      quoting
	// nested: the placeholder is in the script of a nested shell, where
	// it sits as inner says (the value is quoted for the inner shell,
	// then for the outer one).
	nested bool
	inner  quoting
	// escapeBefore: the byte before the placeholder ('$', or a lone '\'
	// in "…") is written escaped, so that it stays the literal it is in
	// the template instead of joining the value.
	escapeBefore bool
	// afterName: the placeholder follows a name's character, which a bare
	// value would extend ("$HOME#ROLE" with the role x is not $HOMEx): the
	// value is always quoted.
	afterName bool
}

// template is a command template read once.
type template struct {
	text    string
	sites   []site
	program int // offset in text of the program word a shell can exec, or -1
}

// parseTemplate reads text, whose placeholders with a value are those has
// says (the others are text).
func parseTemplate(text string, has func(name string) bool) (*template, error) {
	marks, sub, err := markPlaceholders(text, has)
	if err != nil {
		return nil, err
	}
	f, err := parseShell(sub)
	if err != nil {
		return nil, fmt.Errorf("not a shell command: %w", err)
	}
	paths := pathsTo(f, marks)
	t := &template{text: text, program: -1}
	for i, m := range marks {
		s, ok, err := classify(sub, m, paths[i])
		if err != nil {
			return nil, fmt.Errorf("#%s: %w", m.name, err)
		}
		if ok {
			t.sites = append(t.sites, s)
		}
	}
	if at := programOf(f, sub); at >= 0 {
		t.program = toTemplate(at, marks)
	}
	return t, nil
}

func parseShell(src string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangBash), syntax.KeepComments(true)).Parse(strings.NewReader(src), "")
}

// render fills the template's placeholders with values. It returns the
// shell text and the offset in it of the program word (where "exec " can
// go), or -1.
func (t *template) render(values map[string]string) (string, int) {
	var out strings.Builder
	program := -1
	copyText := func(from, to int) {
		if t.program >= from && t.program < to {
			out.WriteString(t.text[from:t.program])
			program = out.Len()
			from = t.program
		}
		out.WriteString(t.text[from:to])
	}
	at := 0
	for _, s := range t.sites {
		before := s.start
		if s.escapeBefore {
			before--
		}
		copyText(at, before)
		if s.escapeBefore {
			out.WriteByte('\\')
			out.WriteByte(t.text[before])
		}
		if t.program == s.start {
			program = out.Len()
		}
		v := values[s.name]
		if s.nested {
			v = s.inner.quote(v, false)
		}
		out.WriteString(s.outer.quote(v, s.afterName))
		at = s.end
	}
	copyText(at, len(t.text))
	return out.String(), program
}

// mark is a placeholder with a value, found in the template text, and the
// sentinel that stands for it in the text given to the parser (sub): a
// name, so that the parser reads it as a word wherever the placeholder
// is one ("$#ROLE" reads as "$" and a name), after a ',' where it follows
// a name's character (so "$HOME#ROLE" stays $HOME and the placeholder).
type mark struct {
	name             string
	start, end       int // in the template
	subStart, subEnd int // in sub
	sentinel         string
}

const sentinelPrefix = "MsgfloPlaceholder"

func markPlaceholders(text string, has func(name string) bool) ([]mark, string, error) {
	if strings.Contains(text, sentinelPrefix) {
		return nil, "", fmt.Errorf("the command may not hold %q", sentinelPrefix)
	}
	var marks []mark
	var sub strings.Builder
	for i := 0; i < len(text); i++ {
		name := placeholderAt(text, i, has)
		if name == "" {
			sub.WriteByte(text[i])
			continue
		}
		m := mark{name: name, start: i, end: i + 1 + len(name), subStart: sub.Len()}
		m.sentinel = fmt.Sprintf("%s%dx", sentinelPrefix, len(marks))
		if i > 0 && isNameByte(text[i-1]) {
			m.sentinel = "," + m.sentinel // ends a name before it ("$HOME#ROLE")
		}
		sub.WriteString(m.sentinel)
		m.subEnd = sub.Len()
		marks = append(marks, m)
		i = m.end - 1
	}
	return marks, sub.String(), nil
}

func isNameByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// placeholderAt is the name of the placeholder with a value at text[i:],
// or "".
func placeholderAt(text string, i int, has func(name string) bool) string {
	if text[i] != '#' {
		return ""
	}
	for _, p := range placeholders {
		if strings.HasPrefix(text[i+1:], p) {
			if has(p) {
				return p
			}
			return ""
		}
	}
	return ""
}

// toTemplate maps an offset in sub to the template.
func toTemplate(at int, marks []mark) int {
	shift := 0
	for _, m := range marks {
		if m.subStart >= at {
			break
		}
		shift += (m.subEnd - m.subStart) - (m.end - m.start)
	}
	return at - shift
}

// pathsTo finds, for each mark, the nodes that hold it, outermost first
// (nil when no node does).
func pathsTo(f *syntax.File, marks []mark) [][]syntax.Node {
	paths := make([][]syntax.Node, len(marks))
	var stack []syntax.Node
	syntax.Walk(f, func(n syntax.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		stack = append(stack, n)
		for i, m := range marks {
			if uint(m.subStart) >= n.Pos().Offset() && uint(m.subEnd) <= n.End().Offset() && len(stack) > len(paths[i]) {
				paths[i] = append([]syntax.Node(nil), stack...)
			}
		}
		return true
	})
	return paths
}

// oddBackslashes reports whether s[:i] ends with an odd run of '\'.
func oddBackslashes(s string, i int) bool {
	n := 0
	for i-n-1 >= 0 && s[i-n-1] == '\\' {
		n++
	}
	return n%2 == 1
}

// classify says how a mark is written: not at all (ok false: it is text,
// in a comment or escaped), or as a site; or refuses it.
func classify(sub string, m mark, path []syntax.Node) (site, bool, error) {
	s := site{name: m.name, start: m.start, end: m.end, afterName: m.start > 0 && isNameByte(sub[m.subStart-1])}
	ctx, err := contextOf(m, path)
	if err != nil || ctx.comment {
		return s, false, err
	}
	s.outer = ctx.quoting
	switch {
	case ctx.dollar:
		s.escapeBefore = true
	case s.outer == unquoted && oddBackslashes(sub, m.subStart):
		return s, false, nil // \#ROLE is the text #ROLE
	case s.outer == doubleQuoted && oddBackslashes(sub, m.subStart):
		s.escapeBefore = true // "\#ROLE": a literal '\', then the value
	}
	if script := nestedScript(ctx.call, ctx.arg); script != nil {
		inner, err := innerQuoting(m, script)
		if err != nil {
			return s, false, err
		}
		if s.outer == unquoted {
			return s, false, fmt.Errorf("%w (quoted for the nested shell only)", ErrNestedShell)
		}
		s.nested, s.inner = true, inner
	}
	return s, true, nil
}

// context is where a mark sits in the parsed template.
type context struct {
	quoting quoting
	comment bool             // in a comment: text
	dollar  bool             // right after a '$' ("$#ROLE": read as $ and a name)
	call    *syntax.CallExpr // the command whose word holds it
	arg     *syntax.Word     // that word
}

// contextOf walks a mark's path from the outside in.
func contextOf(m mark, path []syntax.Node) (context, error) {
	var c context
	inWord := false
	for i, n := range path {
		switch x := n.(type) {
		case *syntax.Comment:
			c.comment = true
			return c, nil
		case *syntax.CallExpr:
			c.call = x
			if i+1 < len(path) {
				c.arg, _ = path[i+1].(*syntax.Word)
			}
		case *syntax.Word:
			inWord = true
		case *syntax.SglQuoted:
			if x.Dollar {
				return c, ErrPlaceholderAsSyntax
			}
			c.quoting = singleQuoted
		case *syntax.DblQuoted:
			if x.Dollar {
				return c, ErrPlaceholderAsSyntax
			}
			c.quoting = doubleQuoted
		case *syntax.ParamExp:
			if !x.Short || x.Param == nil || x.Param.Pos().Offset() != uint(m.subStart) {
				return c, ErrPlaceholderInSubstitution
			}
			c.dollar = true
		case *syntax.CmdSubst, *syntax.ArithmExp, *syntax.ArithmCmd, *syntax.ProcSubst:
			return c, ErrPlaceholderInSubstitution
		case *syntax.Redirect:
			if x.Op == syntax.Hdoc || x.Op == syntax.DashHdoc {
				return c, ErrPlaceholderInSubstitution
			}
		case *syntax.ExtGlob:
			return c, ErrPlaceholderAsSyntax
		}
	}
	if !inWord {
		if len(path) == 0 {
			c.comment = true // outside every node: a comment the parser kept apart
			return c, nil
		}
		return c, ErrPlaceholderAsSyntax
	}
	return c, nil
}

// notExecutable are words that cannot follow exec, and whose command
// therefore runs under the shell as its child (reserved words and
// builtins).
var notExecutable = map[string]bool{
	"!": true, "{": true, "}": true, "case": true, "do": true, "done": true, "elif": true,
	"else": true, "esac": true, "fi": true, "for": true, "if": true, "in": true, "then": true,
	"until": true, "while": true, "break": true, ":": true, "continue": true, ".": true,
	"eval": true, "exec": true, "exit": true, "export": true, "readonly": true, "return": true,
	"set": true, "shift": true, "times": true, "trap": true, "unset": true, "cd": true,
	"alias": true, "umask": true, "wait": true, "command": true, "ulimit": true, "source": true,
	"function": true, "select": true, "[[": true, "((": true,
}

// programOf is the offset in sub of the program word when the template is
// one simple command the shell can exec (so that the program replaces the
// shell: signals reach it, and it is the process the runtime started),
// else -1. Whether it is one is decided by the template, never by a value.
// A command that duplicates descriptors (2>&1) is left to the shell.
func programOf(f *syntax.File, sub string) int {
	if len(f.Stmts) != 1 {
		return -1
	}
	st := f.Stmts[0]
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || st.Background || st.Negated || st.Coprocess || len(call.Args) == 0 {
		return -1
	}
	for _, r := range st.Redirs {
		if strings.Contains(r.Op.String(), "&") {
			return -1
		}
	}
	w := call.Args[0]
	if notExecutable[sub[w.Pos().Offset():w.End().Offset()]] {
		return -1
	}
	return int(w.Pos().Offset())
}
