package cli

import (
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/ssmssh/ssmssh/sshclient"
)

const usage = `usage: ssmssh [-i identity]... [-l user] [-p port] [-F configfile]
              [-o Option=value]... [-L [bind:]port:host:hostport]...
              [-N] [-t|-T] [-v] [-q] [--profile P] [--region R]
              [--instance-connect] [user@]target [command ...]
       ssmssh doctor [--profile P] [--region R] [--document-name D] [--json] target

ssh to an EC2 instance (instance id, Name tag, private DNS name or IP)
over AWS Systems Manager Session Manager. "ssmssh doctor" checks why
sessions to target fail.

options:
`

// SettingFlag returns a repeatable flag.Value that appends to settings
// the ssh_config setting of ssh's flag -name (-i, -l, -p, -L, -o; see
// [sshclient.FlagSetting]) in command-line order. Programs whose flag
// differs from ssh's (scp's -P is ssh's -p) pass ssh's name.
func SettingFlag(name string, settings *[]string) flag.Value {
	return settingFlag{name: name, settings: settings}
}

// settingFlag is SettingFlag's value.
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

// ShortFlags describes a command's OpenSSH-style flags for Split.
type ShortFlags struct {
	// Bool and Value are the one-letter flags without and with a value.
	Bool, Value string
	// Long are the multi-letter flags (given with one dash or two);
	// LongValue those of them that take a value.
	Long, LongValue []string
}

// sshFlags are ssmssh's flags.
var sshFlags = ShortFlags{
	Bool: "NtTvq", Value: "ilpFoL",
	Long:      []string{"profile", "region", "instance-connect", "help", "h"},
	LongValue: []string{"profile", "region"},
}

func splitShort(args []string) []string { return sshFlags.Split(args) }

// Split rewrites OpenSSH's bundled short flags into what the flag
// package parses: "-NL spec" becomes "-N -L spec", "-p22" "-p 22", "-vvv"
// "-v -v -v". It stops at the first non-flag (the destination), "--", or
// anything else it does not recognise, leaving the rest untouched.
func (sf ShortFlags) Split(args []string) []string {
	boolFlags, valueFlags := sf.Bool, sf.Value
	isLong := func(n string) bool { return slices.Contains(sf.Long, n) }
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
			if !strings.Contains(name, "=") && slices.Contains(sf.LongValue, n) && i+1 < len(args) {
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
