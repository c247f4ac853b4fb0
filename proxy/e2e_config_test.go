package proxy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/proxy"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestConfigCommand: "ssmproxy config" prints the ssh_config block with
// the binary's absolute path, and that block, used as ssh's only
// configuration, routes instance ids and Name tag, private IP and private
// DNS names with the .ssm suffix through ssmproxy.
func TestConfigCommand(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{Aliases: []string{
		"web-al2023.ssm",      // Name tag of InstanceAmazonLinux
		"10.0.1.11.ssm",       // its private IP
		"ip-10-0-1-11.ssm",    // its private DNS name, host part
		"web-al2023.corp.ssm", // a name only the custom suffix strips
	}})
	// Run as ssh would find it: through a relative path in another
	// directory; the block must still name it absolutely.
	cmd := exec.Command("./"+filepath.Base(e.Proxy), "config")
	cmd.Dir = filepath.Dir(e.Proxy)
	cmd.Env = e.Environ()
	p := e2etest.RunProc(t, cmd)
	p.MustSucceed(t)
	block := p.Stdout()
	if want := proxy.ConfigBlock(e.Proxy, ".ssm", ""); block != want {
		t.Fatalf("ssmproxy config printed:\n%s\nwant:\n%s", block, want)
	}
	for _, want := range []string{"Host i-* mi-*\n", "    ProxyCommand " + e.Proxy + " %h %p\n", "Host *.ssm\n"} {
		if !strings.Contains(block, want) {
			t.Errorf("the block lacks %q", want)
		}
	}
	if p.Stderr() != "" {
		t.Errorf("stderr: %q", p.Stderr())
	}

	cfgFile := filepath.Join(e.Dir, "ssh_config")
	if err := os.WriteFile(cfgFile, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{e.Instance, "web-al2023.ssm", "10.0.1.11.ssm", "ip-10-0-1-11.ssm"} {
		args := append([]string{"-F", cfgFile}, e.LoginOptions()...)
		p := e2etest.RunProc(t, e.Command("ssh", append(args, host, "echo reached $SSH_CONNECTION")...))
		p.MustSucceed(t)
		if !strings.HasPrefix(p.Stdout(), "reached ") {
			t.Errorf("ssh %s printed %q", host, p.Stdout())
		}
	}

	// Another suffix and a pinned profile (any name: the emulator's
	// credentials come from the environment, the profile is only quoted).
	p = e2etest.RunProc(t, e.Command(e.Proxy, "config", "--suffix", ".corp.ssm"))
	p.MustSucceed(t)
	if err := os.WriteFile(cfgFile, []byte(p.Stdout()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-F", cfgFile}, e.LoginOptions()...)
	e2etest.RunProc(t, e.Command("ssh", append(args, "web-al2023.corp.ssm", "true")...)).MustSucceed(t)

	p = e2etest.RunProc(t, e.Command(e.Proxy, "config", "--profile", "dev account"))
	p.MustSucceed(t)
	if want := "    ProxyCommand " + e.Proxy + " --profile 'dev account' %h %p\n"; !strings.Contains(p.Stdout(), want) {
		t.Errorf("config --profile printed:\n%s\nwant a line %q", p.Stdout(), want)
	}
	waitSessionsEnded(t, e.Server, 5)
	for _, sess := range e.Server.Sessions().All() {
		if sess.Target != e.Instance || sess.DocumentName != "AWS-StartSSHSession" {
			t.Errorf("session %s: %s on %s, want AWS-StartSSHSession on %s", sess.ID, sess.DocumentName, sess.Target, e.Instance)
		}
	}
}

// TestPortNumber: ssh's port (%p) becomes the document's portNumber, and
// --parameters portNumber=… overrides it.
func TestPortNumber(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{Port: "2222"})
	e.AddKnownHost(t, "["+e.Instance+"]:2222")
	p := e2etest.RunProc(t, sshCmd(e, nil, e.Instance, "-p", "2222", "echo on 2222"))
	p.MustSucceed(t)
	if p.Stdout() != "on 2222\n" {
		t.Errorf("stdout %q", p.Stdout())
	}
	// Port 22 leads nowhere on this instance; the parameter wins over %p.
	if err := e.Server.Fleet().SetPort(e.Instance, "22", ""); err != nil {
		t.Fatal(err)
	}
	e2etest.RunProc(t, sshCmd(e, []string{"--parameters", "portNumber=2222"}, e.Instance, "true")).MustSucceed(t)
	for _, sess := range waitSessionsEnded(t, e.Server, 2) {
		if got := sess.AgentParameters()["portNumber"]; got != "2222" {
			t.Errorf("session %s: portNumber %v, want 2222", sess.ID, got)
		}
	}
}

// TestFaultsThatSpareSSH: faults of encrypted and shell sessions do not
// touch ssmproxy. The agent never encrypts Port sessions
// (AWS-StartSSHSession), whatever KMS key the Session Manager
// preferences name, so denied or missing KMS keys cannot fail them; nor
// do Port sessions run as a Run As user.
func TestFaultsThatSpareSSH(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{Emulator: ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias}})
	e.Server.Faults().Set(func(f *ssmtest.FaultSet) {
		f.KMSDenyGenerateDataKey = true
		f.KMSDenyDecrypt = true
		f.KMSInvalidKey = true
		f.RunAsUserMissing = true
	})
	p := e2etest.RunProc(t, sshCmd(e, []string{"-v"}, e.Instance, "echo unencrypted"))
	p.MustSucceed(t)
	if p.Stdout() != "unencrypted\n" {
		t.Errorf("stdout %q", p.Stdout())
	}
	if strings.Contains(p.Stderr(), "KMS") {
		t.Errorf("ssmproxy -v mentions KMS for a Port session:\n%s", p.Stderr())
	}
	waitSessionsEnded(t, e.Server, 1)
}
