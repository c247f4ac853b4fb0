package sshdtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

func TestExec(t *testing.T) {
	s := Start(t, Options{})
	c := s.Dial(t)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("echo hi")
	if err != nil || string(out) != "hi\n" {
		t.Fatalf("echo hi: %q, %v", out, err)
	}
	sess, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var ee *ssh.ExitError
	if err := sess.Run("exit 3"); !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Fatalf("exit 3: %v", err)
	}
	if !strings.Contains(s.Log(), "Accepted publickey for "+s.User) {
		t.Errorf("sshd log lacks the login:\n%s", s.Log())
	}
}

func TestHostKeyVerified(t *testing.T) {
	s := Start(t, Options{})
	other := Start(t, Options{})
	cfg := s.ClientConfig()
	cfg.HostKeyCallback = ssh.FixedHostKey(other.HostKey())
	if c, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		c.Close()
		t.Fatal("connected with the wrong host key")
	}
}

func TestOpenSSHClient(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skipf("ssh not installed: %v", err)
	}
	s := Start(t, Options{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args := append(s.SSHOptions(), "127.0.0.1", "echo hi; exit 7")
	cmd := exec.CommandContext(ctx, "ssh", args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 || out.String() != "hi\n" {
		t.Fatalf("ssh: %v, stdout %q, stderr %q", err, out.String(), errOut.String())
	}

	// The alias form, as a ProxyCommand setup would check it.
	kh := s.KnownHostsLine("my-alias")
	if !strings.HasPrefix(kh, "my-alias,[127.0.0.1]:") {
		t.Errorf("KnownHostsLine = %q", kh)
	}
}

func TestSFTPSubsystem(t *testing.T) {
	s := Start(t, Options{})
	sc, err := sftp.NewClient(s.Dial(t))
	if err != nil {
		t.Fatalf("sftp: %v", err)
	}
	defer sc.Close()
	fi, err := sc.Stat(s.Dir)
	if err != nil || !fi.IsDir() {
		t.Fatalf("stat %s over sftp: %v", s.Dir, err)
	}
}

func TestAuthorizedKeysOptions(t *testing.T) {
	_, extra := KeyPair(t, t.TempDir(), "extra")
	_, line := KeyPair(t, t.TempDir(), "line")
	_, viaCmd := KeyPair(t, t.TempDir(), "cmd")
	_, stranger := KeyPair(t, t.TempDir(), "stranger")
	// /bin/echo is root-owned in root-owned directories, as sshd demands
	// of an AuthorizedKeysCommand.
	cmdKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(viaCmd.PublicKey())))
	s := Start(t, Options{
		AuthorizedKeys:        []ssh.PublicKey{extra.PublicKey()},
		AuthorizedKeysLines:   []string{`no-pty ` + string(ssh.MarshalAuthorizedKey(line.PublicKey()))},
		AuthorizedKeysCommand: "/bin/echo " + cmdKey,
	})
	login := func(signer ssh.Signer) error {
		cfg := s.ClientConfig()
		cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
		c, err := ssh.Dial("tcp", s.Addr, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	for name, k := range map[string]ssh.Signer{"AuthorizedKeys": extra, "AuthorizedKeysLines": line, "AuthorizedKeysCommand": viaCmd} {
		if err := login(k); err != nil {
			t.Errorf("%s key refused: %v", name, err)
		}
	}
	if err := login(stranger); err == nil {
		t.Error("unknown key accepted")
	}
	if t.Failed() {
		t.Logf("sshd log:\n%s", s.Log())
	}
}

// echoServer echoes one connection on a loopback port.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

func TestExtraConfig(t *testing.T) {
	echo := echoServer(t)
	// Defaults allow forwarding...
	conn, err := Start(t, Options{}).Dial(t).Dial("tcp", echo)
	if err != nil {
		t.Fatalf("forwarding with defaults: %v", err)
	}
	io.WriteString(conn, "x")
	conn.Close()
	// ...and ExtraConfig overrides them, Match blocks included.
	s := Start(t, Options{ExtraConfig: []string{
		"AllowTcpForwarding no",
		"Match User nobody-at-all",
		"  PermitTTY no",
	}})
	if _, err := s.Dial(t).Dial("tcp", echo); err == nil {
		t.Error("AllowTcpForwarding no did not apply")
	}
}

func TestCleanupKillsSessions(t *testing.T) {
	var pid int
	var client *ssh.Client
	t.Run("daemon", func(t *testing.T) {
		s := Start(t, Options{})
		var err error
		// Not closed by the subtest: only the daemon's cleanup can end
		// the session.
		client, err = ssh.Dial("tcp", s.Addr, s.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		sess, err := client.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := sess.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.Start("echo $$; exec sleep 1000"); err != nil {
			t.Fatal(err)
		}
		line := make([]byte, 32)
		n, err := stdout.Read(line)
		if err != nil {
			t.Fatal(err)
		}
		if pid, err = strconv.Atoi(strings.TrimSpace(string(line[:n]))); err != nil {
			t.Fatalf("pid %q: %v", line[:n], err)
		}
	})
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	if pid == 0 {
		t.Fatal("no session started")
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // already gone
	}
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)
	// The pidfd turns readable when the process has exited.
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10_000)
	if err != nil || n == 0 {
		t.Fatalf("session process %d outlived the daemon (poll %d, %v)", pid, n, err)
	}
}
