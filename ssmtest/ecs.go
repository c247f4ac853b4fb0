package ssmtest

import (
	"fmt"
	"slices"
	"strings"
)

// The ECS operations (JSON 1.1, target prefix
// AmazonEC2ContainerServiceV20141113, signing name ecs) that aws ecs
// execute-command and ssmsession call: ListTasks, DescribeTasks and
// ExecuteCommand. ECS's JSON members are lower camel case. ExecuteCommand
// starts an InteractiveCommands session on the container's agent (the
// document AmazonECS-ExecuteInteractiveCommand, session ids
// "ecs-execute-command-…") and answers its session in the member
// "session" {sessionId, streamUrl, tokenValue}, which the AWS CLI hands
// session-manager-plugin.
//
// Error codes are ECS's (ClusterNotFoundException, InvalidParameterException,
// TargetNotConnectedException, AccessDeniedException); the text for
// execute command not enabled is the one ECS gives, the others are the
// emulator's wording.
func (s *Server) ecsOps() map[string]jsonOp {
	const p = "AmazonEC2ContainerServiceV20141113."
	return map[string]jsonOp{
		p + "ListTasks":      op(s.ecsListTasks),
		p + "DescribeTasks":  op(s.ecsDescribeTasks),
		p + "ExecuteCommand": op(s.ecsExecuteCommand),
	}
}

// DocECSExecuteCommand is the session document of ECS ExecuteCommand.
const DocECSExecuteCommand = "AmazonECS-ExecuteInteractiveCommand"

// errECSExecNotEnabled is ECS's answer for a task without execute command
// (or whose container agent is not running).
const errECSExecNotEnabled = "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn’t running. Wait and try again or run a new task with execute command enabled and try again."

func (s *Server) ecsClusterARN(name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", s.region, s.account, name)
}

func (s *Server) ecsTaskARN(cluster, id string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", s.region, s.account, cluster, id)
}

// ecsCluster finds a cluster by name or ARN ("" is "default").
func (s *Server) ecsCluster(ref string) (ECSCluster, error) {
	name := ref
	if name == "" {
		name = "default"
	}
	if strings.HasPrefix(name, "arn:") {
		name = name[strings.LastIndexByte(name, '/')+1:]
	}
	c, ok := s.fleet.ECSCluster(name)
	if !ok {
		return ECSCluster{}, apiErr("ClusterNotFoundException", "Cluster not found.")
	}
	return c, nil
}

// ecsTaskID is the task id of a task reference (an id or an ARN).
func ecsTaskID(ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref[strings.LastIndexByte(ref, '/')+1:]
	}
	return ref
}

type ecsListTasksInput struct {
	Cluster       string `json:"cluster"`
	Family        string `json:"family"`
	DesiredStatus string `json:"desiredStatus"`
	LaunchType    string `json:"launchType"`
	MaxResults    int    `json:"maxResults"`
	NextToken     string `json:"nextToken"`
}

func (s *Server) ecsListTasks(c *call, in *ecsListTasksInput) (any, error) {
	if err := c.checkDenied("*"); err != nil {
		return nil, err
	}
	cl, err := s.ecsCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	status := in.DesiredStatus
	if status == "" {
		status = ECSRunning
	}
	if status != ECSRunning && status != ECSStopped && status != "PENDING" {
		return nil, apiErr("InvalidParameterException", "desiredStatus must be one of RUNNING, PENDING or STOPPED.")
	}
	var arns []string
	for _, t := range cl.Tasks {
		family, _, _ := strings.Cut(t.TaskDefinition, ":")
		if t.LastStatus != status || (in.Family != "" && family != in.Family) || (in.LaunchType != "" && t.LaunchType != in.LaunchType) {
			continue
		}
		arns = append(arns, s.ecsTaskARN(cl.ClusterName, t.TaskID))
	}
	page, next, err := paginate(arns, in.MaxResults, in.NextToken, 1, 100, 100)
	if err != nil {
		return nil, err
	}
	return struct {
		TaskArns  []string `json:"taskArns"`
		NextToken string   `json:"nextToken,omitempty"`
	}{append([]string{}, page...), next}, nil
}

