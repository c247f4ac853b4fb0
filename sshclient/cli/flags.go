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
