package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// forwarding is an ssmsession run that forwards until cancelled.
type forwarding struct {
	t      *testing.T
	errb   e2etest.Buffer
	done   chan int
	cancel context.CancelFunc
}

func startForwarding(t *testing.T, args ...string) *forwarding {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	f := &forwarding{t: t, done: make(chan int, 1), cancel: cancel}
	go func() {
		c := &CLI{Stdout: io.Discard, Stderr: &f.errb}
		f.done <- c.Main(ctx, args)
	}()
	t.Cleanup(func() {
		cancel()
		<-f.done
	})
	return f
}

var portLine = regexp.MustCompile(`Port (\d+) opened for (sessionId \S+\.|SOCKS5 connections\.)`)

// ports waits for n "Port N opened" lines and returns their ports.
func (f *forwarding) ports(n int) []string {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := portLine.FindAllStringSubmatch(f.errb.String(), -1); len(m) >= n &&
			strings.Count(f.errb.String(), "Waiting for connections...") >= n {
			var ports []string
			for _, sm := range m {
				ports = append(ports, sm[1])
			}
			return ports
		}
		select {
		case code := <-f.done:
			f.done <- code
			f.t.Fatalf("ssmsession exited %d; stderr:\n%s", code, f.errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	f.t.Fatalf("no %d ports opened; stderr:\n%s", n, f.errb.String())
	return nil
}

// stop interrupts ssmsession and returns its exit status.
func (f *forwarding) stop() int {
	f.t.Helper()
	f.cancel()
	select {
	case code := <-f.done:
		f.done <- code
		return code
	case <-time.After(30 * time.Second):
		f.t.Fatalf("ssmsession did not exit; stderr:\n%s", f.errb.String())
	}
	return 0
}

// echoOnce sends msg to addr and expects it back.
func echoOnce(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, []byte(msg)) {
		t.Fatalf("echo through %s: %q, %v; want %q", addr, got, err, msg)
	}
}

// socksEcho opens a SOCKS5 CONNECT to host:port through proxy and echoes
// msg.
func socksEcho(t *testing.T, proxy, host string, port int, msg string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxy, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	req := append([]byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}, host...)
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 2+10)
	if _, err := io.ReadFull(c, reply); err != nil || reply[0] != 5 || reply[1] != 0 || reply[3] != 0 {
		t.Fatalf("SOCKS5 answer % x, %v", reply, err)
	}
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo through SOCKS5 to %s:%d: %q, %v", host, port, got, err)
	}
}

// TestForwardFlags: -L to the instance's port, -L to a remote host on
// 127.0.0.2, and -D in one process; the plugin's lines on stderr; an
// interrupt exits 0 and leaves no session open.
func TestForwardFlags(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo := e2etest.EchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Fleet().SetRemoteHost(ssmtest.InstanceUbuntu, "db.internal:5432", echo); err != nil {
		t.Fatal(err)
	}
	f := startForwarding(t, "-L", "0:8080", "-L", "127.0.0.2:0:db.internal:5432", "-D", "0", ssmtest.InstanceUbuntu)
	ports := f.ports(3)
	echoOnce(t, "127.0.0.1:"+ports[0], "to the instance's port")
	echoOnce(t, "127.0.0.2:"+ports[1], "to a remote host")
	socksEcho(t, "127.0.0.1:"+ports[2], "db.internal", 5432, "through SOCKS5")
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+ports[1], time.Second); err == nil {
		c.Close()
		t.Errorf("the 127.0.0.2 forwarding also listens on 127.0.0.1")
	}
	if code := f.stop(); code != 0 {
		t.Errorf("exit %d after an interrupt, want 0; stderr:\n%s", code, f.errb.String())
	}
	stderr := f.errb.String()
	for _, want := range []string{"Starting session with SessionId: ", "Connection accepted for session [", "Exiting session with sessionId: "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range e.s.Sessions().All() {
		for s.State() != ssmtest.SessionTerminated && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if s.State() != ssmtest.SessionTerminated {
			t.Errorf("session %s (%s) is %s after the exit", s.ID, s.DocumentName, s.State())
		}
	}
	if n := len(e.s.Sessions().All()); n != 3 {
		t.Errorf("%d sessions, want 3 (one per forwarding; SOCKS5 one per destination)", n)
	}
}

// TestForwardQuiet: -q prints none of the plugin's lines.
func TestForwardQuiet(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo := e2etest.EchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	f := startForwarding(t, "-q", "-L", fmt.Sprintf("%d:8080", port), ssmtest.InstanceUbuntu)
	deadline := time.Now().Add(30 * time.Second)
	for len(e.s.Sessions().All()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var c net.Conn
	for c == nil && time.Now().Before(deadline) {
		if c, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if c == nil {
		t.Fatalf("nothing listens on %d; stderr:\n%s", port, f.errb.String())
	}
	c.Close()
	echoOnce(t, fmt.Sprintf("127.0.0.1:%d", port), "quietly")
	if code := f.stop(); code != 0 || f.errb.String() != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, f.errb.String())
	}
}

// TestForwardErrors: a bad spec is a usage error naming it; a port in
// use, a command beside -L and a refused start fail with one line.
func TestForwardErrors(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-L", "8080", ssmtest.InstanceUbuntu}, exitUsage, `invalid value "8080" for flag -L: bad -L "8080"`},
		{[]string{"-D", "1:2:3", ssmtest.InstanceUbuntu}, exitUsage, `bad -D "1:2:3"`},
		{[]string{"-L", busy.Addr().String() + ":22", ssmtest.InstanceUbuntu}, ExitFailure, "address already in use"},
		{[]string{"-L", "0:22", ssmtest.InstanceUbuntu, "--", "uptime"}, ExitFailure, "run the command in another ssmsession"},
		{[]string{"-N", ssmtest.InstanceUbuntu}, ExitFailure, "-N without -L or -D"},
		{[]string{"-L", "0:22", ssmtest.InstanceRHEL}, ExitFailure, "ssmsession: "},
	} {
		r := run(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("ssmsession %q: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
	for _, s := range e.s.Sessions().All() {
		if s.DocumentName == ssmclient.DocumentPortForwarding && s.State() != ssmtest.SessionTerminated && s.State() != ssmtest.SessionFailed {
			t.Errorf("session %s left %s", s.ID, s.State())
		}
	}
}
