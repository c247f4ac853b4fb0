package sshserver

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

func TestExec(t *testing.T) {
	e := startServer(t, nil)
	c := e.dial(t)

	out, errOut, err := run(t, c, "echo out; echo err >&2; pwd; echo $HOME $USER", nil)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if want := "out\n" + e.home + "\n" + e.home + " " + testUser + "\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}
	if errOut != "err\n" {
		t.Errorf("stderr = %q, want %q", errOut, "err\n")
	}

	_, _, err = run(t, c, "exit 3", nil)
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 || ee.Signal() != "" {
		t.Errorf("exit 3: err = %v, want exit status 3", err)
	}

	// stdin reaches the command and the client's EOF ends it.
	in := strings.Repeat("line\n", 10000)
	out, _, err = run(t, c, "cat", strings.NewReader(in))
	if err != nil || out != in {
		t.Errorf("cat: err = %v, %d bytes back, want %d", err, len(out), len(in))
	}
}

func TestExecEnv(t *testing.T) {
	e := startServer(t, nil)
	c := e.dial(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Setenv("SSMSSH_TEST", "v a l"); err != nil {
		t.Fatalf("Setenv: %v", err)
	}
	out, err := s.Output(`printf '%s|%s' "$SSMSSH_TEST" "${SSH_CONNECTION:+set}"`)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "v a l|set" {
		t.Errorf("output = %q", out)
	}
}

func TestExecServerEnvironmentNotInherited(t *testing.T) {
	t.Setenv("SSMSSH_SECRET", "do-not-leak")
	e := startServer(t, nil)
	out, _, err := run(t, e.dial(t), `echo "[$SSMSSH_SECRET]"`, nil)
	if err != nil || out != "[]\n" {
		t.Errorf("out = %q, err = %v; the server's environment leaked", out, err)
	}
}

func TestExitSignal(t *testing.T) {
	e := startServer(t, nil)
	_, _, err := run(t, e.dial(t), "kill -TERM $$", nil)
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.Signal() != "TERM" {
		t.Fatalf("err = %v, want exit-signal TERM", err)
	}
}

func TestSignalRequest(t *testing.T) {
	e := startServer(t, nil)
	s, err := e.dial(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stdout, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("echo ready; exec sleep 1000"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, stdout, "ready\n")
	if err := s.Signal(ssh.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var ee *ssh.ExitError
	if err := s.Wait(); !errors.As(err, &ee) || ee.Signal() != "USR1" {
		t.Fatalf("Wait = %v, want exit-signal USR1", err)
	}
}

func TestPTYResize(t *testing.T) {
	e := startServer(t, nil)
	s, err := e.dial(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm-ssmssh", 40, 80, ssh.TerminalModes{}); err != nil {
		t.Fatalf("RequestPty: %v", err)
	}
	stdin, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shell(); err != nil {
		t.Fatalf("Shell: %v", err)
	}
	// The markers are split in the command so the terminal's echo of
	// the input cannot match them.
	fmt.Fprint(stdin, "echo T''ERM=$TERM; tty; stty size; echo E''ND\n")
	got := readUntil(t, stdout, "END")
	if !strings.Contains(got, "TERM=xterm-ssmssh") || !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "40 80") {
		t.Fatalf("terminal setup not seen: %q", got)
	}

	if err := s.WindowChange(50, 132); err != nil {
		t.Fatal(err)
	}
	// window-change carries no reply, so the new size may land after the
	// next command starts: ask again until it shows (each round waits
	// for the previous answer, so this does not spin).
	for i := 0; ; i++ {
		// The echoed input holds "-$((i))Z", only the output "-iZ".
		fmt.Fprintf(stdin, "echo \"SIZE$(stty size)-$((%d))Z\"\n", i)
		line := readUntil(t, stdout, fmt.Sprintf("-%dZ", i))
		if strings.Contains(line, fmt.Sprintf("SIZE50 132-%dZ", i)) {
			break
		}
		if i == 100 {
			t.Fatalf("resize never seen: %q", line)
		}
	}
	fmt.Fprint(stdin, "exit 4\n")
	var ee *ssh.ExitError
	if err := s.Wait(); !errors.As(err, &ee) || ee.ExitStatus() != 4 {
		t.Fatalf("Wait = %v, want exit status 4", err)
	}
}

func TestSFTP(t *testing.T) {
	e := startServer(t, nil)
	c := e.dial(t)
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatalf("sftp: %v", err)
	}
	defer sc.Close()

	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	f, err := sc.Create("upload.bin") // relative: lands in the home dir
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(filepath.Join(e.home, "upload.bin"))
	if err != nil || sha256.Sum256(onDisk) != sha256.Sum256(data) {
		t.Fatalf("uploaded file differs (err %v, %d bytes)", err, len(onDisk))
	}

	f, err = sc.Open(filepath.Join(e.home, "upload.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var back bytes.Buffer
	if _, err := f.WriteTo(&back); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if sha256.Sum256(back.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("downloaded %d bytes differ from %d uploaded", back.Len(), len(data))
	}
	if wd, err := sc.Getwd(); err != nil || wd != e.home {
		t.Errorf("Getwd = %q, %v; want %q", wd, err, e.home)
	}
}

func TestDirectTCPIP(t *testing.T) {
	echo := echoServer(t)
	e := startServer(t, nil)
	c := e.dial(t)

	_, port, _ := net.SplitHostPort(echo)
	for _, addr := range []string{echo, net.JoinHostPort("localhost", port)} {
		conn, err := c.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		msg := "hello through " + addr
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		// Half-close: the echo server sees EOF, finishes echoing and
		// closes, which must come back as EOF.
		if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		if err != nil || string(got) != msg {
			t.Errorf("%s: echoed %q, %v; want %q", addr, got, err, msg)
		}
		conn.Close()
	}

	// 192.0.2.1 is TEST-NET-1: refused before any packet is sent.
	for _, addr := range []string{"192.0.2.1:22", "[2001:db8::1]:22"} {
		_, err := c.Dial("tcp", addr)
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
			t.Errorf("dial %s: err = %v, want a prohibited OpenChannelError", addr, err)
		}
	}
}

func TestKeepaliveAnswered(t *testing.T) {
	e := startServer(t, nil)
	c := e.dial(t)
	ok, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
	if err != nil || ok {
		t.Fatalf("keepalive: ok = %v, err = %v; want a failure reply as sshd sends", ok, err)
	}
}

func TestAuthRejections(t *testing.T) {
	e := startServer(t, func(c *Config) { c.Users = []string{testUser} })

	if _, err := ssh.Dial("tcp", e.addr, e.clientConfig(testUser, newSigner(t))); err == nil {
		t.Error("an unknown key was accepted")
	}
	if _, err := ssh.Dial("tcp", e.addr, e.clientConfig("someone-else", e.signer)); err == nil {
		t.Error("a login name outside Users was accepted")
	}
	cfg := e.clientConfig(testUser, e.signer)
	cfg.Auth = []ssh.AuthMethod{ssh.Password("secret")}
	_, err := ssh.Dial("tcp", e.addr, cfg)
	if err == nil || !strings.Contains(err.Error(), "no supported methods remain") {
		t.Errorf("password auth: err = %v, want it refused", err)
	}
	// The authorized key still works after all that.
	if out, _, err := run(t, e.dial(t), "echo ok", nil); err != nil || out != "ok\n" {
		t.Errorf("authorized key: %q, %v", out, err)
	}
}

func TestAuthorizedKeysFuncExpiry(t *testing.T) {
	pushed := newSigner(t)
	var now, expires atomic.Int64
	expires.Store(60)
	e := startServer(t, func(c *Config) {
		c.AuthorizedKeysFile = ""
		c.AuthorizedKeys = func(user string) []string {
			if user != testUser || now.Load() >= expires.Load() {
				return nil
			}
			return []string{"# pushed key", string(ssh.MarshalAuthorizedKey(pushed.PublicKey()))}
		}
	})
	c, err := ssh.Dial("tcp", e.addr, e.clientConfig(testUser, pushed))
	if err != nil {
		t.Fatalf("pushed key refused before expiry: %v", err)
	}
	c.Close()
	now.Store(61)
	if c, err := ssh.Dial("tcp", e.addr, e.clientConfig(testUser, pushed)); err == nil {
		c.Close()
		t.Fatal("pushed key still accepted after expiry")
	}
}

func TestAuthorizedKeysOptions(t *testing.T) {
	restricted, commanded := newSigner(t), newSigner(t)
	e := startServer(t, nil)
	line := func(opts string, s ssh.Signer) string {
		return opts + " " + string(ssh.MarshalAuthorizedKey(s.PublicKey()))
	}
	akf := filepath.Join(e.home, "authorized_keys")
	data := line("restrict", restricted) + line(`command="echo hi"`, commanded)
	if err := os.WriteFile(akf, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file is re-read at each attempt: the original key is gone.
	if _, err := ssh.Dial("tcp", e.addr, e.clientConfig(testUser, e.signer)); err == nil {
		t.Error("key removed from authorized_keys still accepted")
	}
	// command= cannot be enforced here, so the key grants nothing.
	if _, err := ssh.Dial("tcp", e.addr, e.clientConfig(testUser, commanded)); err == nil {
		t.Error("key with command= accepted")
	}
	c, err := ssh.Dial("tcp", e.addr, e.clientConfig(testUser, restricted))
	if err != nil {
		t.Fatalf("restricted key refused: %v", err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, nil); err == nil {
		t.Error("restrict key got a pty")
	}
	var oce *ssh.OpenChannelError
	if _, err := c.Dial("tcp", echoServer(t)); !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
		t.Errorf("restrict key forwarded a port: %v", err)
	}
}

func TestServeConnPipe(t *testing.T) {
	e := startServer(t, nil)
	a, b := socketPair(t)
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeConn(a) }()
	cc, chans, reqs, err := ssh.NewClientConn(b, "pipe", e.clientConfig(testUser, e.signer))
	if err != nil {
		t.Fatal(err)
	}
	c := ssh.NewClient(cc, chans, reqs)
	out, _, err := run(t, c, "echo piped; echo ${SSH_CONNECTION:-none}", nil)
	if err != nil || out != "piped\nnone\n" {
		t.Errorf("out = %q, err = %v", out, err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Errorf("ServeConn = %v, want nil after a clean session", err)
	}

	// A failed login is reported by ServeConn.
	a, b = socketPair(t)
	go func() { done <- e.srv.ServeConn(a) }()
	if _, _, _, err := ssh.NewClientConn(b, "pipe", e.clientConfig(testUser, newSigner(t))); err == nil {
		t.Fatal("unknown key accepted over a pipe")
	}
	b.Close()
	if err := <-done; err == nil {
		t.Error("ServeConn = nil after a failed login")
	}
}

// socketPair returns the two ends of a connected Unix socket pair, a pipe
// with no network addresses. (net.Pipe would not do: it has no buffer, and
// both SSH ends start by writing their version line.)
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { conns[0].Close(); conns[1].Close() })
	return conns[0], conns[1]
}

// startWithPID starts a sleeping command in a session after it prints its shell's pid and
// returns that pid with the session.
func startWithPID(t *testing.T, c *ssh.Client, pty bool) (int, *ssh.Session) {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if pty {
		if err := s.RequestPty("xterm", 24, 80, nil); err != nil {
			t.Fatal(err)
		}
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("echo pid=$$.; exec sleep 1000"); err != nil {
		t.Fatal(err)
	}
	line := readUntil(t, stdout, ".")
	i := strings.Index(line, "pid=")
	pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(line[i+4:]), "."))
	if err != nil {
		t.Fatalf("pid line %q: %v", line, err)
	}
	return pid, s
}

