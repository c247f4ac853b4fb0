package ssmtest

import (
	"strings"
	"time"
)

// What DescribeInstanceInformation says about an instance's agent is live,
// as SSM's is: the instance is Online while a control channel for its id
// is connected to the gateway and ConnectionLost once it has dropped (the
// service takes a few minutes of missed pings to notice; the emulator
// knows at once). The agent version, and for an instance served by an
// external agent the platform type, are what the agent said when it last
// opened its control channel (OpenControlChannelInput's AgentVersion and
// PlatformType: amazon-ssm-agent sends its own version and "linux",
// "windows" or "macos", agent/session/controlchannel and agent/platform).
//
// The fleet's PingStatus stays an override: an instance the fleet has
// ConnectionLost or Inactive (or not running) is reported so whatever its
// built-in agent does, so that tests can take an agent away without
// stopping it.

// agentSeen is what the gateway knows about an instance's agent.
type agentSeen struct {
	connected bool
	version   string
	platform  string    // as the agent says it: "linux", "windows", "macos"
	last      time.Time // when it connected, or when it dropped
}

// sawAgent records a control channel opening (connected) or ending.
func (g *gateway) sawAgent(al *agentLink, connected bool) {
	now := g.s.clock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = make(map[string]agentSeen)
	}
	g.seen[al.instanceID] = agentSeen{connected: connected, version: al.agentVersion, platform: al.platform, last: now}
}

// agentSeen returns what is known of an instance's agent; ok is false when
// no agent ever connected for it.
func (g *gateway) agentSeen(id string) (agentSeen, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.seen[id]
	return a, ok
}

// agentStatus is an instance's agent as SSM reports it now: its ping
// status, agent version, platform type and last ping time.
func (s *Server) agentStatus(inst *Instance, now time.Time) (ping, version, platform string, last time.Time) {
	ping, version, platform, last = inst.PingStatus, inst.AgentVersion, inst.PlatformType, now
	seen, ok := s.gw.agentSeen(inst.InstanceID)
	if ok && seen.version != "" {
		version = seen.version
	}
	if ok && inst.ExternalAgent {
		if p := platformTypeOf(seen.platform); p != "" {
			platform = p
		}
	}
	switch {
	case inst.State != StateRunning || inst.PingStatus != PingOnline:
		last = now.Add(-3 * time.Hour)
		if ok && !seen.connected {
			last = seen.last
		}
	case ok && seen.connected:
		ping = PingOnline
	case ok:
		ping, last = PingConnectionLost, seen.last
	default:
		// No agent has ever connected: an external agent that has not
		// started yet, or a built-in one that was never started.
		ping, last = PingConnectionLost, time.Time{}
	}
	return ping, version, platform, last
}

// platformTypeOf maps the platform an agent announces to SSM's
// PlatformType ("" if unknown).
func platformTypeOf(agentPlatform string) string {
	switch strings.ToLower(agentPlatform) {
	case "linux":
		return "Linux"
	case "windows":
		return "Windows"
	case "macos", "darwin":
		return "MacOS"
	}
	return ""
}
