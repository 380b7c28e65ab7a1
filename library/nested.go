package library

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// A nested shell reads its script again: a value quoted for the outer
// shell only is code to the inner one (with the node id
// "a$(touch${IFS}PWNED)", `sh -c 'echo #ROLE'` runs touch). A placeholder
// in such a script is accepted only when the template quotes it at both
// levels (sh -c 'echo "#ROLE"', sh -c "echo '#ROLE'"); its value is then
// quoted for the inner shell, and that for the outer one. Arguments after
// the script are the script's positional parameters, never read as code:
// sh -c 'echo "$1"' sh #ROLE is the plain way.

// shellNames are programs that run the argument of -c as a shell script.
var shellNames = map[string]bool{
	"sh": true, "bash": true, "rbash": true, "dash": true, "zsh": true, "ksh": true, "ksh93": true,
	"mksh": true, "pdksh": true, "ash": true, "yash": true, "posh": true, "fish": true, "csh": true, "tcsh": true,
}

// dashC are programs whose -c argument is a command line for a shell.
var dashC = map[string]bool{"su": true, "runuser": true, "flock": true, "script": true}

// sshValueOptions are the options of ssh that take a value.
const sshValueOptions = "BbcDEeFIiJLlmOoPpQRSWw"

// nestedScript returns the words of call that make the script of a
// nested shell when arg is one of them, else nil.
func nestedScript(call *syntax.CallExpr, arg *syntax.Word) []*syntax.Word {
	if call == nil || arg == nil {
		return nil
	}
	for _, script := range nestedScripts(call.Args) {
		if slices.Contains(script, arg) {
			return script
		}
	}
	return nil
}

// nestedScripts lists the scripts of nested shells among a command's
// words: the argument of a shell's -c, wherever the shell comes (behind
// env, exec, nice, timeout, sudo, xargs, …); that of su, runuser, flock
// or script's -c; eval's arguments (read as one line); and the command
// ssh sends to the remote shell.
func nestedScripts(args []*syntax.Word) [][]*syntax.Word {
	var out [][]*syntax.Word
	k := 0
	for k < len(args) && (literal(args[k]) == "builtin" || literal(args[k]) == "command") {
		k++
	}
	if k+1 < len(args) && literal(args[k]) == "eval" {
		out = append(out, args[k+1:])
	}
	for i, w := range args {
		name := path.Base(literal(w))
		switch {
		case shellNames[name]:
			if j := shellScript(args, i+1); j >= 0 {
				out = append(out, args[j:j+1])
			}
		case dashC[name]:
			for j := i + 1; j+1 < len(args); j++ {
				if a := literal(args[j]); a == "-c" || a == "--command" {
					out = append(out, args[j+1:j+2])
					break
				}
			}
		case name == "ssh":
			if j := sshCommand(args, i+1); j >= 0 {
				out = append(out, args[j:])
			}
		}
	}
	return out
}

// shellScript is the index of the script a shell's options from args[j]
// on introduce with -c (also in a cluster: -ec, -lc), or -1.
func shellScript(args []*syntax.Word, j int) int {
	sawC := false
	for ; j < len(args); j++ {
		a := literal(args[j])
		switch {
		case a == "--":
			j++
		case a == "-o" || a == "+o" || a == "-O" || a == "+O" || a == "--rcfile" || a == "--init-file":
			j++ // takes a value
			continue
		case len(a) > 1 && a[0] == '-' && a[1] != '-':
			sawC = sawC || strings.ContainsRune(a[1:], 'c')
			continue
		case len(a) > 1 && (a[0] == '+' || strings.HasPrefix(a, "--")):
			continue
		}
		break
	}
	if sawC && j < len(args) {
		return j
	}
	return -1
}

// sshCommand is the index of the first word of the command ssh runs,
// after its options from args[j] on and the destination, or -1.
func sshCommand(args []*syntax.Word, j int) int {
	for j < len(args) {
		a := literal(args[j])
		if a == "--" {
			j++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for k := 1; k < len(a); k++ {
			if strings.IndexByte(sshValueOptions, a[k]) >= 0 {
				if k == len(a)-1 {
					j++ // the value is the next word
				}
				break
			}
		}
		j++
	}
	if j+1 < len(args) {
		return j + 1
	}
	return -1
}

// literal is the text a word stands for when it has no expansion, else "".
func literal(w *syntax.Word) string {
	s, ok := wordText(w)
	if !ok {
		return ""
	}
	return s
}

// wordText is what the shell makes of a word (quotes and escapes removed),
// when that is fixed text: placeholders are their sentinels, and a '$'
// before one stays. ok is false for a word with other expansions.
func wordText(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch x := p.(type) {
		case *syntax.Lit:
			b.WriteString(unescape(x.Value, false))
		case *syntax.SglQuoted:
			if x.Dollar {
				return "", false
			}
			b.WriteString(x.Value)
		case *syntax.DblQuoted:
			if x.Dollar {
				return "", false
			}
			for _, q := range x.Parts {
				switch y := q.(type) {
				case *syntax.Lit:
					b.WriteString(unescape(y.Value, true))
				case *syntax.ParamExp:
					if !sentinelParam(y) {
						return "", false
					}
					b.WriteString("$" + y.Param.Value)
				default:
					return "", false
				}
			}
		case *syntax.ParamExp:
			if !sentinelParam(x) {
				return "", false
			}
			b.WriteString("$" + x.Param.Value)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// sentinelParam: "$#ROLE", read as a '$' and the placeholder's sentinel.
func sentinelParam(p *syntax.ParamExp) bool {
	return p.Short && p.Param != nil && strings.HasPrefix(p.Param.Value, sentinelPrefix)
}

// unescape removes the shell's backslashes from literal text: all of them
// outside quotes, those before $ ` " \ and newline inside "…".
func unescape(s string, inDouble bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) || (inDouble && !strings.ContainsRune("$`\"\\\n", rune(s[i+1]))) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] != '\n' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// innerQuoting is how the nested shell whose script is made of script
// sees the placeholder m: quoted ('…' or "…") or refused.
func innerQuoting(m mark, script []*syntax.Word) (quoting, error) {
	var parts []string
	for _, w := range script {
		s, ok := wordText(w)
		if !ok {
			return 0, fmt.Errorf("%w (the script is not fixed text)", ErrNestedShell)
		}
		parts = append(parts, s)
	}
	text := strings.Join(parts, " ")
	at := strings.Index(text, m.sentinel)
	f, err := parseShell(text)
	if at < 0 || err != nil {
		return 0, fmt.Errorf("%w (the script does not parse: %v)", ErrNestedShell, err)
	}
	im := mark{name: m.name, subStart: at, subEnd: at + len(m.sentinel), sentinel: m.sentinel}
	ctx, err := contextOf(im, pathsTo(f, []mark{im})[0])
	switch {
	case err != nil:
		return 0, fmt.Errorf("in the script of a nested shell: %w", err)
	case ctx.comment || ctx.dollar || ctx.quoting == unquoted:
		return 0, fmt.Errorf("%w (unquoted for the nested shell)", ErrNestedShell)
	case ctx.quoting == doubleQuoted && oddBackslashes(text, at):
		return 0, fmt.Errorf("%w (after a '\\' in the nested shell's \"…\")", ErrNestedShell)
	case nestedScript(ctx.call, ctx.arg) != nil:
		return 0, fmt.Errorf("%w (a shell nested in a nested shell)", ErrNestedShell)
	}
	return ctx.quoting, nil
}
