package proxy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/internal/iox"
)

// TestExamples runs what examples/ tells users to write, with the real
// ssh against sshd behind the emulator: the ssh_config file as ssh's only
// configuration (an instance id and a .ssm Name-tag name), and the Ansible
// inventory's ansible_ssh_common_args split by a shell, as Ansible's ssh
// connection plugin passes them. Only "ssmproxy" is replaced by the path
// of the one under test.
func TestExamples(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{Aliases: []string{"web-al2023.ssm"}})
	examples := filepath.Join("..", "examples")
	proxyWord := regexp.MustCompile(`\bssmproxy\b`)

	config, err := os.ReadFile(filepath.Join(examples, "ssh_config"))
	if err != nil {
		t.Fatal(err)
	}
	var proxyLines int
	for _, line := range strings.Split(string(config), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "ProxyCommand ssmproxy ") {
			proxyLines++
		}
	}
	if proxyLines < 3 {
		t.Fatalf("examples/ssh_config has %d ProxyCommand lines, want 3 or more", proxyLines)
	}
	cfgFile := filepath.Join(e.Dir, "ssh_config")
	ours := proxyWord.ReplaceAllString(string(config), iox.ShellQuote(e.Proxy))
	if err := os.WriteFile(cfgFile, []byte(ours), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every Host parses, and the named one keeps its profile and region.
	p := e2etest.RunProc(t, e.Command("ssh", "-G", "-F", cfgFile, "bastion-prod"))
	p.MustSucceed(t)
	if !strings.Contains(p.Stdout(), "--profile prod --region eu-west-1") || !strings.Contains(p.Stdout(), "hostkeyalias i-0fedcba9876543210") {
		t.Errorf("ssh -G bastion-prod:\n%s", p.Stdout())
	}
	for _, host := range []string{e.Instance, "web-al2023.ssm"} {
		args := append([]string{"-F", cfgFile}, e.LoginOptions()...)
		p := e2etest.RunProc(t, e.Command("ssh", append(args, host, "echo reached")...))
		p.MustSucceed(t)
		if p.Stdout() != "reached\n" {
			t.Errorf("ssh %s with examples/ssh_config printed %q", host, p.Stdout())
		}
	}

	inventory, err := os.ReadFile(filepath.Join(examples, "ansible", "inventory.ini"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ansible_ssh_common_args='([^']*)'$`).FindSubmatch(inventory)
	if m == nil {
		t.Fatal("examples/ansible/inventory.ini sets no ansible_ssh_common_args")
	}
	common := proxyWord.ReplaceAllString(string(m[1]), iox.ShellQuote(e.Proxy))
	words := []string{"exec ssh -F /dev/null", common}
	for _, o := range e.LoginOptions() {
		words = append(words, iox.ShellQuote(o))
	}
	words = append(words, "web-al2023.ssm", "'echo via ansible args'")
	cmd := exec.Command("sh", "-c", strings.Join(words, " "))
	cmd.Env = e.Environ()
	p = e2etest.RunProc(t, cmd)
	p.MustSucceed(t)
	if p.Stdout() != "via ansible args\n" {
		t.Errorf("ssh with the inventory's arguments printed %q", p.Stdout())
	}
	waitSessionsEnded(t, e.Server, 3)
}
