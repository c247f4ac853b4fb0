package ssmtest

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// ECS in the fleet. A container whose task runs with execute command
// enabled has its own Session Manager agent (the ECS agent starts one
// inside it), reached at the target ecs:<cluster>_<task-id>_<runtime-id>.
// The emulator serves each such container as a machine of its own: it is
// found by Fleet.Instance and Fleet.Update under its target (so SetPort
// and the like work on it) and has a built-in agent, but EC2 and SSM's
// instance listings do not show it, as they do not show containers.

// ECS task and container states used by the fleet.
const (
	ECSRunning = "RUNNING"
	ECSStopped = "STOPPED"
)

// ECSCluster is an ECS cluster with its tasks.
type ECSCluster struct {
	ClusterName string    `json:"ClusterName"`
	Tasks       []ECSTask `json:"Tasks,omitempty"`
}

// ECSTask is one task of a cluster.
type ECSTask struct {
	// TaskID is 32 hex digits (the last element of the task ARN).
	TaskID string `json:"TaskId"`
	// TaskDefinition is "family:revision" (default "app:1").
	TaskDefinition string `json:"TaskDefinition,omitempty"`
	// LaunchType is FARGATE (default) or EC2.
	LaunchType string `json:"LaunchType,omitempty"`
	// LastStatus is RUNNING (default) or STOPPED.
	LastStatus string `json:"LastStatus,omitempty"`
	// ExecuteCommandDisabled runs the task without execute command
	// (enableExecuteCommand false): its containers have no agent, and
	// ExecuteCommand fails as ECS fails it.
	ExecuteCommandDisabled bool           `json:"ExecuteCommandDisabled,omitempty"`
	Containers             []ECSContainer `json:"Containers"`
}

// ECSContainer is one container of a task.
type ECSContainer struct {
	Name string `json:"Name"`
	// RuntimeID is the container runtime id (default: Fargate's form,
	// "<task id>-<10 digits>").
	RuntimeID string `json:"RuntimeId,omitempty"`
	Image     string `json:"Image,omitempty"`
	// Ports, RemoteHosts and Users are as for an Instance: what
	// localhost:<port> in the container leads to, the remote hosts it
	// reaches, the OS users it has.
	Ports       map[string]string `json:"Ports,omitempty"`
	RemoteHosts map[string]string `json:"RemoteHosts,omitempty"`
	Users       []string          `json:"Users,omitempty"`
}

var (
	ecsClusterPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	ecsTaskIDPattern  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	ecsRuntimePattern = regexp.MustCompile(`^[0-9a-f]{12,64}(?:-[0-9]+)?$`)
	ecsNamePattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// ECSTarget is the Session Manager target of a container.
func ECSTarget(cluster, taskID, runtimeID string) string {
	return "ecs:" + cluster + "_" + taskID + "_" + runtimeID
}

// IsECSContainer reports whether the instance is an ECS container (its
// id is an ecs: target).
func (in *Instance) IsECSContainer() bool { return strings.HasPrefix(in.InstanceID, "ecs:") }

func (c *ECSCluster) clone() ECSCluster {
	out := ECSCluster{ClusterName: c.ClusterName, Tasks: slices.Clone(c.Tasks)}
	for i := range out.Tasks {
		t := &out.Tasks[i]
		t.Containers = slices.Clone(t.Containers)
		for j := range t.Containers {
			k := &t.Containers[j]
			k.Ports, k.RemoteHosts, k.Users = maps.Clone(k.Ports), maps.Clone(k.RemoteHosts), slices.Clone(k.Users)
		}
	}
	return out
}

// normalizeCluster checks a cluster and fills in its defaults.
func normalizeCluster(c *ECSCluster) error {
	if !ecsClusterPattern.MatchString(c.ClusterName) {
		return fmt.Errorf("ssmtest: fleet: ECS cluster name %q is not 1-255 letters, digits, - and _", c.ClusterName)
	}
	seen := map[string]bool{}
	for i := range c.Tasks {
		t := &c.Tasks[i]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("ssmtest: fleet: ECS task %s/%s: "+format, append([]any{c.ClusterName, t.TaskID}, args...)...)
		}
		if !ecsTaskIDPattern.MatchString(t.TaskID) {
			return bad("the task id is not 32 hex digits")
		}
		if seen[t.TaskID] {
			return bad("defined twice")
		}
		seen[t.TaskID] = true
		if t.TaskDefinition == "" {
			t.TaskDefinition = "app:1"
		}
		if t.LaunchType == "" {
			t.LaunchType = "FARGATE"
		}
		if t.LaunchType != "FARGATE" && t.LaunchType != "EC2" {
			return bad("unknown launch type %q", t.LaunchType)
		}
		if t.LastStatus == "" {
			t.LastStatus = ECSRunning
		}
		if t.LastStatus != ECSRunning && t.LastStatus != ECSStopped {
			return bad("unknown status %q", t.LastStatus)
		}
		if len(t.Containers) == 0 {
			return bad("no containers")
		}
		names := map[string]bool{}
		for j := range t.Containers {
			k := &t.Containers[j]
			if !ecsNamePattern.MatchString(k.Name) || names[k.Name] {
				return bad("container name %q is invalid or defined twice", k.Name)
			}
			names[k.Name] = true
			if k.RuntimeID == "" {
				k.RuntimeID = fmt.Sprintf("%s-%010d", t.TaskID, 1000000000+j)
			}
			if !ecsRuntimePattern.MatchString(k.RuntimeID) {
				return bad("container %s: runtime id %q is not hex (with an optional -<digits>)", k.Name, k.RuntimeID)
			}
			if k.Image == "" {
				k.Image = "public.ecr.aws/docker/library/busybox:latest"
			}
		}
	}
	return nil
}

