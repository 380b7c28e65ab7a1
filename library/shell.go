package library

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// A command template is shell text written by the library's owner (the
// library file's components and handlers, with its variables expanded:
// those are template text too, so "--prefetch 1" stays two words). The
// shell keeps the template's own syntax (&&, pipes, VAR=x cmd, quotes).
// The placeholders are values that come from elsewhere: a node id (#ROLE),
// initial packets (#IIPS), a file name (#FILENAME), a component name
// (#COMPONENT, #COMPONENTNAME). Each is inserted as exactly one literal
// shell word (or part of one): no value is ever shell syntax.

// Placeholders, longest first where one is a prefix of another.
var placeholders = []string{"COMPONENTNAME", "COMPONENT", "FILENAME", "ROLE", "IIPS"}

// Errors of rendering a template.
var (
	// ErrPlaceholderInSubstitution: a value would become shell code run by
	// $(…), `…`, ${…} or a here-document.
	ErrPlaceholderInSubstitution = errors.New("a placeholder inside $(…), `…`, ${…} or a here-document would run its value as shell code")
	// ErrOptionValue: a value would become an option of the program.
	ErrOptionValue = errors.New("a value may not start with '-'")
)

// safeWord are values that need no quoting: shell output stays the same as
// msgflo's for ordinary names (procfile lines are compared with msgflo's).
var safeWord = regexp.MustCompile(`^[A-Za-z0-9_@%+:,./-]+$`)

// QuoteWord returns v as one literal shell word.
func QuoteWord(v string) string { return quoteWord(v) }

