package sftpshell

import (
	"errors"
	"strings"
)

// A command line is split into words as OpenSSH's sftp does: blanks
// separate words; '…' quotes everything up to the next '; "…" quotes too,
// with \" and \\ standing for " and \; outside quotes a backslash makes
// the next character an ordinary one. Words come out as glob patterns:
// every glob metacharacter that was quoted or escaped (and every literal
// backslash) is preceded by a backslash, so that path.Match and the globs
// take it literally, and literal recovers the plain text for commands
// that do not glob.

// errUnterminated is a quote without its closing quote.
var errUnterminated = errors.New("unterminated quote")

// globMeta are the characters a pattern escapes to mean themselves.
const globMeta = `*?[]\`

// splitWords splits line into pattern words.
func splitWords(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	lit := func(c byte) { // a character meant literally
		if strings.IndexByte(globMeta, c) >= 0 {
			cur.WriteByte('\\')
		}
		cur.WriteByte(c)
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errUnterminated
			}
			for j := i + 1; j <= i+end; j++ {
				lit(line[j])
			}
			i += end + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(line); i++ {
				c := line[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
					c = line[i]
				}
				lit(c)
			}
			if !closed {
				return nil, errUnterminated
			}
		case c == '\\':
			inWord = true
			if i+1 < len(line) {
				i++
				lit(line[i])
			} else {
				lit('\\') // a final backslash stands for itself
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// literal is the plain text of pattern word w: its escapes removed.
func literal(w string) string {
	if !strings.Contains(w, `\`) {
		return w
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if w[i] == '\\' && i+1 < len(w) {
			i++
		}
		b.WriteByte(w[i])
	}
	return b.String()
}

// hasGlob reports whether pattern w has an unescaped metacharacter, so
// that it may match other names than its literal text.
func hasGlob(w string) bool {
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// escapeGlob makes s a pattern matching only itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, globMeta) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(globMeta, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Quote returns s as one word of a command line that means s and
// nothing else, globs included: Exec(ctx, "get -- "+Quote(name)) (the
// "--" because a quoted word starting with '-' is still a flag).
func Quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n'\"\\*?[]#") {
		return s
	}
	return `'` + strings.ReplaceAll(s, `'`, `'\''`) + `'`
}

// parsed is a command line split into the command, its flags and its
// arguments (patterns).
type parsed struct {
	name  string
	flags string // the flag letters given, in order
	args  []string
}

// has reports whether flag letter f was given.
func (p *parsed) has(f byte) bool { return strings.IndexByte(p.flags, f) >= 0 }

// parseFlags takes the leading "-xyz" words of args whose letters are all
// in allowed, up to "--" or the first other word.
func parseFlags(args []string, allowed string) (flags string, rest []string, err error) {
	for i, a := range args {
		if a == "--" {
			return flags, args[i+1:], nil
		}
		if len(a) < 2 || a[0] != '-' {
			return flags, args[i:], nil
		}
		for j := 1; j < len(a); j++ {
			if strings.IndexByte(allowed, a[j]) < 0 {
				return "", nil, usagef("unknown option -%c", a[j])
			}
		}
		flags += a[1:]
	}
	return flags, nil, nil
}
