package ssmclient

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ECS containers as Session Manager targets. A container of a task run
// with execute command enabled has its own agent, whose target is
// ecs:<cluster>_<task-id>_<container-runtime-id> (as the documentation
// writes it). Users know the friendlier ecs:<cluster>/<task>[/<container>],
// which DescribeTasks resolves. A shell or a command in a container goes
// through ECS ExecuteCommand, as aws ecs execute-command does (ECS checks
// the task's execute-command setting and the caller's ecs:ExecuteCommand
// permission, then starts the session itself); port forwarding uses the
// SSM documents with the container's target.

// ECSAPI is the part of *ecs.Client that ECS targets use.
type ECSAPI interface {
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	ExecuteCommand(ctx context.Context, in *ecs.ExecuteCommandInput, optFns ...func(*ecs.Options)) (*ecs.ExecuteCommandOutput, error)
}

var _ ECSAPI = (*ecs.Client)(nil)

// ECSContainer names a container of an ECS task.
type ECSContainer struct {
	Cluster   string
	Task      string // the task id
	Container string // the container name; "" until resolved
	RuntimeID string
}

// Target is the container's Session Manager target.
func (c ECSContainer) Target() string {
	return "ecs:" + c.Cluster + "_" + c.Task + "_" + c.RuntimeID
}

// SplitECSTarget splits ecs:<cluster>_<task>_<runtime-id> (Container is
// left empty).
func SplitECSTarget(id string) (ECSContainer, error) {
	s, ok := strings.CutPrefix(id, "ecs:")
	if !ok {
		return ECSContainer{}, fmt.Errorf("ssmclient: %q is not an ECS target", id)
	}
	cluster, err := splitECS(s)
	if err != nil {
		return ECSContainer{}, fmt.Errorf("ssmclient: invalid ECS target %q: %w", id, err)
	}
	rest := s[len(cluster)+1:]
	task, runtime, _ := strings.Cut(rest, "_")
	return ECSContainer{Cluster: cluster, Task: task, RuntimeID: runtime}, nil
}

// IsECSPath reports whether s is the ecs:<cluster>/<task>[/<container>]
// form that ResolveECS looks up.
func IsECSPath(s string) bool {
	return strings.HasPrefix(s, "ecs:") && strings.Contains(s, "/")
}

// ResolveECS resolves an ECS target through DescribeTasks: the
// ecs:<cluster>/<task>[/<container>] form (the task as its id or ARN; the
// container may be left out when the task has one), or the
// ecs:<cluster>_<task>_<runtime-id> form, whose container name it finds.
func ResolveECS(ctx context.Context, api ECSAPI, s string) (ECSContainer, error) {
	var want ECSContainer
	if IsECSPath(s) {
		parts := strings.Split(strings.TrimPrefix(s, "ecs:"), "/")
		if len(parts) > 3 || len(parts) < 2 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
			return ECSContainer{}, fmt.Errorf("ssmclient: invalid ECS target %q (want ecs:<cluster>/<task>[/<container>] or ecs:<cluster>_<task-id>_<container-runtime-id>)", s)
		}
		want.Cluster, want.Task = parts[0], parts[1]
		if len(parts) == 3 {
			want.Container = parts[2]
		}
	} else {
		var err error
		if want, err = SplitECSTarget(s); err != nil {
			return ECSContainer{}, err
		}
	}
	if api == nil {
		return ECSContainer{}, errors.New("ssmclient: no ECS client to resolve " + s)
	}
	out, err := api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(want.Cluster), Tasks: []string{want.Task}})
	if err != nil {
		return ECSContainer{}, fmt.Errorf("ssmclient: looking up ECS task %s in cluster %s: %w", want.Task, want.Cluster, Explain(err))
	}
	if len(out.Tasks) == 0 {
		return ECSContainer{}, fmt.Errorf("ssmclient: ECS cluster %s has no task %s", want.Cluster, want.Task)
	}
	task := out.Tasks[0]
	if arn := aws.ToString(task.TaskArn); arn != "" {
		want.Task = arn[strings.LastIndexByte(arn, '/')+1:]
	}
	var names []string
	var found *ecstypes.Container
	for i := range task.Containers {
		k := &task.Containers[i]
		name := aws.ToString(k.Name)
		names = append(names, name)
		switch {
		case want.Container != "" && name == want.Container,
			want.RuntimeID != "" && aws.ToString(k.RuntimeId) == want.RuntimeID:
			found = k
		}
	}
	if found == nil && want.Container == "" && want.RuntimeID == "" && len(task.Containers) == 1 {
		found = &task.Containers[0]
	}
	if found == nil {
		what := "container " + want.Container
		switch {
		case want.RuntimeID != "":
			what = "container with runtime id " + want.RuntimeID
		case want.Container == "":
			return ECSContainer{}, fmt.Errorf("ssmclient: ECS task %s has %d containers (%s): name one, ecs:%s/%s/<container>",
				want.Task, len(names), strings.Join(names, ", "), want.Cluster, want.Task)
		}
		return ECSContainer{}, fmt.Errorf("ssmclient: ECS task %s has no %s (its containers: %s)", want.Task, what, strings.Join(names, ", "))
	}
	want.Container, want.RuntimeID = aws.ToString(found.Name), aws.ToString(found.RuntimeId)
	if want.RuntimeID == "" {
		return ECSContainer{}, fmt.Errorf("ssmclient: container %s of ECS task %s has no runtime id yet (is the task running?)", want.Container, want.Task)
	}
	return want, nil
}

// ExecuteCommand runs command in an ECS container through ECS
// ExecuteCommand (interactive, the only mode ECS has), as aws ecs
// execute-command does, and opens its session (see OpenSession; in.Target
// is set to the container's target). A container given by target only is
// named through DescribeTasks first.
func (c *Client) ExecuteCommand(ctx context.Context, ct ECSContainer, command string, in StartInput) (*Session, error) {
	if c.ECS == nil {
		return nil, errors.New("ssmclient: no ECS client")
	}
	if ct.Container == "" {
		var err error
		if ct, err = ResolveECS(ctx, c.ECS, ct.Target()); err != nil {
			return nil, err
		}
	}
	out, err := c.ECS.ExecuteCommand(ctx, &ecs.ExecuteCommandInput{
		Cluster: aws.String(ct.Cluster), Task: aws.String(ct.Task), Container: aws.String(ct.Container),
		Command: aws.String(command), Interactive: true,
	})
	if err != nil {
		return nil, explainECS(err)
	}
	if out.Session == nil || out.Session.SessionId == nil || out.Session.StreamUrl == nil || out.Session.TokenValue == nil {
		return nil, errors.New("ssmclient: ECS ExecuteCommand answered without a session")
	}
	in.Target = ct.Target()
	return c.OpenSession(ctx, SessionResponse{SessionID: *out.Session.SessionId, StreamURL: *out.Session.StreamUrl,
		TokenValue: *out.Session.TokenValue}, in)
}

// explainECS adds the fix to ECS ExecuteCommand's refusals.
func explainECS(err error) error {
	var inv *ecstypes.InvalidParameterException
	if errors.As(err, &inv) && strings.Contains(inv.ErrorMessage(), "execute command was not enabled") {
		return &Error{Op: "ECS ExecuteCommand", Code: CodeTargetNotConnected, Err: err,
			Hint: "execute command is not enabled on the task, or its agent is not running: run the task (or update the service, with --force-new-deployment) with --enable-execute-command, and give the task role ssmmessages:CreateControlChannel, CreateDataChannel, OpenControlChannel and OpenDataChannel"}
	}
	return Explain(err)
}
