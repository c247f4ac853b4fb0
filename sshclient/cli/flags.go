package cli

import (
	"fmt"
	"strings"

	"github.com/ssmssh/ssmssh/sshclient"
)

const usage = `usage: ssmssh [-i identity]... [-l user] [-p port] [-F configfile]
              [-o Option=value]... [-L [bind:]port:host:hostport]...
              [-N] [-t|-T] [-v] [-q] [--profile P] [--region R]
              [--instance-connect] [user@]target [command ...]

ssh to an EC2 instance (instance id, Name tag, private DNS name or IP)
over AWS Systems Manager Session Manager.

options:
`

// settingFlag is a repeatable flag that appends ssh_config settings
// (-i, -l, -p, -L, -o) in command-line order.
type settingFlag struct {
	name     string
	settings *[]string
}

func (f settingFlag) String() string { return "" }

func (f settingFlag) Set(v string) error {
	s, err := sshclient.FlagSetting(f.name, v)
	if err != nil {
		return fmt.Errorf("-%s %s: %s", f.name, v, strings.TrimPrefix(err.Error(), "sshclient: "))
	}
	*f.settings = append(*f.settings, s)
	return nil
}

// boolFlags and valueFlags are the one-letter flags, for splitShort.
const boolFlags, valueFlags = "NtTvq", "ilpFoL"

// splitShort rewrites OpenSSH's bundled short flags into what the flag
// package parses: "-NL spec" becomes "-N -L spec", "-p22" "-p 22", "-vvv"
// "-v -v -v". It stops at the destination (the first non-flag), "--", or
// anything else it does not recognise, leaving the rest untouched.
func splitShort(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || len(a) < 2 {
			return append(out, args[i:]...)
		}
		name := a[1:]
		if strings.HasPrefix(name, "-") {
			name = name[1:]
			if n, _, _ := strings.Cut(name, "="); !isLong(n) {
				return append(out, args[i:]...)
			}
		}
		if n, _, _ := strings.Cut(name, "="); isLong(n) || strings.HasPrefix(a, "--") {
			out = append(out, a) // -profile, -region=…: the flag package's long forms
			if !strings.Contains(name, "=") && (n == "profile" || n == "region") && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		var expanded []string
		ok := true
		for j := 0; j < len(name); j++ {
			ch := name[j]
			switch {
			case strings.IndexByte(boolFlags, ch) >= 0:
				expanded = append(expanded, "-"+string(ch))
			case strings.IndexByte(valueFlags, ch) >= 0:
				expanded = append(expanded, "-"+string(ch))
				if rest := name[j+1:]; rest != "" {
					expanded = append(expanded, rest)
				} else if i+1 < len(args) {
					i++
					expanded = append(expanded, args[i])
				}
				j = len(name)
			default:
				ok = false
				j = len(name)
			}
		}
		if !ok {
			return append(out, args[i:]...) // the flag package reports it
		}
		out = append(out, expanded...)
	}
	return out
}

// isLong reports whether n is one of the multi-letter flags.
func isLong(n string) bool {
	switch n {
	case "profile", "region", "instance-connect", "help", "h":
		return true
	}
	return false
}
