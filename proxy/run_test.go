package proxy_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/proxy"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// runInProcess starts proxy.Run in a goroutine with cfg, its stdio made of
// pipes, and returns an SSH client over the other ends and a function
// waiting for Run's result.
func runInProcess(t *testing.T, ctx context.Context, e *e2etest.Env, cfg proxy.Config) (*ssh.Client, func() error) {
	t.Helper()
	inR, inW := io.Pipe()   // the "ssh" writes, Run reads
	outR, outW := io.Pipe() // Run writes, the "ssh" reads
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = proxy.Run(ctx, cfg, &proxy.Stdio{In: inR, Out: outW})
	}()
	wait := func() error {
		t.Helper()
		select {
		case <-done:
			return runErr
		case <-time.After(e2etest.DefaultTimeout):
			t.Fatal("proxy.Run did not return")
			return nil
		}
	}
	t.Cleanup(func() {
		inW.Close()
		outR.Close()
		<-done
	})
	cc, chans, reqs, err := ssh.NewClientConn(pipeConn{Reader: outR, WriteCloser: inW}, cfg.Host, e.Sshd.ClientConfig())
	if err != nil {
		t.Fatalf("SSH over proxy.Run: %v", err)
	}
	return ssh.NewClient(cc, chans, reqs), wait
}

// TestRunInProcess runs the library entry point under the race detector:
// an SSH connection over proxy.Run's stdio, by Name tag, moving data both
// ways; the session ends when the SSH side closes.
func TestRunInProcess(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{})
	cfg := proxy.Config{Host: "web-al2023.ssm", Port: "22", Client: e.Client(t), Logf: e.Log.Logf}
	client, wait := runInProcess(t, t.Context(), e, cfg)

	const n = 4 << 20
	s, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	s.Stdin = io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{'r', 'u', 'n'}), n), h)
	out, err := s.Output("sha256sum")
	if err != nil {
		t.Fatalf("sha256sum: %v", err)
	}
	if remote, _, _ := strings.Cut(string(out), " "); remote != hex.EncodeToString(h.Sum(nil)) {
		t.Errorf("sshd's sha256sum %q differs from the data sent", remote)
	}
	client.Close()
	if err := wait(); err != nil {
		t.Errorf("Run after the SSH side closed: %v", err)
	}
	sess := waitSessionsEnded(t, e.Server, 1)[0]
	if sess.Target != ssmtest.InstanceAmazonLinux || sess.Output() == reasonClientGone {
		t.Errorf("session on %s ended with %q", sess.Target, sess.Output())
	}
}

// TestRunCancel: cancelling Run's context (what a signal does in the
// command) ends it with nil and terminates the session at once.
func TestRunCancel(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{Emulator: ssmtest.Options{ClientReconnectWindow: time.Minute}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client, wait := runInProcess(t, ctx, e, proxy.Config{Host: e.Instance, Port: "22", Client: e.Client(t)})
	defer client.Close()
	if out, err := sshOutput(client, "echo up"); err != nil || out != "up\n" {
		t.Fatalf("remote command: %q, %v", out, err)
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
	// With a minute's reconnect window, only TerminateSession can have
	// ended the session within the wait.
	sess := waitSessionsEnded(t, e.Server, 1)[0]
	if sess.Output() == reasonClientGone {
		t.Errorf("the session was reaped, not terminated")
	}
}

// TestRunErrors: Run's errors are the typed ones callers branch on.
func TestRunErrors(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{})
	client := e.Client(t)
	run := func(host string) error {
		// Input that never comes, as from an ssh waiting for the banner.
		in, _ := io.Pipe()
		return proxy.Run(t.Context(), proxy.Config{Host: host, Port: "22", Client: client}, &proxy.Stdio{
			In: in, Out: nopWriteCloser{io.Discard},
		})
	}
	var nf *ssmclient.TargetNotFoundError
	if err := run("nothing-by-this-name.ssm"); !errors.As(err, &nf) || nf.Name != "nothing-by-this-name" {
		t.Errorf("unknown name: %v", err)
	}
	var ce *ssmclient.Error
	if err := run("i-0123456789abcdef0"); !errors.As(err, &ce) || ce.Code != ssmclient.CodeInstanceNotFound {
		t.Errorf("unknown instance: %v", err)
	}
	if err := run(ssmtest.InstanceRHEL); !errors.As(err, &ce) || ce.Code != ssmclient.CodeTargetNotConnected {
		t.Errorf("agent offline: %v", err)
	}
	if err := e.Server.Fleet().SetPort(e.Instance, "22", closedPort(t)); err != nil {
		t.Fatal(err)
	}
	var se *ssmclient.SessionEndedError
	if err := run(e.Instance); !errors.As(err, &se) || !strings.HasPrefix(se.Output, "Unable to connect to specified port") {
		t.Errorf("closed port: %v", err)
	}
	waitSessionsEnded(t, e.Server, 1)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// sshOutput runs cmd in a new session of c.
func sshOutput(c *ssh.Client, cmd string) (string, error) {
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.Output(cmd)
	return string(out), err
}
