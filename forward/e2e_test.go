package forward_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestLocalForward64MiB: -L 0:8080 prints the plugin's lines with the
// port it picked, and one connection moves 64 MiB each way at once
// (unpaced emulator) with equal SHA-256.
func TestLocalForward64MiB(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo, _ := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceUbuntu, "0:8080")
	id := f.Tunnel().SessionID()
	if f.Port() == 0 || id == "" {
		t.Fatalf("port %d, session %q", f.Port(), id)
	}
	want := fmt.Sprintf("Starting session with SessionId: %s\nPort %d opened for sessionId %s.\nWaiting for connections...\n", id, f.Port(), id)
	if got := e.out.String(); got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	c := dial(t, f)
	// The race detector slows a bulk transfer several times over.
	if err := c.SetDeadline(time.Now().Add(5 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e2etest.EchoCheck(c, 64<<20, 1); err != nil {
		t.Fatal(err)
	}
	e.out.waitFor(t, fmt.Sprintf("Connection accepted for session [%s]\n", id))
	ss := e.sessions(ssmclient.DocumentPortForwarding)
	if len(ss) != 1 || ss[0].Parameters["portNumber"] != "8080" || ss[0].Parameters["localPortNumber"] != fmt.Sprint(f.Port()) {
		t.Errorf("sessions %+v, want one with portNumber 8080 and localPortNumber %d", ss, f.Port())
	}
}

// TestLocalForwardParallel: 50 connections at once share one session, and
// each reaches the instance's port through a connection of its own.
func TestLocalForwardParallel(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo, accepted := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceUbuntu, "0:8080")
	parallelEcho(t, f, 50, 64<<10)
	if n := accepted.Load(); n != 50 {
		t.Errorf("the instance's port saw %d connections, want 50", n)
	}
	if n := len(e.sessions(ssmclient.DocumentPortForwarding)); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
	if n := strings.Count(e.out.String(), "Connection accepted"); n != 1 {
		t.Errorf("%d 'Connection accepted' lines, want 1 (once per session, as the plugin)", n)
	}
}

// TestRemoteHost: -L lport:host:port goes through the remote-host document
// to a host the instance reaches.
func TestRemoteHost(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo, accepted := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetRemoteHost(ssmtest.InstanceAmazonLinux, "db.internal:5432", echo); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceAmazonLinux, "0:db.internal:5432")
	parallelEcho(t, f, 3, 100<<10)
	if n := accepted.Load(); n != 3 {
		t.Errorf("the remote host saw %d connections, want 3", n)
	}
	ss := e.sessions(ssmclient.DocumentPortForwardingRemote)
	if len(ss) != 1 || ss[0].Parameters["host"] != "db.internal" || ss[0].Parameters["portNumber"] != "5432" {
		t.Errorf("sessions %+v, want one to db.internal:5432", ss)
	}
}

// TestRefusedDial: a connection whose dial the instance refuses is closed
// with the plugin's message; a connection already open and the ones after
// go on in the same session.
func TestRefusedDial(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo, _ := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceUbuntu, "0:8080")
	id := f.Tunnel().SessionID()
	open := dial(t, f)
	if err := e2etest.EchoCheck(open, 10000, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", ""); err != nil {
		t.Fatal(err)
	}
	refused := dial(t, f)
	_, _ = refused.Write([]byte("hello"))
	if n, err := refused.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("refused connection: Read = %d, %v; want EOF", n, err)
	}
	e.out.waitFor(t, "Connection to destination port failed, check SSM Agent logs.\n")
	if err := e2etest.EchoCheck(open, 20000, 2); err != nil {
		t.Errorf("the connection already open: %v", err)
	}
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	parallelEcho(t, f, 2, 1000)
	if got := f.Tunnel().SessionID(); got != id {
		t.Errorf("session %s after the refusal, want %s still", got, id)
	}
}

// TestBindAddress: the listener binds where the user says.
func TestBindAddress(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo, _ := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceUbuntu, "127.0.0.2:0:8080")
	if ip := f.Addr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Fatalf("listening on %s, want 127.0.0.2", f.Addr())
	}
	if err := e2etest.EchoCheck(dial(t, f), 5000, 1); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", f.Port()), timeout); err == nil {
		c.Close()
		t.Errorf("127.0.0.1:%d accepted a connection; only 127.0.0.2 should listen", f.Port())
	}
}

// TestWebsocketKilled: the client's websocket is killed twice during a
// transfer; the session resumes and the bytes arrive intact.
func TestWebsocketKilled(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo, _ := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceUbuntu, "0:8080")
	e.s.Faults().Set(func(s *ssmtest.FaultSet) {
		s.KillClientWebsocketAfterBytes = 1 << 20
		s.KillClientWebsocketTimes = 2
	})
	if err := e2etest.EchoCheck(dial(t, f), 4<<20, 7); err != nil {
		t.Fatal(err)
	}
	if n := e.log.Count("data channel dropped; resuming"); n < 2 {
		t.Errorf("%d resumes logged, want 2", n)
	}
	if n := len(e.sessions(ssmclient.DocumentPortForwarding)); n != 1 {
		t.Errorf("%d sessions, want 1 (resumed, not replaced)", n)
	}
}

