package sshserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testUser is the login name the tests use; the server runs everything as
// the current OS user whatever the name.
const testUser = "tester"

// newSigner returns a fresh Ed25519 client key.
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

// testEnv is a running server with a home directory and one authorized
// client key.
type testEnv struct {
	srv    *Server
	addr   string
	home   string
	signer ssh.Signer
}

// startServer starts a server on a loopback listener whose
// authorized_keys file holds one fresh key; edit adjusts the config first.
// Cleanup closes the server and checks Serve's result.
func startServer(t testing.TB, edit func(*Config)) *testEnv {
	t.Helper()
	home := t.TempDir()
	signer := newSigner(t)
	akf := filepath.Join(home, "authorized_keys")
	if err := os.WriteFile(akf, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		AuthorizedKeysFile: akf,
		Shell:              "/bin/sh",
		Dir:                home,
		Logf:               t.Logf,
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
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
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return &testEnv{srv: srv, addr: l.Addr().String(), home: home, signer: signer}
}

// clientConfig authenticates with signer and verifies the server's key.
func (e *testEnv) clientConfig(user string, signer ssh.Signer) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(e.srv.HostKey()),
		Timeout:         10 * time.Second,
	}
}

// dial logs in as testUser with the authorized key.
func (e *testEnv) dial(t testing.TB) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", e.addr, e.clientConfig(testUser, e.signer))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run executes command in a new session and returns stdout, stderr and
// Wait's error.
func run(t testing.TB, c *ssh.Client, command string, stdin io.Reader) (string, string, error) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &out, &errOut, stdin
	err = s.Run(command)
	return out.String(), errOut.String(), err
}

// readUntil reads r until the accumulated output contains want or the
// reader fails; it returns everything read.
func readUntil(t testing.TB, r io.Reader, want string) string {
	t.Helper()
	var buf []byte
	tmp := make([]byte, 4096)
	for !strings.Contains(string(buf), want) {
		n, err := r.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			t.Fatalf("waiting for %q: %v; got %q", want, err, buf)
		}
	}
	return string(buf)
}

// echoServer accepts loopback connections and echoes each until EOF, then
// closes it. Cleanup closes everything and waits for its goroutines.
func echoServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	return l.Addr().String()
}
