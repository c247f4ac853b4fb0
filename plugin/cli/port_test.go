package cli_test

import (
	"fmt"
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
	p, addr, id := awsPortForward(t, e, e.Instance)
	echoParallel(t, addr, portConns)
	p.WaitOutput(t, fmt.Sprintf("Connection accepted for session [%s]", id), 10*time.Second)
	interrupt(t, p)
	if want := fmt.Sprintf("Exiting session with sessionId: %s.", id); !strings.Contains(p.Stdout(), want) {
		t.Errorf("stdout %q lacks %q", p.Stdout(), want)
	}
	var ids []string
	for _, s := range e.Server.Sessions().All() {
		if s.DocumentName == "AWS-StartPortForwardingSession" {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) != 1 || ids[0] != id {
		t.Errorf("port-forwarding sessions %v, want the one the plugin was handed, %s", ids, id)
	}
}

// awsPortForward serves an echo server on target's port 8080 and starts
// aws ssm start-session with the port-forwarding document to it on a
// local port of the plugin's choosing; it returns the process once it
// waits for connections, the local address and the session id.
func awsPortForward(t *testing.T, e *cliEnv, target string) (p *e2etest.Proc, addr, id string) {
	t.Helper()
	if err := e.Server.Fleet().SetPort(target, "8080", e2etest.EchoServer(t)); err != nil {
		t.Fatal(err)
	}
	p = e2etest.StartProc(t, e.aws("ssm", "start-session", "--target", target,
		"--document-name", "AWS-StartPortForwardingSession", "--parameters", "portNumber=8080,localPortNumber=0"))
	p.WaitOutput(t, "Waiting for connections...", e2etest.DefaultTimeout)
	m := portOpened.FindStringSubmatch(p.Stdout())
	if m == nil {
		t.Fatalf("no \"Port N opened for sessionId X.\" line in %q", p.Stdout())
	}
	return p, net.JoinHostPort("127.0.0.1", m[1]), m[2]
}

// echoParallel echoes portBytes over n connections to addr at once, with
// equal SHA-256.
func echoParallel(t *testing.T, addr string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() { errs <- e2etest.EchoSHA256(addr, portBytes, uint64(i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// interrupt sends SIGINT to the process group of p (aws and its plugin),
// as Ctrl-C does, and wants it to exit 0.
func interrupt(t *testing.T, p *e2etest.Proc) {
	t.Helper()
	if err := syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, e2etest.DefaultTimeout); code != 0 {
		t.Errorf("aws exited %d after SIGINT: %v\nstderr: %s", code, p, p.Stderr())
	}
}
