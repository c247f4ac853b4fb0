package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestDial runs the example against the emulator the way a user would:
// a key in ~/.ssh, the host key in ~/.ssh/known_hosts, the AWS variables
// pointing at the emulator. The remote command's output and exit status
// come back, and a host key that does not match stops it.
func TestDial(t *testing.T) {
	home := t.TempDir()
	sshDir := filepath.Join(home, ".ssh")
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sshDir, "id_ed25519"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	akf := filepath.Join(home, "authorized_keys")
	if err := os.WriteFile(akf, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssmtest.NewServer(ssmtest.Options{Logf: t.Logf, AuthorizedKeysFile: akf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	t.Setenv("HOME", home)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "no-aws-credentials"))
	t.Setenv("SSH_AUTH_SOCK", "")
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	config := "StrictHostKeyChecking yes\n"
	if err := os.WriteFile(filepath.Join(sshDir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(sshDir, "known_hosts")
	writeKnown := func(key ssh.PublicKey) {
		line := knownhosts.Line([]string{ssmtest.InstanceAmazonLinux}, key) + "\n"
		if err := os.WriteFile(knownHosts, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	writeKnown(s.HostKey(ssmtest.InstanceAmazonLinux))
	var stdout, stderr bytes.Buffer
	code, err := run(t.Context(), []string{"ec2-user@" + ssmtest.InstanceAmazonLinux, "echo", "hello from $(whoami)", ";", "exit", "3"}, &stdout, &stderr)
	if err != nil || code != 3 {
		t.Fatalf("run: exit %d, %v; stderr %q", code, err, stderr.String())
	}
	if got := stdout.String(); !strings.HasPrefix(got, "hello from ") {
		t.Errorf("stdout %q", got)
	}

	writeKnown(s.HostKey(ssmtest.InstanceDebian))
	stdout.Reset()
	code, err = run(t.Context(), []string{"ec2-user@" + ssmtest.InstanceAmazonLinux, "echo", "ran"}, &stdout, &stderr)
	if err == nil || code != 255 || stdout.Len() != 0 {
		t.Fatalf("with the wrong host key: exit %d, %v, stdout %q", code, err, stdout.String())
	}
	t.Logf("with the wrong host key: %v", err)
}
