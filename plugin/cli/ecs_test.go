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