type ecsDescribeTasksInput struct {
	Cluster string   `json:"cluster"`
	Tasks   []string `json:"tasks"`
}

type ecsManagedAgent struct {
	Name       string `json:"name"`
	LastStatus string `json:"lastStatus"`
}

type ecsContainerJSON struct {
	ContainerArn  string            `json:"containerArn"`
	TaskArn       string            `json:"taskArn"`
	Name          string            `json:"name"`
	Image         string            `json:"image"`
	RuntimeID     string            `json:"runtimeId"`
	LastStatus    string            `json:"lastStatus"`
	ManagedAgents []ecsManagedAgent `json:"managedAgents"`
}

type ecsTaskJSON struct {
	TaskArn              string             `json:"taskArn"`
	ClusterArn           string             `json:"clusterArn"`
	TaskDefinitionArn    string             `json:"taskDefinitionArn"`
	LastStatus           string             `json:"lastStatus"`
	DesiredStatus        string             `json:"desiredStatus"`
	LaunchType           string             `json:"launchType"`
	EnableExecuteCommand bool               `json:"enableExecuteCommand"`
	Group                string             `json:"group"`
	CreatedAt            *epochTime         `json:"createdAt,omitempty"`
	Containers           []ecsContainerJSON `json:"containers"`
}

type ecsFailure struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
}

func (s *Server) ecsTaskJSON(cl *ECSCluster, t *ECSTask) ecsTaskJSON {
	arn := s.ecsTaskARN(cl.ClusterName, t.TaskID)
	family, _, _ := strings.Cut(t.TaskDefinition, ":")
	j := ecsTaskJSON{
		TaskArn: arn, ClusterArn: s.ecsClusterARN(cl.ClusterName),
		TaskDefinitionArn: fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s", s.region, s.account, t.TaskDefinition),
		LastStatus:        t.LastStatus, DesiredStatus: t.LastStatus, LaunchType: t.LaunchType,
		EnableExecuteCommand: !t.ExecuteCommandDisabled, Group: "family:" + family, CreatedAt: epoch(defaultLaunch),
		Containers: []ecsContainerJSON{},
	}
	for i, k := range t.Containers {
		cj := ecsContainerJSON{
			ContainerArn: fmt.Sprintf("arn:aws:ecs:%s:%s:container/%s/%s/%08x-0000-4000-8000-%012x", s.region, s.account, cl.ClusterName, t.TaskID, i+1, i+1),
			TaskArn:      arn, Name: k.Name, Image: k.Image, RuntimeID: k.RuntimeID, LastStatus: t.LastStatus,
			ManagedAgents: []ecsManagedAgent{},
		}
		if !t.ExecuteCommandDisabled {
			status := ECSRunning
			if t.LastStatus != ECSRunning {
				status = ECSStopped
			}
			cj.ManagedAgents = append(cj.ManagedAgents, ecsManagedAgent{Name: "ExecuteCommandAgent", LastStatus: status})
		}
		j.Containers = append(j.Containers, cj)
	}
	return j
}

