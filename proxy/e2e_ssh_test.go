package proxy_test

import (
	"os/exec"
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// sshCmd returns the real ssh to target through ssmproxy (with the extra
// ssmproxy options proxyArgs), running remote.
func sshCmd(e *e2etest.Env, proxyArgs []string, target string, remote ...string) *exec.Cmd {
	args := append(e.SSHOptions(proxyArgs...), target)
	return e.Command("ssh", append(args, remote...)...)
}

// TestOpenSSHCommand runs remote commands with the real ssh through
// ssmproxy: their output comes back, stderr stays apart, and the remote
// exit status is ssh's.
func TestOpenSSHCommand(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{})
	p := e2etest.RunProc(t, sshCmd(e, nil, e.Instance, "echo hello from $(whoami); echo to-stderr >&2; exit 7"))
	if code := p.Cmd.ProcessState.ExitCode(); code != 7 {
		t.Fatalf("ssh exited %d, want the remote status 7\nstderr: %s", code, p.Stderr())
	}
	if want := "hello from " + e.Sshd.User + "\n"; p.Stdout() != want {
		t.Errorf("stdout %q, want %q", p.Stdout(), want)
	}
	if p.Stderr() != "to-stderr\n" {
		t.Errorf("stderr %q, want only the remote stderr", p.Stderr())
	}
	ok := e2etest.RunProc(t, sshCmd(e, nil, e.Instance, "true"))
	ok.MustSucceed(t)
	waitSessionsEnded(t, e.Server, 2)
}