func quoteWord(v string) string {
	if safeWord.MatchString(v) {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

type shellContext int

const (
	ctxSingle    shellContext = iota // '…'
	ctxDouble                        // "…"
	ctxBacktick                      // `…`
	ctxDollarPar                     // $( … ) and $(( … ))
	ctxParen                         // ( … ) inside $( … )
	ctxBrace                         // ${ … }
)

// Words that cannot follow exec, and whose command therefore runs under
// the shell as its child (reserved words and builtins).
var notExecutable = map[string]bool{
	"!": true, "{": true, "}": true, "case": true, "do": true, "done": true, "elif": true,
	"else": true, "esac": true, "fi": true, "for": true, "if": true, "in": true, "then": true,
	"until": true, "while": true, "break": true, ":": true, "continue": true, ".": true,
	"eval": true, "exec": true, "exit": true, "export": true, "readonly": true, "return": true,
	"set": true, "shift": true, "times": true, "trap": true, "unset": true, "cd": true,
	"alias": true, "umask": true, "wait": true, "command": true, "ulimit": true, "source": true,
	"function": true, "select": true, "[[": true, "((": true,
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// render fills the placeholders of tmpl that have a value in values, each
// as one literal word, and returns shell text. When the template is a single
// simple command, program is the offset of its program word in text (where
// "exec " can go, so that the program replaces the shell: signals reach it,
// and it is the process the runtime started), else -1. Whether it is one is
// decided by the template's text, never by a value.
func render(tmpl string, values map[string]string) (text string, program int, err error) {
	var out strings.Builder
	var stack []shellContext
	substituting := func() bool {
		for _, c := range stack {
			if c != ctxSingle && c != ctxDouble {
				return true
			}
		}
		return false
	}
	placeholderAt := func(i int) (string, bool) {
		if i >= len(tmpl) || tmpl[i] != '#' {
			return "", false
		}
		for _, p := range placeholders {
			if strings.HasPrefix(tmpl[i+1:], p) {
				_, ok := values[p]
				return p, ok
			}
		}
		return "", false
	}
	heredoc := false
	simple := true
	// The top-level words (their template text), to find the command word.
	type word struct {
		at   int // offset in out
		text string
	}
	var words []word
	wordStart := true // at top level, between words
	addText := func(s string) {
		if wordStart {
			words = append(words, word{at: out.Len()})
			wordStart = false
		}
		words[len(words)-1].text += s
	}

	for i := 0; i < len(tmpl); i++ {
		ch := tmpl[i]
		nested := len(stack) > 0
		var ctx shellContext
		if nested {
			ctx = stack[len(stack)-1]
		}
		if name, ok := placeholderAt(i); ok {
			if substituting() || heredoc {
				return "", -1, fmt.Errorf("#%s: %w", name, ErrPlaceholderInSubstitution)
			}
			v := values[name]
			switch {
			case nested && ctx == ctxSingle:
				out.WriteString(strings.ReplaceAll(v, "'", `'\''`))
			case nested && ctx == ctxDouble:
				if safeWord.MatchString(v) {
					out.WriteString(v)
				} else {
					out.WriteString(`"` + quoteWord(v) + `"`) // leave "…", one quoted part, back into "…"
				}
			default:
				addText("#" + name)
				out.WriteString(quoteWord(v))
			}
			i += len(name)
			continue
		}
		if nested && ctx == ctxSingle {
			if ch == '\'' {
				stack = stack[:len(stack)-1]
			}
			out.WriteByte(ch)
			continue
		}
		if nested && ctx == ctxDouble {
			switch {
			case ch == '\\':
				if i+1 < len(tmpl) && strings.IndexByte("$`\"\\\n", tmpl[i+1]) >= 0 {
					out.WriteString(tmpl[i : i+2])
					i++
				} else {
					out.WriteString(`\\`) // a literal backslash, whatever follows
				}
				continue
			case ch == '"':
				stack = stack[:len(stack)-1]
			case ch == '`':
				stack = append(stack, ctxBacktick)
			case ch == '$' && i+1 < len(tmpl) && (tmpl[i+1] == '(' || tmpl[i+1] == '{'):
				stack = append(stack, map[byte]shellContext{'(': ctxDollarPar, '{': ctxBrace}[tmpl[i+1]])
				out.WriteString(tmpl[i : i+2])
				i++
				continue
			case ch == '$':
				if _, ok := placeholderAt(i + 1); ok {
					out.WriteString(`\$`) // $#ROLE: a literal $, then the value
					continue
				}
			}
			out.WriteByte(ch)
			continue
		}
		// Unquoted: at top level, or inside a substitution.
		if !nested {
			switch {
			case ch == ' ' || ch == '\t':
				wordStart = true
			case strings.IndexByte(";&|()\n", ch) >= 0:
				simple, wordStart = false, true
			case ch == '<' || ch == '>':
				if strings.HasPrefix(tmpl[i:], "<<") {
					heredoc, simple = true, false
				}
				wordStart = true
			case ch == '#' && wordStart:
				// A comment, to the end of the line.
				j := strings.IndexByte(tmpl[i:], '\n')
				if j < 0 {
					j = len(tmpl) - i
				}
				out.WriteString(tmpl[i : i+j])
				i += j - 1
				continue
			case ch == '\\' && i+1 < len(tmpl):
				addText(tmpl[i : i+2])
			default:
				addText(string(ch))
			}
		}
		switch {
		case ch == '\\':
			// The next character is escaped (\#ROLE is the text #ROLE).
			out.WriteByte(ch)
			if i+1 < len(tmpl) {
				out.WriteByte(tmpl[i+1])
				i++
			}
			continue
		case ch == '\'':
			stack = append(stack, ctxSingle)
		case ch == '"':
			stack = append(stack, ctxDouble)
		case ch == '`':
			if nested && ctx == ctxBacktick {
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, ctxBacktick)
			}
		case ch == '$' && i+1 < len(tmpl) && (tmpl[i+1] == '(' || tmpl[i+1] == '{'):
			stack = append(stack, map[byte]shellContext{'(': ctxDollarPar, '{': ctxBrace}[tmpl[i+1]])
			if !nested {
				addText(tmpl[i+1 : i+2])
			}
			out.WriteString(tmpl[i : i+2])
			i++
			continue
		case ch == '$':
			if _, ok := placeholderAt(i + 1); ok {
				out.WriteString(`\$`)
				continue
			}
		case ch == '(' && nested && (ctx == ctxDollarPar || ctx == ctxParen):
			stack = append(stack, ctxParen)
		case ch == ')' && nested && (ctx == ctxDollarPar || ctx == ctxParen):
			stack = stack[:len(stack)-1]
		case ch == '}' && nested && ctx == ctxBrace:
			stack = stack[:len(stack)-1]
		}
		out.WriteByte(ch)
	}
	text = out.String()
	if !simple || len(stack) > 0 {
		return text, -1, nil
	}
	for _, w := range words {
		if assignment.MatchString(w.text) {
			continue
		}
		if notExecutable[w.text] {
			return text, -1, nil
		}
		return text, w.at, nil
	}
	return text, -1, nil
}
