package ssmtest_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// clientKey writes an authorized_keys file for a fresh Ed25519 key and
// returns the key's signer and the file.
func clientKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(path, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	return signer, path
}

// TestEndToEndSSH runs StartSession → client websocket → gateway →
// built-in agent over its own websockets → built-in SSH server, and a
// command over SSH through it all.
func TestEndToEndSSH(t *testing.T) {
	signer, keys := clientKey(t)
	s, err := ssmtest.NewServer(ssmtest.Options{Logf: t.Logf, AuthorizedKeysFile: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	cfg, err := s.AWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	client := ssmclient.NewClientFromConfig(cfg)
	sess, err := client.StartSession(t.Context(), ssmclient.StartInput{
		Target: ssmtest.InstanceAmazonLinux, DocumentName: ssmclient.DocumentSSH,
		Parameters: map[string][]string{"portNumber": {"22"}}, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	c, chans, reqs, err := ssh.NewClientConn(sess, ssmtest.InstanceAmazonLinux, &ssh.ClientConfig{
		User:            "ec2-user",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey(ssmtest.InstanceAmazonLinux)),
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := ssh.NewClient(c, chans, reqs)
	defer sc.Close()
	ss, err := sc.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := ss.Output("echo hi; echo oops >&2")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, []byte("hi\n")) {
		t.Fatalf("output %q", out)
	}
}