// TestSessionReplaced: when the service ends the session, its connections
// end, the reason is printed, the listener stays up and the next
// connection gets a new session.
func TestSessionReplaced(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo, _ := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", echo); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceUbuntu, "0:8080")
	first := f.Tunnel().SessionID()
	c := dial(t, f)
	if err := e2etest.EchoCheck(c, 1000, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Sessions().Terminate(first, ssmtest.ReasonTerminated); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection of the ended session: Read = %d, nil; want its end", n)
	}
	e.out.waitFor(t, fmt.Sprintf("Session %s: the session ended", first))
	e.out.waitFor(t, "the next connection starts a new one.\n")
	if err := e2etest.EchoCheck(dial(t, f), 1000, 2); err != nil {
		t.Fatal(err)
	}
	second := f.Tunnel().SessionID()
	if second == "" || second == first {
		t.Fatalf("session after the end: %q (first %q)", second, first)
	}
	e.out.waitFor(t, "Starting session with SessionId: "+second+"\n")
	e.out.waitFor(t, "Connection accepted for session ["+second+"]\n")
	if ss := e.sessions(ssmclient.DocumentPortForwarding); len(ss) != 2 || ss[0].State() != ssmtest.SessionTerminated {
		t.Errorf("%d sessions, the first %s; want 2, the first Terminated", len(ss), ss[0].State())
	}
}

// TestBasicMode: an agent too old for smux (3.0.161.0) gets basic mode:
// each connection has a session of its own, which ends with it.
func TestBasicMode(t *testing.T) {
	fleet := ssmtest.DefaultFleet()
	if err := fleet.Update(ssmtest.InstanceDebian, func(in *ssmtest.Instance) { in.AgentVersion = "3.0.161.0" }); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, ssmtest.Options{Fleet: fleet})
	echo, accepted := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceDebian, "8080", echo); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceDebian, "0:8080")
	parallelEcho(t, f, 3, 200<<10)
	ss := e.sessions(ssmclient.DocumentPortForwarding)
	if len(ss) != 3 {
		t.Fatalf("%d sessions for 3 connections in basic mode, want 3", len(ss))
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("the instance's port saw %d connections, want 3", n)
	}
	deadline := time.Now().Add(timeout)
	for _, s := range ss {
		for s.State() != ssmtest.SessionTerminated && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if st := s.State(); st != ssmtest.SessionTerminated {
			t.Errorf("session %s is %s after its connection closed, want Terminated", s.ID, st)
		}
	}
	if e.log.Count("basic mode") == 0 {
		t.Errorf("no basic mode in the log")
	}
}

// TestSOCKS: -D serves curl --socks5-hostname: the name is resolved on
// the instance (the remote-host document gets it as host), the body
// arrives intact, a second request to the same host and port reuses the
// session, and a destination the instance cannot reach fails only that
// request.
func TestSOCKS(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	e := newEnv(t, ssmtest.Options{})
	body := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8(seedBytes(3)).Read(body)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(web.Close)
	if err := e.s.Fleet().SetRemoteHost(ssmtest.InstanceAmazonLinux, "web.internal:80", web.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	f := e.forward(t, ssmtest.InstanceAmazonLinux, "D 0")
	e.out.waitFor(t, fmt.Sprintf("Port %d opened for SOCKS5 connections.\nWaiting for connections...\n", f.Port()))
	get := func(url string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, "-sS", "--fail", "--max-time", "30",
			"--socks5-hostname", f.Addr().String(), url)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("curl %s: %w: %s", url, err, stderr.String())
		}
		return out, nil
	}
	for i := range 2 {
		got, err := get("http://web.internal/file")
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != sha256.Sum256(body) {
			t.Fatalf("request %d: %d bytes with another SHA-256 than the %d served", i, len(got), len(body))
		}
	}
	ss := e.sessions(ssmclient.DocumentPortForwardingRemote)
	if len(ss) != 1 || ss[0].Parameters["host"] != "web.internal" || ss[0].Parameters["portNumber"] != "80" {
		t.Errorf("sessions %+v, want one to web.internal:80", ss)
	}
	if _, err := get("http://nowhere.internal/"); err == nil {
		t.Errorf("curl reached nowhere.internal")
	}
	if got, err := get("http://web.internal/again"); err != nil || len(got) != len(body) {
		t.Errorf("after the failed request: %d bytes, %v", len(got), err)
	}
}
