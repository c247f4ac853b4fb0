package cli_test

import (
	"strings"
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
	p, addr, _ := awsPortForward(t, e, ssmtest.ECSTargetWeb)
	echoParallel(t, addr, 4)
	interrupt(t, p)
	for _, s := range e.Server.Sessions().All() {
		if s.Target != ssmtest.ECSTargetWeb || s.DocumentName != "AWS-StartPortForwardingSession" {
			t.Errorf("session %s: %s on %s, want the port document on %s", s.ID, s.DocumentName, s.Target, ssmtest.ECSTargetWeb)
		}
		if st := s.State(); st != ssmtest.SessionTerminated {
			t.Errorf("session %s is %s after SIGINT", s.ID, st)
		}
	}
}
