package sshclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ssmssh/ssmssh/internal/sshdtest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest/sshserver"
)

// testServer is an SSH server to log in to: the emulator's built-in one
// or a real sshd.
type testServer struct {
	name    string
	addr    string
	hostKey ssh.PublicKey
	user    string
	// authorizedKeys is an authorized_keys file the server reads at
	// every login (built-in server only; sshd's keys are fixed at start).
	authorizedKeys string
	sshd           *sshdtest.Sshd
}

// newSigner returns a fresh Ed25519 key.
func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startBuiltin serves the emulator's built-in SSH server on a loopback
// listener, accepting the keys later written to authorizedKeys.
func startBuiltin(t testing.TB) *testServer {
	t.Helper()
	home := t.TempDir()
	akf := filepath.Join(home, "authorized_keys")
	srv, err := sshserver.New(sshserver.Config{AuthorizedKeysFile: akf, Shell: "/bin/sh", Dir: home, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return &testServer{name: "builtin", addr: l.Addr().String(), hostKey: srv.HostKey(), user: "tester", authorizedKeys: akf}
}

// authorize adds keys to the built-in server's authorized_keys.
func (s *testServer) authorize(t testing.TB, keys ...ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(s.authorizedKeys, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, k := range keys {
		f.Write(ssh.MarshalAuthorizedKey(k))
	}
}

// startSshd starts a real OpenSSH sshd (the test is skipped without one).
func startSshd(t testing.TB, opts sshdtest.Options) *testServer {
	t.Helper()
	d := sshdtest.Start(t, opts)
	return &testServer{name: "sshd", addr: d.Addr, hostKey: d.HostKey(), user: d.User, sshd: d}
}

// servers returns the built-in server and, where installed, sshd, both
// accepting key.
func servers(t *testing.T, key ssh.PublicKey) []*testServer {
	t.Helper()
	b := startBuiltin(t)
	b.authorize(t, key)
	out := []*testServer{b}
	if _, err := os.Stat(sshdtest.SshdPath); err == nil {
		out = append(out, startSshd(t, sshdtest.Options{AuthorizedKeys: []ssh.PublicKey{key}}))
	}
	return out
}

// noPrompter fails the test if anything is asked.
func noPrompter(t testing.TB) ssmclient.Prompter {
	return ssmclient.PrompterFunc(func(msg string, hidden bool) (string, error) {
		t.Errorf("unexpected prompt %q", msg)
		return "", errors.New("no prompts in this test")
	})
}

// testConfig logs in to s as its user with the given signers only (no
// agent, no identity files), the host key already known.
func (s *testServer) testConfig(t testing.TB, signers ...ssh.Signer) *Config {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.addr)
	p, _ := strconv.Atoi(port)
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, s.hostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &Config{
		Host: host, HostName: host, Port: p, User: s.user,
		IdentityAgent:         "none",
		UserKnownHostsFiles:   []string{kh},
		StrictHostKeyChecking: StrictYes,
		ExtraSigners:          signers,
		ConnectTimeout:        20 * time.Second,
		Prompter:              noPrompter(t),
		Logf:                  t.Logf,
		Warnf:                 t.Logf,
	}
}

// dial connects over TCP and runs Dial; the client is closed at cleanup.
func (s *testServer) dial(t testing.TB, cfg *Config) (*ssh.Client, error) {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, conn, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// mustDial is dial that fails the test on error.
func (s *testServer) mustDial(t testing.TB, cfg *Config) *ssh.Client {
	t.Helper()
	c, err := s.dial(t, cfg)
	if err != nil {
		if s.sshd != nil {
			t.Logf("sshd log:\n%s", s.sshd.Log())
		}
		t.Fatalf("%s: Dial: %v", s.name, err)
	}
	return c
}

// sshdOptions authorises keys on a real sshd.
func sshdOptions(keys ...ssh.PublicKey) sshdtest.Options {
	return sshdtest.Options{AuthorizedKeys: keys}
}
