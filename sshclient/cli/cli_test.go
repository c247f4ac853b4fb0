package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// env is an emulator with a HOME, an authorized key and a known_hosts
// file, the AWS variables pointing at the emulator.
type env struct {
	s          *ssmtest.Server
	key        string // identity file
	knownHosts string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	home := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(home, "id_test")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
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
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "aws-credentials"))
	t.Setenv("SSH_AUTH_SOCK", "")
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return &env{s: s, key: key, knownHosts: filepath.Join(home, "known_hosts")}
}

// args are the options every test passes, then extra.
func (e *env) args(extra ...string) []string {
	return append([]string{
		"-F", "none", "-i", e.key,
		"-o", "UserKnownHostsFile=" + e.knownHosts,
		"-o", "StrictHostKeyChecking=accept-new",
		"-o", "BatchMode=yes",
	}, extra...)
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb e2etest.Buffer
	c := &SSH{Stdout: &out, Stderr: &errb}
	code = c.Main(ctx, args)
	return code, out.String(), errb.String()
}

func TestExecExitCodeAndStderr(t *testing.T) {
	e := newEnv(t)
	code, out, errs := run(t, e.args("ec2-user@"+ssmtest.InstanceAmazonLinux, "echo out; echo err >&2; exit 3")...)
	if code != 3 {
		t.Fatalf("exit %d, want 3; stderr:\n%s", code, errs)
	}
	if out != "out\n" {
		t.Errorf("stdout %q, want %q", out, "out\n")
	}
	if !strings.Contains(errs, "err\n") || strings.Contains(errs, "ssmssh:") {
		t.Errorf("stderr %q", errs)
	}
	if strings.Contains(out, "err") {
		t.Errorf("stderr leaked into stdout: %q", out)
	}
}

func TestDefaultUserFromAMI(t *testing.T) {
	e := newEnv(t)
	code, out, errs := run(t, e.args("-v", ssmtest.InstanceUbuntu, "echo hi")...)
	if code != 0 || out != "hi\n" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "default user ubuntu") {
		t.Errorf("-v output does not name the default user ubuntu:\n%s", errs)
	}
	if !strings.Contains(errs, "as ubuntu") {
		t.Errorf("did not log in as ubuntu:\n%s", errs)
	}
}

func TestHostKeyChangedRefused(t *testing.T) {
	e := newEnv(t)
	wrong := e.s.HostKey(ssmtest.InstanceDebian)
	line := knownhosts.Line([]string{ssmtest.InstanceAmazonLinux}, wrong) + "\n"
	if err := os.WriteFile(e.knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, e.args("ec2-user@"+ssmtest.InstanceAmazonLinux, "echo ran")...)
	if code != 255 {
		t.Fatalf("exit %d, want 255; stderr:\n%s", code, errs)
	}
	if out != "" {
		t.Errorf("the command ran: %q", out)
	}
	if !strings.Contains(errs, "REMOTE HOST IDENTIFICATION HAS CHANGED") || !strings.Contains(errs, "Host key verification failed.") {
		t.Errorf("no warning block:\n%s", errs)
	}
}

func TestUnknownInstance(t *testing.T) {
	e := newEnv(t)
	code, out, errs := run(t, e.args("ec2-user@i-0fffffffffffffff9", "echo ran")...)
	if code != 255 || out != "" {
		t.Fatalf("exit %d, stdout %q, want 255 and nothing", code, out)
	}
	if !strings.HasPrefix(errs, "ssmssh: ") || strings.Count(errs, "\n") != 1 {
		t.Errorf("want one ssmssh: line, got:\n%s", errs)
	}
}

func TestUsage(t *testing.T) {
	code, _, errs := run(t)
	if code != 2 || !strings.Contains(errs, "usage: ssmssh") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestLocalForwardParallel(t *testing.T) {
	e := newEnv(t)
	_, echoPort, _ := net.SplitHostPort(e2etest.EchoServer(t))

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb e2etest.Buffer
	done := make(chan int, 1)
	go func() {
		c := &SSH{Stdout: &out, Stderr: &errb}
		done <- c.Main(ctx, e.args("-vNL", "127.0.0.1:0:127.0.0.1:"+echoPort, "ec2-user@"+ssmtest.InstanceAmazonLinux))
	}()
	re := regexp.MustCompile(`forwarding (127\.0\.0\.1:\d+) to`)
	var addr string
	for addr == "" {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("ssmssh exited %d before forwarding:\n%s", code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			msg := bytes.Repeat([]byte{byte('a' + i)}, 100_000)
			go func() {
				_, _ = c.Write(msg)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("connection %d: %d bytes back, err %v", i, len(got), err)
			}
		})
	}
	wg.Wait()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after interrupt; stderr:\n%s", code, errb.String())
	}
}
