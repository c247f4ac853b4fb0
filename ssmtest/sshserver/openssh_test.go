package sshserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The tests in this file drive the server with the real OpenSSH client
// programs, skipping when one is not installed.

// openssh is an OpenSSH client setup confined to a temporary directory:
// no ~/.ssh, no agent, no system configuration.
type openssh struct {
	dir        string
	key        string // private key file, authorized on the server
	knownHosts string
	host, port string
}

// writeKeyFile writes an OpenSSH private key file for a fresh Ed25519 key
// and returns its path and signer.
func writeKeyFile(t *testing.T, dir, name string) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return path, signer
}

// newOpenSSH starts a server that trusts a key written for the OpenSSH
// client, and a known_hosts file holding the server's host key.
func newOpenSSH(t *testing.T, tool string) (*testEnv, *openssh) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed: %v", tool, err)
	}
	dir := t.TempDir()
	key, signer := writeKeyFile(t, dir, "id_ed25519")
	e := startServer(t, func(c *Config) {
		c.AuthorizedKeysFile = ""
		c.AuthorizedKeys = func(string) []string {
			return []string{string(ssh.MarshalAuthorizedKey(signer.PublicKey()))}
		}
	})
	host, port, _ := net.SplitHostPort(e.addr)
	kh := filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(e.addr)}, e.srv.HostKey())
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e, &openssh{dir: dir, key: key, knownHosts: kh, host: host, port: port}
}

// options are the command-line settings every OpenSSH tool gets.
func (o *openssh) options() []string {
	opts := []string{"-F", "/dev/null"}
	for _, kv := range []string{
		"UserKnownHostsFile=" + o.knownHosts,
		"GlobalKnownHostsFile=/dev/null",
		"StrictHostKeyChecking=yes",
		"UpdateHostKeys=no",
		"IdentitiesOnly=yes",
		"IdentityAgent=none",
		"IdentityFile=" + o.key,
		"BatchMode=yes",
		"ControlPath=none",
		"ConnectTimeout=10",
		"LogLevel=ERROR",
		"Port=" + o.port,
		"User=" + testUser,
	} {
		opts = append(opts, "-o", kv)
	}
	return opts
}

// command builds tool with the common options, then args.
func (o *openssh) command(t *testing.T, tool string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, tool, append(o.options(), args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + o.dir, "TERM=vt100"}
	cmd.Dir = o.dir
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// output runs cmd and returns stdout, stderr and the exit code.
func output(t *testing.T, cmd *exec.Cmd) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	default:
		t.Fatalf("%s: %v (stderr %q)", cmd.Path, err, errOut.String())
		return "", "", -1
	}
}

func TestOpenSSHExec(t *testing.T) {
	_, o := newOpenSSH(t, "ssh")
	out, errOut, code := output(t, o.command(t, "ssh", o.host, "echo out; echo err >&2; exit 5"))
	if out != "out\n" || !strings.Contains(errOut, "err") || strings.Contains(out, "err") || code != 5 {
		t.Errorf("stdout %q, stderr %q, exit %d; want out, err apart and 5", out, errOut, code)
	}
}

func TestOpenSSHWrongKey(t *testing.T) {
	_, o := newOpenSSH(t, "ssh")
	o.key, _ = writeKeyFile(t, o.dir, "other_key")
	_, errOut, code := output(t, o.command(t, "ssh", o.host, "true"))
	if code != 255 || !strings.Contains(errOut, "Permission denied") {
		t.Errorf("exit %d, stderr %q; want 255 and permission denied", code, errOut)
	}
}

func TestOpenSSHHostKeyVerified(t *testing.T) {
	_, o := newOpenSSH(t, "ssh")
	other, err := New(Config{Shell: "/bin/sh", Dir: o.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	bad := knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(o.host, o.port))}, other.HostKey())
	if err := os.WriteFile(o.knownHosts, []byte(bad+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := output(t, o.command(t, "ssh", o.host, "true")); code != 255 {
		t.Errorf("connected despite a wrong known host key: exit %d, %q", code, errOut)
	}
}

func TestOpenSSHPTY(t *testing.T) {
	_, o := newOpenSSH(t, "ssh")
	out, errOut, code := output(t, o.command(t, "ssh", "-tt", o.host, "tty; echo term=$TERM; test -t 0"))
	if code != 0 || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "term=vt100") {
		t.Errorf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
}

func TestOpenSSHForward(t *testing.T) {
	echo := echoServer(t)
	_, o := newOpenSSH(t, "ssh")
	cmd := o.command(t, "ssh", "-W", echo, o.host)
	cmd.Stdin = strings.NewReader("ping through -W\n")
	out, errOut, code := output(t, cmd)
	if code != 0 || out != "ping through -W\n" {
		t.Errorf("stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	cmd = o.command(t, "ssh", "-W", "192.0.2.1:22", o.host)
	if _, errOut, code := output(t, cmd); code == 0 {
		t.Errorf("forwarded to a non-loopback address: %q", errOut)
	}
}

// randomFile writes n random bytes to dir/name and returns their hash.
func randomFile(t *testing.T, path string, n int) [32]byte {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func TestOpenSSHSFTP(t *testing.T) {
	e, o := newOpenSSH(t, "sftp")
	local := filepath.Join(o.dir, "up.bin")
	want := randomFile(t, local, 4<<20+7)
	back := filepath.Join(o.dir, "down.bin")
	batch := filepath.Join(o.dir, "batch")
	script := fmt.Sprintf("put %s remote.bin\nget remote.bin %s\n", local, back)
	if err := os.WriteFile(batch, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := output(t, o.command(t, "sftp", "-b", batch, o.host))
	if code != 0 {
		t.Fatalf("sftp exit %d: %s", code, errOut)
	}
	if fileHash(t, filepath.Join(e.home, "remote.bin")) != want || fileHash(t, back) != want {
		t.Error("file changed on the way through sftp")
	}
}

func TestOpenSSHSCP(t *testing.T) {
	for _, mode := range []struct{ name, flag string }{
		{"legacy", "-O"}, // scp -t / scp -f run through exec
		{"sftp", "-s"},   // scp over the sftp subsystem
	} {
		t.Run(mode.name, func(t *testing.T) {
			e, o := newOpenSSH(t, "scp")
			local := filepath.Join(o.dir, "up.bin")
			want := randomFile(t, local, 3<<20+5)
			remote := testUser + "@" + o.host + ":copied.bin"
			if _, errOut, code := output(t, o.command(t, "scp", mode.flag, local, remote)); code != 0 {
				t.Fatalf("upload: exit %d: %s", code, errOut)
			}
			if fileHash(t, filepath.Join(e.home, "copied.bin")) != want {
				t.Fatal("uploaded file differs")
			}
			back := filepath.Join(o.dir, "down.bin")
			if _, errOut, code := output(t, o.command(t, "scp", mode.flag, remote, back)); code != 0 {
				t.Fatalf("download: exit %d: %s", code, errOut)
			}
			if fileHash(t, back) != want {
				t.Fatal("downloaded file differs")
			}
		})
	}
}
