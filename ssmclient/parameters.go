package ssmclient

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
)

// ParseParameters parses session document parameters as "aws ssm
// start-session --parameters" takes them:
//
//   - JSON: {"command":["uname -a"],"separateOutputStream":["true"]} (a
//     plain string value is taken as a list of one);
//   - the shorthand: command=uname -a,separateOutputStream=true, where a
//     comma not followed by name= continues the value's list
//     (portNumber=80,81) and [a,b] is an explicit list; a value may be in
//     single or double quotes (a backslash escapes the quote or itself),
//     and \, is a literal comma;
//   - file://path: either form read from a file.
//
// A name given twice in the shorthand is an error, as the AWS CLI v2
// makes it (its shorthand parser: `Second instance of key "a" encountered`,
// for a=1,a=2 and a=1,b=2,a=3 alike); a list is name=[a,b] or name=a,b.
// In JSON a repeated name is not an error and the last one wins, as with
// the AWS CLI (Python's json module) — {"a":["1"],"a":["2"]} is a=2. An
// empty s gives an empty map. ssmsession and ssmproxy take --parameters
// through this parser alone.
func ParseParameters(s string) (map[string][]string, error) {
	if path, ok := strings.CutPrefix(s, "file://"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("ssmclient: parameters: %w", err)
		}
		s = string(b)
	}
	t := strings.TrimSpace(s)
	out := map[string][]string{}
	switch {
	case t == "":
		return out, nil
	case strings.HasPrefix(t, "{"):
		return parseJSONParameters(t)
	}
	p := &shorthand{s: t}
	for {
		p.space()
		key := p.key()
		if key == "" {
			return nil, p.errorf("a parameter name ([A-Za-z0-9_.#/:-])")
		}
		p.space()
		if !p.take('=') {
			return nil, p.errorf(fmt.Sprintf("'=' after %q", key))
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("ssmclient: parameters: %q is given twice (give a list: %s=[a,b])", key, key)
		}
		vals, err := p.values()
		if err != nil {
			return nil, err
		}
		out[key] = vals
		p.space()
		if p.eof() {
			return out, nil
		}
		if !p.take(',') {
			return nil, p.errorf("','")
		}
	}
}

func parseJSONParameters(s string) (map[string][]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("ssmclient: parameters: not a JSON object of lists of strings: %w", err)
	}
	out := make(map[string][]string, len(raw))
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		var list []string
		if err := json.Unmarshal(raw[k], &list); err != nil {
			var one string
			if json.Unmarshal(raw[k], &one) != nil {
				return nil, fmt.Errorf("ssmclient: parameters: %q must be a list of strings, as [\"value\"]", k)
			}
			list = []string{one}
		}
		if list == nil {
			list = []string{}
		}
		out[k] = list
	}
	return out, nil
}

// shorthand is the AWS CLI's shorthand syntax for a map of string lists.
type shorthand struct {
	s string
	i int
}

func (p *shorthand) eof() bool { return p.i >= len(p.s) }

func (p *shorthand) errorf(want string) error {
	got := "the end"
	if !p.eof() {
		got = fmt.Sprintf("%q", p.s[p.i:min(len(p.s), p.i+10)])
	}
	return fmt.Errorf("ssmclient: parameters: expected %s at offset %d, found %s (the form is name=value,name=[a,b] or JSON {\"name\":[\"value\"]})", want, p.i, got)
}

func (p *shorthand) take(c byte) bool {
	if !p.eof() && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *shorthand) space() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *shorthand) key() string {
	start := p.i
	for !p.eof() && strings.IndexByte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.#/:-", p.s[p.i]) >= 0 {
		p.i++
	}
	return p.s[start:p.i]
}

// atKey reports whether a "name=" starts at the current position.
func (p *shorthand) atKey() bool {
	q := &shorthand{s: p.s, i: p.i}
	q.space()
	if q.key() == "" {
		return false
	}
	q.space()
	return q.take('=')
}

// values parses what follows "name=": an explicit list, or one value and
// the comma-separated values after it that do not start a new name=.
func (p *shorthand) values() ([]string, error) {
	p.space()
	if p.take('[') {
		vals := []string{}
		for {
			p.space()
			if p.take(']') {
				return vals, nil
			}
			v, err := p.value(true)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			p.space()
			if p.take(']') {
				return vals, nil
			}
			if !p.take(',') {
				return nil, p.errorf("',' or ']' in a list")
			}
		}
	}
	var vals []string
	for {
		v, err := p.value(false)
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		save := p.i
		p.space()
		if !p.take(',') {
			p.i = save
			return vals, nil
		}
		if p.eof() || p.atKey() {
			p.i = save
			return vals, nil
		}
	}
}

// value parses one value: quoted, or bare up to an unescaped comma (and
// ']' in a list), trailing blanks trimmed.
func (p *shorthand) value(inList bool) (string, error) {
	p.space()
	if !p.eof() && (p.s[p.i] == '\'' || p.s[p.i] == '"') {
		q := p.s[p.i]
		p.i++
		var b strings.Builder
		for {
			if p.eof() {
				return "", p.errorf(fmt.Sprintf("a closing %c", q))
			}
			c := p.s[p.i]
			switch {
			case c == '\\' && p.i+1 < len(p.s) && (p.s[p.i+1] == q || p.s[p.i+1] == '\\'):
				b.WriteByte(p.s[p.i+1])
				p.i += 2
			case c == q:
				p.i++
				return b.String(), nil
			default:
				b.WriteByte(c)
				p.i++
			}
		}
	}
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		if c == '\\' && p.i+1 < len(p.s) && p.s[p.i+1] == ',' {
			b.WriteByte(',')
			p.i += 2
			continue
		}
		if c == ',' || (inList && c == ']') {
			break
		}
		b.WriteByte(c)
		p.i++
	}
	return strings.TrimRight(b.String(), " \t\r\n"), nil
}