func (s *Server) ecsDescribeTasks(c *call, in *ecsDescribeTasksInput) (any, error) {
	if err := c.checkDenied("*"); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 {
		return nil, apiErr("InvalidParameterException", "Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, apiErr("InvalidParameterException", "Too many tasks were provided. The maximum is 100.")
	}
	cl, err := s.ecsCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	out := struct {
		Tasks    []ecsTaskJSON `json:"tasks"`
		Failures []ecsFailure  `json:"failures"`
	}{Tasks: []ecsTaskJSON{}, Failures: []ecsFailure{}}
	for _, ref := range in.Tasks {
		id := ecsTaskID(ref)
		i := slices.IndexFunc(cl.Tasks, func(t ECSTask) bool { return t.TaskID == id })
		if i < 0 {
			out.Failures = append(out.Failures, ecsFailure{Arn: s.ecsTaskARN(cl.ClusterName, id), Reason: "MISSING"})
			continue
		}
		out.Tasks = append(out.Tasks, s.ecsTaskJSON(&cl, &cl.Tasks[i]))
	}
	return out, nil
}

type ecsExecuteCommandInput struct {
	Cluster     string `json:"cluster"`
	Container   string `json:"container"`
	Command     string `json:"command"`
	Interactive bool   `json:"interactive"`
	Task        string `json:"task"`
}

func (s *Server) ecsExecuteCommand(c *call, in *ecsExecuteCommandInput) (any, error) {
	cl, err := s.ecsCluster(in.Cluster)
	if err != nil {
		return nil, err
	}
	id := ecsTaskID(in.Task)
	taskARN := s.ecsTaskARN(cl.ClusterName, id)
	if err := c.checkDenied(taskARN); err != nil {
		return nil, err
	}
	switch {
	case in.Command == "":
		return nil, apiErr("InvalidParameterException", "Command cannot be empty.")
	case !in.Interactive:
		return nil, apiErr("InvalidParameterException", "Interactive is the only mode supported currently.")
	}
	i := slices.IndexFunc(cl.Tasks, func(t ECSTask) bool { return t.TaskID == id })
	if i < 0 {
		return nil, apiErr("InvalidParameterException", "The specified task is not found in cluster %s.", cl.ClusterName)
	}
	t := &cl.Tasks[i]
	var k *ECSContainer
	switch {
	case in.Container != "":
		j := slices.IndexFunc(t.Containers, func(k ECSContainer) bool { return k.Name == in.Container })
		if j < 0 {
			return nil, apiErr("InvalidParameterException", "The container %s is not found in the task.", in.Container)
		}
		k = &t.Containers[j]
	case len(t.Containers) == 1:
		k = &t.Containers[0]
	default:
		return nil, apiErr("InvalidParameterException", "The task has more than one container: a container name must be specified.")
	}
	if t.ExecuteCommandDisabled || t.LastStatus != ECSRunning {
		return nil, apiErr("InvalidParameterException", errECSExecNotEnabled)
	}
	target := ECSTarget(cl.ClusterName, t.TaskID, k.RuntimeID)
	inst, ok := s.fleet.Instance(target)
	if !ok || inst.PingStatus != PingOnline || c.faults.AgentOffline[target] {
		return nil, apiErr("TargetNotConnectedException", "The execute command failed due to an internal error. Try again later.")
	}
	doc, err := s.ResolveDocument(DocStartInteractiveCommand, map[string][]string{"command": {in.Command}})
	if err != nil {
		return nil, err
	}
	sess := &Session{
		Target: target, DocumentName: DocECSExecuteCommand, SessionType: doc.SessionType,
		DocumentContent: doc.Content, Parameters: doc.Parameters, Properties: doc.Properties, Owner: s.callerARN,
	}
	tok, err := s.sessions.start(sess, "ecs-execute-command")
	if err != nil {
		return nil, err
	}
	s.logf("ssmtest: ECS ExecuteCommand: session %s started on %s: %q", sess.ID, target, in.Command)
	type session struct {
		SessionID  string `json:"sessionId"`
		StreamURL  string `json:"streamUrl"`
		TokenValue string `json:"tokenValue"`
	}
	return struct {
		ClusterArn    string  `json:"clusterArn"`
		ContainerArn  string  `json:"containerArn"`
		ContainerName string  `json:"containerName"`
		Interactive   bool    `json:"interactive"`
		Session       session `json:"session"`
		TaskArn       string  `json:"taskArn"`
	}{
		ClusterArn: s.ecsClusterARN(cl.ClusterName), ContainerArn: s.ecsTaskJSON(&cl, t).Containers[slices.IndexFunc(t.Containers, func(x ECSContainer) bool { return x.Name == k.Name })].ContainerArn,
		ContainerName: k.Name, Interactive: true, TaskArn: taskARN,
		Session: session{SessionID: sess.ID, StreamURL: s.streamURL(sess.ID), TokenValue: tok},
	}, nil
}
