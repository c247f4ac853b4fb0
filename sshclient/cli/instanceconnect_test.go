package cli

import (
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// noKeyArgs are e.args without an identity file: there is no key at all
// to offer (HOME/.ssh is empty and the agent is off).
func (e *env) noKeyArgs(extra ...string) []string {
	return append([]string{
		"-F", "none",
		"-o", "UserKnownHostsFile=" + e.knownHosts,
		"-o", "StrictHostKeyChecking=accept-new",
		"-o", "BatchMode=yes",
	}, extra...)
}

func TestInstanceConnectFallback(t *testing.T) {
	e := newEnv(t)
	code, out, errs := run(t, e.noKeyArgs("-v", "ec2-user@"+ssmtest.InstanceAmazonLinux, "echo hi")...)
	if code != 0 || out != "hi\n" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "trying EC2 Instance Connect") || !strings.Contains(errs, "pushed an ephemeral key") {
		t.Errorf("-v output does not tell of the fallback:\n%s", errs)
	}
}

func TestInstanceConnectFlag(t *testing.T) {
	e := newEnv(t)
	code, out, errs := run(t, e.noKeyArgs("-v", "--instance-connect", "ec2-user@"+ssmtest.InstanceAmazonLinux, "echo hi")...)
	if code != 0 || out != "hi\n" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out, errs)
	}
	if strings.Contains(errs, "trying EC2 Instance Connect") || !strings.Contains(errs, "pushed an ephemeral key") {
		t.Errorf("want a push before the first attempt:\n%s", errs)
	}
}
