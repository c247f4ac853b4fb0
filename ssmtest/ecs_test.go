package ssmtest_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestECSAPIs: ListTasks, DescribeTasks and ExecuteCommand answer the
// SDK's ECS client in ECS's shapes, with its error codes.
func TestECSAPIs(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	c := ecs.NewFromConfig(e.client.Config)
	ctx := t.Context()

	list, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(ssmtest.DefaultECSCluster)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.TaskArns) != 2 || !strings.HasSuffix(list.TaskArns[0], "task/"+ssmtest.DefaultECSCluster+"/"+ssmtest.ECSTaskWeb) {
		t.Errorf("ListTasks = %q", list.TaskArns)
	}
	_, err = c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("nope")})
	var cnf *ecstypes.ClusterNotFoundException
	if !errors.As(err, &cnf) {
		t.Errorf("ListTasks of an unknown cluster: %v, want ClusterNotFoundException", err)
	}

	desc, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(ssmtest.DefaultECSCluster),
		Tasks: []string{list.TaskArns[0], "0123456789abcdef0123456789abcdef"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Tasks) != 1 || len(desc.Failures) != 1 || aws.ToString(desc.Failures[0].Reason) != "MISSING" {
		t.Fatalf("DescribeTasks = %+v / %+v", desc.Tasks, desc.Failures)
	}
	task := desc.Tasks[0]
	if !task.EnableExecuteCommand || len(task.Containers) != 2 || aws.ToString(task.Containers[0].Name) != ssmtest.ECSContainerWeb ||
		aws.ToString(task.Containers[0].RuntimeId) != ssmtest.ECSRuntimeWeb || len(task.Containers[0].ManagedAgents) != 1 ||
		aws.ToString(task.Containers[0].ManagedAgents[0].LastStatus) != "RUNNING" {
		t.Errorf("task = %+v, containers %+v", task, task.Containers)
	}

	var inv *ecstypes.InvalidParameterException
	for _, tc := range []struct {
		name string
		in   ecs.ExecuteCommandInput
		want string
	}{
		{"not enabled", ecs.ExecuteCommandInput{Task: aws.String(ssmtest.ECSTaskNoExec)}, "execute command was not enabled"},
		{"two containers", ecs.ExecuteCommandInput{Task: aws.String(ssmtest.ECSTaskWeb)}, "more than one container"},
		{"no such container", ecs.ExecuteCommandInput{Task: aws.String(ssmtest.ECSTaskWeb), Container: aws.String("db")}, "container db is not found"},
		{"not interactive", ecs.ExecuteCommandInput{Task: aws.String(ssmtest.ECSTaskWeb), Container: aws.String("web"), Interactive: false}, "Interactive is the only mode"},
	} {
		in := tc.in
		in.Cluster, in.Command = aws.String(ssmtest.DefaultECSCluster), aws.String("echo hi")
		if tc.name != "not interactive" {
			in.Interactive = true
		}
		_, err := c.ExecuteCommand(ctx, &in)
		if !errors.As(err, &inv) || !strings.Contains(inv.ErrorMessage(), tc.want) {
			t.Errorf("%s: ExecuteCommand: %v, want InvalidParameterException %q", tc.name, err, tc.want)
		}
	}

	// Containers are not EC2 instances, nor managed instances.
	ec2c := ec2.NewFromConfig(e.client.Config)
	insts, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range insts.Reservations {
		for _, i := range r.Instances {
			if strings.HasPrefix(aws.ToString(i.InstanceId), "ecs:") {
				t.Errorf("EC2 lists the container %s", aws.ToString(i.InstanceId))
			}
		}
	}
	info, err := ssm.NewFromConfig(e.client.Config).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range info.InstanceInformationList {
		if strings.HasPrefix(aws.ToString(i.InstanceId), "ecs:") {
			t.Errorf("SSM lists the container %s", aws.ToString(i.InstanceId))
		}
	}
}

