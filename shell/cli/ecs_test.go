package cli

import (
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"

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

// TestECSForward: -L to a port of an ECS container goes through
// StartSession with the ECS target (ECS ExecuteCommand opens shells and
// commands only, so port forwarding to a task is the port document on
// its ecs: target, as the AWS knowledge-center recipe does it), and the
// bytes come back unchanged.
func TestECSForward(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	echo := e2etest.EchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.ECSTargetWeb, "8080", echo); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{ecsWeb, ssmtest.ECSTargetWeb} {
		f := startForwarding(t, "-L", "0:8080", target)
		port := f.ports(1)[0]
		echoOnce(t, "127.0.0.1:"+port, "to the container's port through "+target)
		if err := e2etest.EchoSHA256("127.0.0.1:"+port, 2<<20, 1); err != nil {
			t.Fatal(err)
		}
		if code := f.stop(); code != 0 {
			t.Errorf("%s: exit %d after an interrupt; stderr:\n%s", target, code, f.errb.String())
		}
	}
	n := 0
	for _, s := range e.s.Sessions().All() {
		if s.DocumentName == ssmclient.DocumentPortForwarding && s.Target == ssmtest.ECSTargetWeb {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d port-forwarding sessions on %s, want 2", n, ssmtest.ECSTargetWeb)
	}
}
