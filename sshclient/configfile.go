package sshclient

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	sshconfig "github.com/kevinburke/ssh_config"
)

// maxIncludeDepth bounds nested Include directives, as OpenSSH does.
const maxIncludeDepth = 16

// Placeholders the files are rewritten with before github.com/kevinburke/ssh_config
// parses them: that package reads Include files relative to the real home
// directory and refuses Match criteria other than "host" and "all", so
// both are evaluated here instead, the OpenSSH way.
const (
	matchPlaceholder   = "ssmssh-match-line-"
	includePlaceholder = "SSMSSHInclude"
)

// setting is one keyword's value and where it came from.
type setting struct {
	rest   string   // the text after the keyword (and "="), trimmed
	args   []string // rest split into words, quotes removed
	source string   // "file:line" or "command line"
}

// multiKeywords accumulate every value instead of keeping the first.
var multiKeywords = map[string]bool{
	"identityfile":    true,
	"localforward":    true,
	"certificatefile": true,
	"sendenv":         true,
	"setenv":          true,
	"remoteforward":   true,
	"dynamicforward":  true,
}

// settings collects keyword values with OpenSSH's rule: the first value
// obtained for a keyword wins; list keywords accumulate.
type settings struct {
	first map[string]setting
	multi map[string][]setting
}

func newSettings() *settings {
	return &settings{first: map[string]setting{}, multi: map[string][]setting{}}
}

func (s *settings) add(keyword string, v setting) {
	k := strings.ToLower(keyword)
	if multiKeywords[k] {
		// OpenSSH ignores duplicates (the final pass reads them again).
		for _, old := range s.multi[k] {
			if slices.Equal(old.args, v.args) {
				return
			}
		}
		s.multi[k] = append(s.multi[k], v)
		return
	}
	if _, ok := s.first[k]; !ok {
		s.first[k] = v
	}
}

func (s *settings) get(keyword string) (setting, bool) {
	v, ok := s.first[strings.ToLower(keyword)]
	return v, ok
}

// splitLine splits a configuration line (or a -o argument) into its
// keyword and the rest: "Keyword value", "Keyword=value" or
// "Keyword = value".
func splitLine(line string) (keyword, rest string) {
	line = strings.TrimSpace(line)
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return line, ""
	}
	keyword, rest = line[:i], strings.TrimLeft(line[i:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	return keyword, strings.TrimSpace(rest)
}

// splitArgs splits s into words the way OpenSSH's argv_split does:
// whitespace separates, single and double quotes group, a backslash
// escapes quotes, backslashes and spaces, and a word starting with '#'
// begins a comment.
func splitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			switch {
			case c == quote:
				quote = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == quote || s[i+1] == '\\'):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == ' ' || c == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case c == '#' && !inArg:
			return args, nil
		case c == '"' || c == '\'':
			quote, inArg = c, true
		case c == '\\' && i+1 < len(s) && strings.IndexByte(`"'\ `, s[i+1]) >= 0:
			i++
			cur.WriteByte(s[i])
			inArg = true
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, errUnterminatedQuote
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// errUnterminatedQuote reports a quote without its closing partner.
var errUnterminatedQuote = errors.New("unterminated quote")

// matchState is what Match criteria are evaluated against.
type matchState struct {
	host      string // Host lines match this (the alias; the host name in the final pass)
	original  string // the alias as given
	localUser string
	user      func() string // the remote user known so far
	hostName  func() string // HostName as known so far, for Match host
	final     bool          // the second pass, after HostName is known
	wantFinal bool          // set when a file asks for "Match final" or "canonical"
	logf      func(string, ...any)
}

// fileReader reads configuration files into settings.
type fileReader struct {
	home  string
	set   *settings
	state *matchState
}

// readFile parses path and adds the values of the blocks that apply. A
// missing file is not an error when optional is true.
func (r *fileReader) readFile(path string, system, optional bool, depth int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("sshclient: read ssh config: %w", err)
	}
	return r.parse(path, data, system, depth)
}

// parse adds the values of the blocks of a file's contents that apply.
func (r *fileReader) parse(path string, data []byte, system bool, depth int) error {
	lines, matches := rewriteConfig(data)
	cfg, err := sshconfig.DecodeBytes([]byte(strings.Join(lines, "\n")))
	if err != nil {
		return fmt.Errorf("sshclient: %s: %w", path, err)
	}
	for _, h := range cfg.Hosts {
		active, err := r.blockActive(h, matches, path)
		if err != nil {
			return err
		}
		if !active {
			continue
		}
		for _, n := range h.Nodes {
			kv, ok := n.(*sshconfig.KV)
			if !ok {
				continue
			}
			ln := kv.Pos().Line
			if ln < 1 || ln > len(lines) {
				return fmt.Errorf("sshclient: %s: parser reported line %d of %d", path, ln, len(lines))
			}
			keyword, rest := splitLine(lines[ln-1])
			source := path + ":" + strconv.Itoa(ln)
			if strings.EqualFold(keyword, includePlaceholder) {
				if err := r.include(rest, system, depth, source); err != nil {
					return err
				}
				continue
			}
			args, err := splitArgs(rest)
			if err != nil {
				return fmt.Errorf("sshclient: %s: %s: %w", source, keyword, err)
			}
			r.set.add(keyword, setting{rest: rest, args: args, source: source})
		}
	}
	return nil
}

