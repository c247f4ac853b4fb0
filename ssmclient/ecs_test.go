package ssmclient_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

func newECSEnv(t *testing.T) (*ssmtest.Server, *ssmclient.Client) {
	t.Helper()
	log := e2etest.NewLog(t)
	s, err := ssmtest.NewServer(ssmtest.Options{Logf: log.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("emulator Close: %v", err)
		}
	})
	cfg, err := s.AWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return s, ssmclient.NewClientFromConfig(cfg)
}

// TestResolveECS: both ECS target forms resolve through DescribeTasks to
// the container's target and name; mistakes name the way out.
func TestResolveECS(t *testing.T) {
	_, c := newECSEnv(t)
	ctx := t.Context()
	want := ssmclient.ECSContainer{Cluster: ssmtest.DefaultECSCluster, Task: ssmtest.ECSTaskWeb, Container: ssmtest.ECSContainerWeb, RuntimeID: ssmtest.ECSRuntimeWeb}
	for _, in := range []string{
		"ecs:" + ssmtest.DefaultECSCluster + "/" + ssmtest.ECSTaskWeb + "/" + ssmtest.ECSContainerWeb,
		ssmtest.ECSTargetWeb,
	} {
		got, err := ssmclient.ResolveECS(ctx, c.ECS, in)
		if err != nil || got != want {
			t.Errorf("ResolveECS(%s) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	r := ssmclient.Resolver{API: c.EC2, ECS: c.ECS}
	tg, err := r.Resolve(ctx, "ecs:"+ssmtest.DefaultECSCluster+"/"+ssmtest.ECSTaskWeb+"/"+ssmtest.ECSContainerWeb)
	if err != nil || tg.ID != ssmtest.ECSTargetWeb || tg.Kind != ssmclient.KindECS {
		t.Errorf("Resolve = %+v, %v", tg, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"ecs:" + ssmtest.DefaultECSCluster + "/" + ssmtest.ECSTaskWeb, "has 2 containers (web, log-router): name one"},
		{"ecs:" + ssmtest.DefaultECSCluster + "/" + ssmtest.ECSTaskWeb + "/db", "has no container db (its containers: web, log-router)"},
		{"ecs:" + ssmtest.DefaultECSCluster + "/0123456789abcdef0123456789abcdef", "has no task"},
		{"ecs:nope/" + ssmtest.ECSTaskWeb, "Cluster not found"},
		{"ecs:a/b/c/d", "invalid ECS target"},
	} {
		if _, err := ssmclient.ResolveECS(ctx, c.ECS, tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ResolveECS(%s) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestExecuteCommand runs a command in a container through ECS
// ExecuteCommand, given only its target, and refuses a task without
// execute command with the fix.
func TestExecuteCommand(t *testing.T) {
	s, c := newECSEnv(t)
	ct, err := ssmclient.SplitECSTarget(ssmtest.ECSTargetWeb)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.ExecuteCommand(t.Context(), ct, "echo in-the-container", ssmclient.StartInput{})
	if err != nil {
		t.Fatal(err)
	}
	_ = sess.SetReadDeadline(time.Now().Add(time.Minute))
	out, _ := io.ReadAll(sess)
	sess.Close()
	if !strings.Contains(string(out), "in-the-container") || sess.Target != ssmtest.ECSTargetWeb {
		t.Errorf("output %q, target %s", out, sess.Target)
	}
	rec, ok := s.Sessions().Get(sess.ID)
	if !ok || rec.DocumentName != ssmtest.DocECSExecuteCommand {
		t.Errorf("session %s: %+v", sess.ID, rec)
	}
	_, err = c.ExecuteCommand(t.Context(), ssmclient.ECSContainer{Cluster: ssmtest.DefaultECSCluster, Task: ssmtest.ECSTaskNoExec, Container: "batch", RuntimeID: "x"}, "true", ssmclient.StartInput{})
	if err == nil || !strings.Contains(err.Error(), "--enable-execute-command") {
		t.Errorf("no execute command: %v", err)
	}
}
