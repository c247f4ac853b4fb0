package sshclient

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{`a b`, `"a b" 'c' d\ e`, `x #c`, `"unterminated`, `\`, `"\"" '\''`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := splitArgs(s)
		if err != nil {
			return
		}
		// Quoting each word and splitting again gives the same words.
		var q []string
		for _, a := range args {
			if a == "" || strings.HasPrefix(a, "#") {
				return // not representable unquoted; quoteArg is for paths
			}
			q = append(q, quoteArg(a))
		}
		again, err := splitArgs(strings.Join(q, " "))
		if err != nil || strings.Join(again, "\x00") != strings.Join(args, "\x00") {
			t.Fatalf("%q -> %q -> %q (%v)", s, args, again, err)
		}
	})
}

func FuzzParseForward(f *testing.F) {
	for _, s := range []string{"8080:localhost:80", "[::1]:0:[fe80::1]:22", ":1:h:2", "a/1/b/2", "[x", "1:2:3:4:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fw, err := ParseForward(s)
		if err != nil {
			return
		}
		again, err := ParseForward(fw.String())
		if err != nil || again != fw {
			t.Fatalf("%q -> %+v -> %q -> %+v (%v)", s, fw, fw.String(), again, err)
		}
	})
}

func FuzzParseSSMProxy(f *testing.F) {
	for _, s := range []string{
		"ssmproxy --profile p %h %p",
		`sh -c "aws ssm start-session --target i-1 --document-name AWS-StartSSHSession --parameters 'portNumber=22'"`,
		"exec A=b ssmproxy -- h",
		`sh -c "sh -c 'ssmproxy h'"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := parseSSMProxy(s)
		if ok && p.Target == "" {
			t.Fatalf("%q accepted without a target: %+v", s, p)
		}
	})
}

func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("Host web\n  HostName %h.x\n  User u\nMatch host a,!b user c\n  Port 2\nInclude none\n"))
	f.Add([]byte("Match\nHost\n=\n\"\n  IdentityFile \"a b\" c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.Contains(bytes.ToLower(data), []byte("include")) {
			return // Include would read files outside the test
		}
		home := t.TempDir()
		set := newSettings()
		state := &matchState{host: "web", original: "web", localUser: "me",
			user: func() string { return "me" }, hostName: func() string { return "web" }}
		r := &fileReader{home: home, set: set, state: state}
		if err := r.parse("fuzz", data, false, 0); err != nil {
			return
		}
		c := &Config{Host: "web", HostName: "web", set: set, tok: &tokens{home: home, localUser: "me", original: "web", host: "web"}}
		c.raw.getenv = func(string) (string, bool) { return "", false }
		_ = c.interpret(set)
	})
}
