package sshclient

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// SSMProxy is what a ProxyCommand that runs ssmproxy (or the AWS CLI's
// "aws ssm start-session --document-name AWS-StartSSHSession") asks for.
// ssmssh starts that session itself instead of running the command, so
// there is no second hop.
type SSMProxy struct {
	// Profile and Region are --profile and --region ("" when absent).
	Profile, Region string
	// Suffix is --suffix; HasSuffix tells an explicit empty suffix from
	// an absent one (ssmproxy then strips ssmclient.DefaultHostSuffix).
	Suffix    string
	HasSuffix bool
	// DocumentName is --document-name ("" when absent).
	DocumentName string
	// Parameters are --parameters, name=value pairs ("" when absent).
	Parameters string
	// Target is the host the command names (%h expanded, or the AWS CLI's
	// --target); Port its port argument, if any.
	Target, Port string
}

// parseSSMProxy recognises a ProxyCommand (tokens already expanded) that
// opens an SSH session through Session Manager, in either of the forms
// people put in ~/.ssh/config:
//
//	ProxyCommand ssmproxy [--profile P] [--region R] [--suffix S] %h %p
//	ProxyCommand sh -c "aws ssm start-session --target %h --document-name AWS-StartSSHSession --parameters 'portNumber=%p'"
//
// Leading "exec" and VAR=value assignments (AWS_PROFILE, AWS_REGION) are
// understood; a path before the program name is ignored.
func parseSSMProxy(cmd string) (SSMProxy, bool) {
	args, err := splitShell(cmd)
	if err != nil {
		return SSMProxy{}, false
	}
	var p SSMProxy
	for len(args) > 0 {
		a := args[0]
		if a == "exec" {
			args = args[1:]
			continue
		}
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" || strings.ContainsAny(name, "/-") {
			break
		}
		switch name {
		case "AWS_PROFILE", "AWS_DEFAULT_PROFILE":
			p.Profile = value
		case "AWS_REGION", "AWS_DEFAULT_REGION":
			p.Region = value
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return SSMProxy{}, false
	}
	prog := strings.TrimSuffix(filepath.Base(strings.ReplaceAll(args[0], `\`, "/")), ".exe")
	switch prog {
	case "ssmproxy":
		return parseSSMProxyArgs(p, args[1:])
	case "aws":
		return parseAWSStartSession(p, args[1:])
	case "sh", "bash", "zsh", "dash":
		if len(args) == 3 && args[1] == "-c" {
			inner, ok := parseSSMProxy(args[2])
			if ok {
				if inner.Profile == "" {
					inner.Profile = p.Profile
				}
				if inner.Region == "" {
					inner.Region = p.Region
				}
			}
			return inner, ok
		}
	}
	return SSMProxy{}, false
}

// parseSSMProxyArgs parses ssmproxy's command line (Go flag syntax: one or
// two dashes, "-name value" or "-name=value", flags before arguments).
func parseSSMProxyArgs(p SSMProxy, args []string) (SSMProxy, bool) {
	if len(args) > 0 && (args[0] == "config" || args[0] == "version") {
		return SSMProxy{}, false
	}
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		args = args[1:]
		if name == "v" {
			continue
		}
		if !hasValue {
			if len(args) == 0 {
				return SSMProxy{}, false
			}
			value, args = args[0], args[1:]
		}
		switch name {
		case "profile":
			p.Profile = value
		case "region":
			p.Region = value
		case "suffix":
			p.Suffix, p.HasSuffix = value, true
		case "document-name":
			p.DocumentName = value
		case "parameters":
			p.Parameters = value
		}
	}
	if len(args) == 0 || len(args) > 2 || args[0] == "" {
		return SSMProxy{}, false
	}
	p.Target = args[0]
	if len(args) == 2 {
		p.Port = args[1]
	}
	return p, true
}

// portParameter finds portNumber in --parameters, in the shorthand
// (portNumber=22, portNumber=[22]) or JSON ({"portNumber":["22"]}) form.
var portParameter = regexp.MustCompile(`portNumber"?\s*[=:]\s*\[?\s*"?([0-9]+)`)

// parseAWSStartSession parses "aws [global options] ssm start-session
// ..." and accepts it when it starts AWS-StartSSHSession.
func parseAWSStartSession(p SSMProxy, args []string) (SSMProxy, bool) {
	var words []string
	for len(args) > 0 {
		a := args[0]
		args = args[1:]
		if !strings.HasPrefix(a, "--") {
			words = append(words, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch name {
		case "profile", "region", "target", "document-name", "parameters", "reason", "endpoint-url", "output", "cli-read-timeout", "cli-connect-timeout", "ca-bundle", "query", "color":
			if !hasValue {
				if len(args) == 0 {
					return SSMProxy{}, false
				}
				value, args = args[0], args[1:]
			}
		default:
			continue // a switch such as --no-verify-ssl or --debug
		}
		switch name {
		case "profile":
			p.Profile = value
		case "region":
			p.Region = value
		case "target":
			p.Target = value
		case "document-name":
			p.DocumentName = value
		case "parameters":
			p.Parameters = value
		}
	}
	if len(words) != 2 || words[0] != "ssm" || words[1] != "start-session" {
		return SSMProxy{}, false
	}
	if p.DocumentName != ssmclient.DocumentSSH || p.Target == "" {
		return SSMProxy{}, false
	}
	if m := portParameter.FindStringSubmatch(p.Parameters); m != nil {
		p.Port = m[1]
	}
	// The AWS CLI strips no suffix: the target is used as it is.
	p.HasSuffix = true
	return p, true
}

// splitShell splits a command line the way a POSIX shell splits simple
// words: blanks separate, single quotes are literal, double quotes group
// with backslash escaping \ " $ and `, and a backslash outside quotes
// escapes the next character. Expansions are not performed.
func splitShell(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errUnterminatedQuote
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inArg = true
		case '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errUnterminatedQuote
			}
			inArg = true
		case '\\':
			// A backslash at the very end stays literal, as sh keeps it.
			if i+1 < len(s) {
				i++
			}
			cur.WriteByte(s[i])
			inArg = true
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
