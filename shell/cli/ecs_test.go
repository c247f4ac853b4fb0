package cli

import (
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// ecsWeb names the "web" container of the default fleet's task the way a
// user does, resolved through DescribeTasks.
const ecsWeb = "ecs:" + ssmtest.DefaultECSCluster + "/" + ssmtest.ECSTaskWeb + "/" + ssmtest.ECSContainerWeb

// ecsSessions are the emulator's ECS ExecuteCommand sessions.
func ecsSessions(e *env) int {
	n := 0
	for _, s := range e.s.Sessions().All() {
		if s.DocumentName == ssmtest.DocECSExecuteCommand && s.Target == ssmtest.ECSTargetWeb {
			n++
		}
	}
	return n
}

// TestECSShell: a shell in an ECS container is /bin/sh through ECS
// ExecuteCommand, on the terminal.
func TestECSShell(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	term := startTerminal(t, 24, 80, ecsWeb)
	term.typeText("echo in-$((40+2))-container\r")
	term.waitOutput(0, "in-42-container")
	term.typeText("exit\r")
	if code := term.wait(); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, term.errb.String())
	}
	if n := ecsSessions(e); n != 1 {
		t.Errorf("%d ECS ExecuteCommand sessions, want 1", n)
	}
}

// TestECSCommand: a command in an ECS container runs through ECS
// ExecuteCommand.
func TestECSCommand(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	r := run(t, nil, "-q", ssmtest.ECSTargetWeb, "--", "sh", "-c", "'echo done-$((2+3))'")
	if r.code != 0 || !strings.Contains(r.stdout, "done-5") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if n := ecsSessions(e); n != 1 {
		t.Errorf("%d ECS ExecuteCommand sessions, want 1", n)
	}
}