// alive reports whether pid still exists (a zombie counts as gone: the
// server reaps its children).
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestCloseKillsProcesses(t *testing.T) {
	e := startServer(t, nil)
	c := e.dial(t)
	pidPipe, _ := startWithPID(t, c, false)
	pidPTY, _ := startWithPID(t, c, true)
	if !alive(pidPipe) || !alive(pidPTY) {
		t.Fatal("children not running")
	}
	closed := make(chan error, 1)
	go func() { closed <- e.srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	// Close waited for the children, so they are reaped by now.
	if alive(pidPipe) || alive(pidPTY) {
		t.Fatalf("children survived Close: %d %v, %d %v", pidPipe, alive(pidPipe), pidPTY, alive(pidPTY))
	}
	if _, err := ssh.Dial("tcp", e.addr, e.clientConfig(testUser, e.signer)); err == nil {
		t.Error("dial succeeded after Close")
	}
}

func TestClientGoneHangsUp(t *testing.T) {
	e := startServer(t, nil)
	c := e.dial(t)
	pid, _ := startWithPID(t, c, false)
	c.Close()
	if !waitExit(t, pid, 10*time.Second) {
		t.Fatalf("process %d still running after its client left", pid)
	}
}

// waitExit waits up to timeout for pid to terminate, through a pidfd,
// which becomes readable when the process exits.
func waitExit(t *testing.T, pid int, timeout time.Duration) bool {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(timeout.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("poll pidfd: %v", err)
		}
		return n > 0
	}
}

func TestNewDefaults(t *testing.T) {
	t.Setenv("SHELL", "sh") // resolved through PATH
	s, err := New(Config{Dir: "."})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !filepath.IsAbs(s.cfg.Shell) || !filepath.IsAbs(s.cfg.Dir) {
		t.Errorf("shell %q, dir %q: want absolute paths", s.cfg.Shell, s.cfg.Dir)
	}
	if s.HostKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("generated host key type %s", s.HostKey().Type())
	}
	if _, err := New(Config{Shell: "/nonexistent/shell"}); err == nil {
		t.Error("New accepted a missing shell")
	}
	s.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Error("Serve after Close left the listener open")
	}
}

func TestCloseAbortsHandshake(t *testing.T) {
	e := startServer(t, nil)
	silent, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// Wait for the server's version line: the connection is being served.
	readUntil(t, silent, "SSH-2.0-")
	closed := make(chan error, 1)
	go func() { closed <- e.srv.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a client that never spoke")
	}
	if _, err := io.ReadAll(silent); err != nil {
		t.Errorf("connection not closed cleanly: %v", err)
	}
}
