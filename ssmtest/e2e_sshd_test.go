package ssmtest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/internal/sshdtest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// transferSize is what TestEndToEndOpenSSH moves each way, through the
// unpaced emulator (Options.AgentPace left zero): at the real agent's pace
// it would take more than a minute.
const transferSize = 64 << 20

// TestEndToEndOpenSSH runs the whole stack against a real OpenSSH sshd:
// StartSession (AWS-StartSSHSession) → the client's data-channel websocket
// → the gateway → the built-in agent over its own control and data
// websockets → sshd on loopback, and x/crypto/ssh over the session. It
// moves 64 MiB each way at the same time, on two SSH channels, and checks
// that both ends computed the same SHA-256: sshd's side with sha256sum.
func TestEndToEndOpenSSH(t *testing.T) {
	sshd := sshdtest.Start(t, sshdtest.Options{})
	e := newEnv(t, ssmtest.Options{})
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "22", sshd.Addr); err != nil {
		t.Fatal(err)
	}
	sess := e.startPort(t, ssmtest.InstanceUbuntu, "22")
	cfg := sshd.ClientConfig()
	c, chans, reqs, err := ssh.NewClientConn(sess, ssmtest.InstanceUbuntu, cfg)
	if err != nil {
		t.Fatalf("SSH over the session: %v\nsshd log:\n%s", err, sshd.Log())
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()

	start := time.Now()
	var wg sync.WaitGroup
	var upErr, downErr error
	var upTook, downTook time.Duration
	wg.Add(2)
	go func() {
		defer wg.Done()
		upErr = upload(client, transferSize)
		upTook = time.Since(start)
	}()
	go func() {
		defer wg.Done()
		downErr = download(client, transferSize)
		downTook = time.Since(start)
	}()
	wg.Wait()
	if upErr != nil {
		t.Errorf("upload: %v", upErr)
	}
	if downErr != nil {
		t.Errorf("download: %v", downErr)
	}
	mib := float64(transferSize) / (1 << 20)
	t.Logf("%.0f MiB up in %v (%.1f MiB/s), %.0f MiB down in %v (%.1f MiB/s), at the same time",
		mib, upTook.Round(time.Millisecond), mib/upTook.Seconds(),
		mib, downTook.Round(time.Millisecond), mib/downTook.Seconds())
	st := sess.Stats()
	t.Logf("client session: sent %d, resent %d, received %d, duplicates %d, reconnects %d, rtt %v",
		st.Sent, st.Resent, st.Received, st.Duplicates, st.Reconnects, st.RTT)
	if t.Failed() {
		t.Logf("sshd log:\n%s", sshd.Log())
	}
}

// upload streams n pseudo-random bytes into sha256sum on the server and
// compares the digest sha256sum prints with the local one.
func upload(c *ssh.Client, n int64) error {
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{'u', 'p'}), n), h)
	s.Stdin = src
	var stderr bytes.Buffer
	s.Stderr = &stderr
	out, err := s.Output("sha256sum")
	if err != nil {
		return fmt.Errorf("sha256sum: %w (stderr %q)", err, stderr.String())
	}
	remote, _, _ := strings.Cut(string(out), " ")
	if local := hex.EncodeToString(h.Sum(nil)); remote != local {
		return fmt.Errorf("sshd's sha256sum says %q, the client sent %s", remote, local)
	}
	return nil
}

// download has the server send n bytes from /dev/urandom, hashing them on
// the way out (the digest goes to stderr), and compares that digest with
// the one of the bytes received.
func download(c *ssh.Client, n int64) error {
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	stdout, err := s.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	s.Stderr = &stderr
	// fd 3 is the channel's stdout: tee copies the bytes there and into
	// sha256sum, whose digest goes to stderr.
	cmd := fmt.Sprintf("{ head -c %d /dev/urandom | tee /dev/fd/3 | sha256sum >&2; } 3>&1", n)
	if err := s.Start(cmd); err != nil {
		return err
	}
	h := sha256.New()
	got, copyErr := io.Copy(h, stdout)
	if err := s.Wait(); err != nil {
		return fmt.Errorf("%s: %w (stderr %q)", cmd, err, stderr.String())
	}
	if copyErr != nil || got != n {
		return fmt.Errorf("received %d of %d bytes: %v", got, n, copyErr)
	}
	remote, _, _ := strings.Cut(stderr.String(), " ")
	if local := hex.EncodeToString(h.Sum(nil)); remote != local {
		return fmt.Errorf("sshd's side hashed %q, the client received %s", remote, local)
	}
	return nil
}
