package ssmtest

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/ssmssh/ssmssh/ssmtest/agent"
)

const externalID = "mi-0123456789abcdef0"

// instanceInfo returns what DescribeInstanceInformation says of one
// instance.
func instanceInfo(t *testing.T, c *ssm.Client, id string) ssmtypes.InstanceInformation {
	t.Helper()
	out, err := c.DescribeInstanceInformation(t.Context(), &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{id}}},
	})
	if err != nil || len(out.InstanceInformationList) != 1 {
		t.Fatalf("DescribeInstanceInformation %s: %v, %d instances", id, err, len(out.InstanceInformationList))
	}
	return out.InstanceInformationList[0]
}

// waitPing polls until the instance reports the ping status (bounded).
func waitPing(t *testing.T, c *ssm.Client, id string, want ssmtypes.PingStatus) ssmtypes.InstanceInformation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info := instanceInfo(t, c, id)
		if info.PingStatus == want {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stays %s, want %s", id, info.PingStatus, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExternalAgentLiveStatus: an instance served by an external agent
// has no built-in agent; it is ConnectionLost until an agent connects for
// it, Online with that agent's version and platform while it is
// connected, and ConnectionLost (keeping the version) once it has gone.
// Sessions need it connected.
func TestExternalAgentLiveStatus(t *testing.T) {
	fleet, err := NewFleet([]Instance{{InstanceID: externalID, Name: "real-agent", ExternalAgent: true,
		PlatformType: "Windows", AgentVersion: "1.0.0.0"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, cfg := startServer(t, Options{Fleet: fleet})
	c := ssm.NewFromConfig(cfg)
	if err := s.StartAgent(externalID); err == nil {
		t.Fatal("StartAgent started a built-in agent for an external instance")
	}
	info := instanceInfo(t, c, externalID)
	if info.PingStatus != ssmtypes.PingStatusConnectionLost || info.LastPingDateTime != nil {
		t.Fatalf("before any agent: %s, last ping %v", info.PingStatus, info.LastPingDateTime)
	}
	if _, err := c.StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(externalID)}); err == nil {
		t.Fatal("StartSession succeeded with no agent connected")
	}

	// The test agent connects as an external one would: with the user's
	// credentials, its own version, "linux".
	ctx, cancel := context.WithCancel(t.Context())
	a := agent.New(agent.Config{
		Endpoint: s.URL(), TLS: s.ClientTLSConfig(), InstanceID: externalID, Version: "3.3.2299.0",
		Credentials: credentials.NewStaticCredentialsProvider(FakeAccessKeyID, FakeSecretAccessKey, ""),
		Region:      s.Region(), Logf: t.Logf,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	info = waitPing(t, c, externalID, ssmtypes.PingStatusOnline)
	if aws.ToString(info.AgentVersion) != "3.3.2299.0" || info.PlatformType != ssmtypes.PlatformTypeLinux ||
		info.LastPingDateTime == nil {
		t.Errorf("connected: version %s, platform %s, last ping %v", aws.ToString(info.AgentVersion),
			info.PlatformType, info.LastPingDateTime)
	}
	out, err := c.DescribeInstanceInformation(t.Context(), &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("AgentVersion"), Values: []string{"3.3.2299.0"}}},
	})
	if err != nil || len(out.InstanceInformationList) != 1 {
		t.Errorf("filter by the live agent version: %v, %d", err, len(out.InstanceInformationList))
	}
	start, err := c.StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(externalID)})
	if err != nil {
		t.Fatalf("StartSession with the agent connected: %v", err)
	}
	if _, err := c.TerminateSession(t.Context(), &ssm.TerminateSessionInput{SessionId: start.SessionId}); err != nil {
		t.Fatal(err)
	}

	cancel()
	<-done
	info = waitPing(t, c, externalID, ssmtypes.PingStatusConnectionLost)
	if aws.ToString(info.AgentVersion) != "3.3.2299.0" || info.LastPingDateTime == nil {
		t.Errorf("gone: version %s, last ping %v", aws.ToString(info.AgentVersion), info.LastPingDateTime)
	}
	if _, err := c.StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(externalID)}); err == nil {
		t.Fatal("StartSession succeeded after the agent left")
	}
}

// TestBuiltinAgentLiveStatus: a built-in agent's instance goes
// ConnectionLost when its agent stops and Online when it starts again;
// the fleet's ping status still overrides.
func TestBuiltinAgentLiveStatus(t *testing.T) {
	s, cfg := startServer(t, Options{})
	c := ssm.NewFromConfig(cfg)
	waitPing(t, c, InstanceUbuntu, ssmtypes.PingStatusOnline)
	s.StopAgent(InstanceUbuntu)
	waitPing(t, c, InstanceUbuntu, ssmtypes.PingStatusConnectionLost)
	if err := s.StartAgent(InstanceUbuntu); err != nil {
		t.Fatal(err)
	}
	info := waitPing(t, c, InstanceUbuntu, ssmtypes.PingStatusOnline)
	if aws.ToString(info.AgentVersion) != DefaultAgentVersion || info.PlatformType != ssmtypes.PlatformTypeLinux {
		t.Errorf("version %s, platform %s", aws.ToString(info.AgentVersion), info.PlatformType)
	}
	// The Windows instance's built-in agent stands in for a Windows one.
	if info := instanceInfo(t, c, InstanceWindows); info.PlatformType != ssmtypes.PlatformTypeWindows {
		t.Errorf("Windows instance reports %s", info.PlatformType)
	}
	if err := s.Fleet().SetPingStatus(InstanceUbuntu, PingInactive); err != nil {
		t.Fatal(err)
	}
	waitPing(t, c, InstanceUbuntu, ssmtypes.PingStatusInactive)
}