// containerInstance is the machine standing in for a container.
func containerInstance(c *ECSCluster, t *ECSTask, k *ECSContainer) Instance {
	in := Instance{
		InstanceID: ECSTarget(c.ClusterName, t.TaskID, k.RuntimeID), Name: k.Name,
		State: StateRunning, PingStatus: PingOnline, AgentVersion: DefaultAgentVersion,
		PlatformType: "Linux", PlatformName: "Amazon ECS container", InstanceType: t.LaunchType,
		LaunchTime:  defaultLaunch,
		Ports:       maps.Clone(k.Ports),
		RemoteHosts: maps.Clone(k.RemoteHosts), Users: slices.Clone(k.Users),
	}
	if t.LastStatus != ECSRunning || t.ExecuteCommandDisabled {
		in.PingStatus = PingConnectionLost
	}
	return in
}

// AddECSCluster checks a cluster, fills in its defaults and adds it, with
// a machine for each of its containers.
func (f *Fleet) AddECSCluster(c ECSCluster) error {
	c = c.clone()
	if err := normalizeCluster(&c); err != nil {
		return err
	}
	var machines []*Instance
	for i := range c.Tasks {
		t := &c.Tasks[i]
		for j := range t.Containers {
			in := containerInstance(&c, t, &t.Containers[j])
			if err := normalizeInstance(&in); err != nil {
				return err
			}
			machines = append(machines, &in)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, have := range f.clusters {
		if have.ClusterName == c.ClusterName {
			return fmt.Errorf("ssmtest: fleet: ECS cluster %s defined twice", c.ClusterName)
		}
	}
	f.clusters = append(f.clusters, &c)
	f.containers = append(f.containers, machines...)
	return nil
}

// ECSClusters returns copies of the fleet's ECS clusters.
func (f *Fleet) ECSClusters() []ECSCluster {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]ECSCluster, 0, len(f.clusters))
	for _, c := range f.clusters {
		out = append(out, c.clone())
	}
	return out
}

// ECSCluster returns a copy of the named cluster.
func (f *Fleet) ECSCluster(name string) (ECSCluster, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, c := range f.clusters {
		if c.ClusterName == name {
			return c.clone(), true
		}
	}
	return ECSCluster{}, false
}

// Containers returns copies of the machines standing in for the fleet's
// ECS containers (see Instances for the instances).
func (f *Fleet) Containers() []Instance {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Instance, 0, len(f.containers))
	for _, in := range f.containers {
		out = append(out, in.clone())
	}
	return out
}

// The ECS part of DefaultFleet: cluster DefaultECSCluster has a Fargate
// task ECSTaskWeb (containers "web", whose port 22 leads to the built-in
// SSH server, and "log-router") with execute command enabled, and a task
// ECSTaskNoExec running without it.
const (
	DefaultECSCluster = "demo"
	ECSTaskWeb        = "0a1b2c3d4e5f4a5b8c7d6e5f40302010"
	ECSTaskNoExec     = "0a1b2c3d4e5f4a5b8c7d6e5f40302011"
	ECSContainerWeb   = "web"
	ECSContainerLog   = "log-router"
	ECSRuntimeWeb     = ECSTaskWeb + "-1000000000"
	// ECSTargetWeb is the Session Manager target of the "web" container.
	ECSTargetWeb = "ecs:" + DefaultECSCluster + "_" + ECSTaskWeb + "_" + ECSRuntimeWeb
)

func defaultECSCluster() ECSCluster {
	return ECSCluster{ClusterName: DefaultECSCluster, Tasks: []ECSTask{
		{TaskID: ECSTaskWeb, TaskDefinition: "web:7", Containers: []ECSContainer{
			{Name: ECSContainerWeb, Image: "public.ecr.aws/nginx/nginx:1.27", Ports: map[string]string{"22": BuiltinSSH}, Users: []string{"root"}},
			{Name: ECSContainerLog, Image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable", Users: []string{"root"}},
		}},
		{TaskID: ECSTaskNoExec, TaskDefinition: "batch:2", ExecuteCommandDisabled: true, Containers: []ECSContainer{
			{Name: "batch", Users: []string{"root"}},
		}},
	}}
}