// TestECSExecuteCommandSession: ExecuteCommand's session runs the command
// on the container's own agent, opened with ssmclient.OpenSession as the
// plugin opens it.
func TestECSExecuteCommandSession(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	c := ecs.NewFromConfig(e.client.Config)
	out, err := c.ExecuteCommand(t.Context(), &ecs.ExecuteCommandInput{
		Cluster: aws.String(ssmtest.DefaultECSCluster), Task: aws.String(ssmtest.ECSTaskWeb),
		Container: aws.String(ssmtest.ECSContainerWeb), Command: aws.String("echo from-the-container"), Interactive: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Session.SessionId)
	if !strings.HasPrefix(id, "ecs-execute-command-") || aws.ToString(out.ContainerName) != ssmtest.ECSContainerWeb {
		t.Errorf("ExecuteCommand = %+v", out)
	}
	rec := e.session(t, id)
	if rec.Target != ssmtest.ECSTargetWeb || rec.DocumentName != ssmtest.DocECSExecuteCommand || rec.SessionType != "InteractiveCommands" {
		t.Errorf("session %s: target %s, document %s, type %s", id, rec.Target, rec.DocumentName, rec.SessionType)
	}
	sess, err := e.client.OpenSession(t.Context(), ssmclient.SessionResponse{SessionID: id,
		StreamURL: aws.ToString(out.Session.StreamUrl), TokenValue: aws.ToString(out.Session.TokenValue)},
		ssmclient.StartInput{Target: ssmtest.ECSTargetWeb})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	_ = sess.SetReadDeadline(time.Now().Add(e2eTimeout))
	got, _ := io.ReadAll(sess)
	if !strings.Contains(string(got), "from-the-container") {
		t.Errorf("output %q", got)
	}
	sess.Close()
	if st := e.waitEnded(t, id); st != ssmtest.SessionTerminated {
		t.Errorf("session ended %s", st)
	}
}

// TestECSFleetFile: clusters round-trip through the fleet file, their
// containers are machines under their ecs: targets, and bad clusters are
// refused by name.
func TestECSFleetFile(t *testing.T) {
	data, err := ssmtest.DefaultFleet().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	f, err := ssmtest.ParseFleet(data)
	if err != nil {
		t.Fatal(err)
	}
	if cs := f.ECSClusters(); len(cs) != 1 || cs[0].ClusterName != ssmtest.DefaultECSCluster || len(cs[0].Tasks) != 2 {
		t.Errorf("clusters = %+v", cs)
	}
	web, ok := f.Instance(ssmtest.ECSTargetWeb)
	if !ok || web.PingStatus != ssmtest.PingOnline || web.Ports["22"] != ssmtest.BuiltinSSH {
		t.Errorf("container machine = %+v, %v", web, ok)
	}
	for _, in := range f.Instances() {
		if in.IsECSContainer() {
			t.Errorf("Instances lists the container %s", in.InstanceID)
		}
	}
	if err := f.SetPort(ssmtest.ECSTargetWeb, "8080", "127.0.0.1:1"); err != nil {
		t.Errorf("SetPort on a container: %v", err)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"Instances":[],"ECSClusters":[{"ClusterName":"a b"}]}`, `cluster name "a b"`},
		{`{"Instances":[],"ECSClusters":[{"ClusterName":"c","Tasks":[{"TaskId":"xyz","Containers":[{"Name":"a"}]}]}]}`, "not 32 hex digits"},
		{`{"Instances":[],"ECSClusters":[{"ClusterName":"c","Tasks":[{"TaskId":"0123456789abcdef0123456789abcdef"}]}]}`, "no containers"},
		{`{"Instances":[],"ECSClusters":[{"ClusterName":"c","Tasks":[{"TaskId":"0123456789abcdef0123456789abcdef","Containers":[{"Name":"a","RuntimeId":"x"}]}]}]}`, `runtime id "x"`},
	} {
		if _, err := ssmtest.ParseFleet([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFleet(%s) = %v, want %q", tc.json, err, tc.want)
		}
	}
}