// rewriteConfig returns the file's lines with Match and Include lines
// replaced by placeholders, and the Match criteria by line number.
func rewriteConfig(data []byte) (lines []string, matches map[int]string) {
	matches = map[int]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		keyword, rest := splitLine(line)
		switch strings.ToLower(keyword) {
		case "match":
			n := len(lines) + 1
			matches[n] = rest
			line = "Host " + matchPlaceholder + strconv.Itoa(n)
		case "include":
			line = includePlaceholder + " " + rest
		}
		lines = append(lines, line)
	}
	return lines, matches
}

// blockActive reports whether a Host or Match block applies.
func (r *fileReader) blockActive(h *sshconfig.Host, matches map[int]string, path string) (bool, error) {
	if len(h.Patterns) == 1 {
		if s := h.Patterns[0].String(); strings.HasPrefix(s, matchPlaceholder) {
			n, _ := strconv.Atoi(strings.TrimPrefix(s, matchPlaceholder))
			ok, err := r.state.match(matches[n])
			if err != nil {
				return false, fmt.Errorf("sshclient: %s:%d: Match: %w", path, n, err)
			}
			return ok, nil
		}
	}
	return h.Matches(r.state.host), nil
}

// include reads the files an Include directive names: relative names are
// taken from ~/.ssh (or /etc/ssh for the system file), and globs expand in
// lexical order.
func (r *fileReader) include(rest string, system bool, depth int, source string) error {
	if depth >= maxIncludeDepth {
		return fmt.Errorf("sshclient: %s: Include nested too deeply", source)
	}
	args, err := splitArgs(rest)
	if err != nil {
		return fmt.Errorf("sshclient: %s: Include: %w", source, err)
	}
	for _, pat := range args {
		p, err := expandTilde(pat, r.home)
		if err != nil {
			return fmt.Errorf("sshclient: %s: Include: %w", source, err)
		}
		if !filepath.IsAbs(p) {
			if system {
				p = filepath.Join("/etc/ssh", p)
			} else {
				p = filepath.Join(r.home, ".ssh", p)
			}
		}
		files, err := filepath.Glob(p)
		if err != nil {
			return fmt.Errorf("sshclient: %s: Include %s: %w", source, pat, err)
		}
		for _, f := range files {
			if err := r.readFile(f, system, true, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// match evaluates the criteria of a Match line: all, canonical, final,
// host, originalhost, user, localuser, each optionally negated with "!".
// "exec" is never run (commands from configuration files are not
// executed here), and it, localnetwork and tagged never match.
func (m *matchState) match(criteria string) (bool, error) {
	args, err := splitArgs(criteria)
	if err != nil {
		return false, err
	}
	if len(args) == 0 {
		return false, errors.New("missing criteria")
	}
	result := true
	for i := 0; i < len(args); i++ {
		attr := strings.ToLower(args[i])
		negate := strings.HasPrefix(attr, "!")
		attr = strings.TrimPrefix(attr, "!")
		var ok bool
		switch attr {
		case "all":
			ok = true
		case "canonical", "final":
			m.wantFinal = true
			ok = m.final
		default:
			if i+1 >= len(args) {
				return false, fmt.Errorf("%s needs an argument", attr)
			}
			i++
			arg := args[i]
			switch attr {
			case "host":
				ok = matchPatternList(m.hostName(), arg)
			case "originalhost":
				ok = matchPatternList(m.original, arg)
			case "user":
				ok = matchPatternList(m.user(), arg)
			case "localuser":
				ok = matchPatternList(m.localUser, arg)
			case "exec", "localnetwork", "tagged":
				if m.logf != nil {
					m.logf("sshclient: Match %s %s is not evaluated; treating it as not matching", attr, arg)
				}
				ok = false
			default:
				return false, fmt.Errorf("unsupported criterion %q", attr)
			}
		}
		if ok == negate {
			result = false
		}
	}
	return result, nil
}

// matchPatternList matches s against a comma-separated pattern list: it
// matches when some pattern matches and no negated one does.
func matchPatternList(s, list string) bool {
	var pats []*sshconfig.Pattern
	for _, p := range strings.Split(list, ",") {
		if p == "" {
			continue
		}
		pat, err := sshconfig.NewPattern(p)
		if err != nil {
			return false
		}
		pats = append(pats, pat)
	}
	h := &sshconfig.Host{Patterns: pats}
	return h.Matches(s)
}
