package cli_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// portConns and portBytes are the parallel connections of the
// port-forwarding test and what each carries each way.
const portConns, portBytes = 20, 64 << 10

var portOpened = regexp.MustCompile(`Port (\d+) opened for sessionId (\S+)\.`)

// TestAWSCLIPortForwarding runs aws ssm start-session with
// AWS-StartPortForwardingSession through our plugin: it prints AWS's
// lines on stdout, carries 20 parallel connections to an echo server on
// the instance (each an smux stream of the one session) with equal
// SHA-256 both ways, and on SIGINT (which the AWS CLI ignores and leaves
// to the plugin) terminates the session.
func TestAWSCLIPortForwarding(t *testing.T) {
	e := startCLI(t, e2etest.Options{})
	if err := e.Server.Fleet().SetPort(e.Instance, "8080", e2etest.EchoServer(t)); err != nil {
		t.Fatal(err)
	}
	p := e2etest.StartProc(t, e.aws("ssm", "start-session", "--target", e.Instance,
		"--document-name", "AWS-StartPortForwardingSession", "--parameters", "portNumber=8080,localPortNumber=0"))
	p.WaitOutput(t, "Waiting for connections...", e2etest.DefaultTimeout)
	m := portOpened.FindStringSubmatch(p.Stdout())
	if m == nil {
		t.Fatalf("no \"Port N opened for sessionId X.\" line in %q", p.Stdout())
	}
	addr := net.JoinHostPort("127.0.0.1", m[1])

	var wg sync.WaitGroup
	errs := make(chan error, portConns)
	for i := range portConns {
		wg.Go(func() { errs <- echoSHA256(addr, portBytes, uint64(i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	p.WaitOutput(t, fmt.Sprintf("Connection accepted for session [%s]", m[2]), 10*time.Second)

	if err := syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, e2etest.DefaultTimeout); code != 0 {
		t.Errorf("aws exited %d after SIGINT: %v\nstderr: %s", code, p, p.Stderr())
	}
	if want := fmt.Sprintf("Exiting session with sessionId: %s.", m[2]); !strings.Contains(p.Stdout(), want) {
		t.Errorf("stdout %q lacks %q", p.Stdout(), want)
	}
	var ids []string
	for _, s := range e.Server.Sessions().All() {
		if s.DocumentName == "AWS-StartPortForwardingSession" {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) != 1 || ids[0] != m[2] {
		t.Errorf("port-forwarding sessions %v, want the one the plugin was handed, %s", ids, m[2])
	}
}

// echoSHA256 connects to addr, writes size pseudo-random bytes while
// reading as many back, and compares their SHA-256.
func echoSHA256(addr string, size int, seed uint64) error {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return err
	}
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	sent := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		_, _ = io.Copy(c, io.TeeReader(io.LimitReader(rand.NewChaCha8(key), int64(size)), h))
		sent <- h.Sum(nil)
	}()
	h := sha256.New()
	if _, err := io.CopyN(h, c, int64(size)); err != nil {
		return fmt.Errorf("connection %d: read the echo: %w", seed, err)
	}
	if want := <-sent; !bytes.Equal(h.Sum(nil), want) {
		return fmt.Errorf("connection %d: the echo's SHA-256 differs from what was sent", seed)
	}
	return nil
}
