package ssmtest

import "github.com/ssmssh/ssmssh/ssmtest/agent"

// Pace is how the built-in agents pace what they send to clients: reads
// of at most ReadSize bytes from the session's target, each one payload,
// each followed by Pause. The zero Pace is unpaced. See agent.Pace for
// what the real agent does, with its sources.
type Pace = agent.Pace

// RealAgentPace paces as amazon-ssm-agent does: 1024-byte reads of the
// target, 1 ms of sleep after each, per session (port sessions, basic and
// mux, shell and command output). A session's downloads are then bounded
// by 1024 bytes a millisecond, about 1 MB/s; uploads (what the agent
// writes to its target) are not paced, by the real agent either.
var RealAgentPace = agent.RealPace

// SetAgentPace changes the built-in agents' pace; it acts at once, on
// running sessions too.
func (s *Server) SetAgentPace(p Pace) { s.pace.Set(p) }

// AgentPace returns the built-in agents' pace in force.
func (s *Server) AgentPace() Pace { return s.pace.Get() }
