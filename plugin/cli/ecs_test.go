package cli_test

import (
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestAWSCLIECSRefusal: aws ecs execute-command first runs the plugin with
// no arguments (it must answer that it is installed), then gets ECS's
// refusal for a task without execute command, in ECS's shape.
func TestAWSCLIECSRefusal(t *testing.T) {
	e := startCLI(t, e2etest.Options{})
	p := e2etest.RunProc(t, e.aws("ecs", "execute-command", "--cluster", ssmtest.DefaultECSCluster,
		"--task", ssmtest.ECSTaskNoExec, "--command", "true", "--interactive"))
	if code := p.Cmd.ProcessState.ExitCode(); code != 254 && code != 255 {
		t.Errorf("aws exited %d, want a failure: %v", code, p)
	}
	if s := p.Stderr(); !strings.Contains(s, "InvalidParameterException") || !strings.Contains(s, "execute command was not enabled") {
		t.Errorf("stderr %q, want ECS's InvalidParameterException", s)
	}
	if !strings.Contains(p.Stdout(), "The Session Manager plugin was installed successfully") {
		t.Errorf("stdout %q: the CLI's check of the plugin", p.Stdout())
	}
}

// TestAWSCLIECSPortForwarding: aws ssm start-session with the
// port-forwarding document on an ECS task's ecs: target (the way AWS
// documents tunnelling to a container; aws ecs execute-command has no
// port form) carries parallel connections with equal SHA-256, and SIGINT
// leaves the session terminated.
func TestAWSCLIECSPortForwarding(t *testing.T) {
	e := startCLI(t, e2etest.Options{})
	if err := e.Server.Fleet().SetPort(ssmtest.ECSTargetWeb, "8080", e2etest.EchoServer(t)); err != nil {
		t.Fatal(err)
	}
	p := e2etest.StartProc(t, e.aws("ssm", "start-session", "--target", ssmtest.ECSTargetWeb,
		"--document-name", "AWS-StartPortForwardingSession", "--parameters", "portNumber=8080,localPortNumber=0"))
	p.WaitOutput(t, "Waiting for connections...", e2etest.DefaultTimeout)
	m := portOpened.FindStringSubmatch(p.Stdout())
	if m == nil {
		t.Fatalf("no \"Port N opened for sessionId X.\" line in %q", p.Stdout())
	}
	addr := net.JoinHostPort("127.0.0.1", m[1])
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Go(func() { errs <- echoSHA256(addr, portBytes, uint64(i)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, e2etest.DefaultTimeout); code != 0 {
		t.Errorf("aws exited %d after SIGINT: %v\nstderr: %s", code, p, p.Stderr())
	}
	for _, s := range e.Server.Sessions().All() {
		if s.Target != ssmtest.ECSTargetWeb || s.DocumentName != "AWS-StartPortForwardingSession" {
			t.Errorf("session %s: %s on %s, want the port document on %s", s.ID, s.DocumentName, s.Target, ssmtest.ECSTargetWeb)
		}
		if st := s.State(); st != ssmtest.SessionTerminated {
			t.Errorf("session %s is %s after SIGINT", s.ID, st)
		}
	}
}
