package ssmtest

import (
	"maps"
	"sync"
)

// callCounter counts the API calls the server answered, per "service
// Action".
type callCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *callCounter) add(service, action string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[service+" "+action]++
}

// APICalls returns how many calls of each API operation reached the
// server since it started, keyed "service Action" ("ec2
// DescribeInstances", "ssm StartSession"), refused ones included: a test
// of start-up counts the round trips a client made.
func (s *Server) APICalls() map[string]int {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return maps.Clone(s.calls.n)
}

// takeStartRefusal reports whether this StartSession is to be refused
// (FaultSet.RefuseStartSessions), counting it.
func (f *Faults) takeStartRefusal() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.set.RefuseStartSessions <= 0:
		return false
	case f.set.RefuseStartSessionsAfter > 0:
		f.set.RefuseStartSessionsAfter--
		return false
	}
	f.set.RefuseStartSessions--
	return true
}
