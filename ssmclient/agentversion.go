package ssmclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ssmssh/ssmssh/protocol"
)

// Documents of the shell and command sessions.
const (
	DocumentRunShell              = "SSM-SessionManagerRunShell"
	DocumentInteractiveCommand    = "AWS-StartInteractiveCommand"
	DocumentNonInteractiveCommand = "AWS-StartNonInteractiveCommand"
)

// Agent versions sessions need. The port documents' minimums are the
// ones the Session Manager documentation states; the command ones are
// the agent releases whose notes added the session type (2.3.668.0:
// InteractiveCommands plugin; 3.0.1124.0: NonInteractiveCommands;
// 3.1.1511.0: separate output streams, which carry the exit status).
const (
	AgentVersionPort                 = "2.3.672.0"
	AgentVersionRemoteHost           = "3.1.1374.0"
	AgentVersionInteractiveCommands  = "2.3.668.0"
	AgentVersionNonInteractive       = "3.0.1124.0"
	AgentVersionSeparateOutputStream = "3.1.1511.0"
)

// Requirement is the oldest agent a session needs, and what for.
type Requirement struct {
	// Version is the oldest agent version; empty when any agent will do.
	Version string
	// Feature names what needs it ("port forwarding to a remote host").
	Feature string
}

// MinAgentVersion returns the oldest agent that runs a session of
// document with params (SESSIONS.md section 1). Shells, and documents it
// does not know, need no particular version.
func MinAgentVersion(document string, params map[string][]string) Requirement {
	switch document {
	case DocumentSSH:
		return Requirement{AgentVersionPort, "SSH sessions (" + document + ")"}
	case DocumentPortForwarding:
		return Requirement{AgentVersionPort, "port forwarding (" + document + ")"}
	case DocumentPortForwardingRemote:
		return Requirement{AgentVersionRemoteHost, "port forwarding to a remote host (" + document + ")"}
	case DocumentInteractiveCommand:
		return Requirement{AgentVersionInteractiveCommands, "interactive commands (" + document + ")"}
	case DocumentNonInteractiveCommand:
		if v := params["separateOutputStream"]; len(v) > 0 && strings.EqualFold(v[0], "true") {
			return Requirement{AgentVersionSeparateOutputStream, "commands with separate stdout, stderr and exit status (" + document + " with separateOutputStream=true)"}
		}
		return Requirement{AgentVersionNonInteractive, "non-interactive commands (" + document + ")"}
	}
	return Requirement{}
}

// AgentTooOldError reports that the target's agent is older than a
// session needs.
type AgentTooOldError struct {
	Target  string
	Version string // the agent's version, from DescribeInstanceInformation
	Need    Requirement
}

func (e *AgentTooOldError) Error() string {
	return fmt.Sprintf("ssmclient: the SSM agent on %s is version %s; %s needs %s or later: update the agent (for example with the AWS-UpdateSSMAgent document)",
		e.Target, e.Version, e.Need.Feature, e.Need.Version)
}

// agentInfoTimeout bounds the DescribeInstanceInformation call.
const agentInfoTimeout = 10 * time.Second

// AgentVersion returns the version of target's agent as
// DescribeInstanceInformation reports it, and "" when the target is not a
// managed node SSM lists (or is an ECS container, whose agent SSM does
// not list).
func (c *Client) AgentVersion(ctx context.Context, target Target) (string, error) {
	if target.Kind == KindECS {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, agentInfoTimeout)
	defer cancel()
	out, err := c.SSM.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []types.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{target.ID}}},
	})
	if err != nil {
		return "", Explain(err)
	}
	for _, info := range out.InstanceInformationList {
		if aws.ToString(info.InstanceId) == target.ID {
			return aws.ToString(info.AgentVersion), nil
		}
	}
	return "", nil
}

// CheckAgent refuses, with an [*AgentTooOldError], a session of document
// with params whose target's agent is too old for it, instead of the
// cryptic failure the agent would give. A target SSM does not list, an
// ECS target, or a failed lookup (no ssm:DescribeInstanceInformation
// permission, say; logged) are let through: StartSession reports those
// better.
func (c *Client) CheckAgent(ctx context.Context, target Target, document string, params map[string][]string, logf func(string, ...any)) error {
	need := MinAgentVersion(document, params)
	if need.Version == "" || target.Kind == KindECS {
		return nil
	}
	v, err := c.AgentVersion(ctx, target)
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case err != nil:
		if logf != nil {
			logf("ssmclient: agent version of %s unknown: %v", target.ID, err)
		}
		return nil
	case v == "":
		return nil
	}
	if logf != nil {
		logf("ssmclient: %s runs agent %s", target.ID, v)
	}
	if protocol.CompareVersions(v, need.Version) < 0 {
		return &AgentTooOldError{Target: target.ID, Version: v, Need: need}
	}
	return nil
}
