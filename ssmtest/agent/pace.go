package agent

import (
	"sync/atomic"
	"time"
)

// Pace is how the agent paces what it reads from a session's target and
// sends to the client: reads of at most ReadSize bytes, each sent as one
// payload and followed by a pause of Pause.
//
// The real agent paces so (agent 3.3, checked in its public source): its
// port plugin's basic-mode pump (plugins/port/port_basic.go, WritePump)
// and mux-mode pump (port_mux.go, transferDataToMgs) and its shell
// plugin's terminal and command-output pump (shell/shell.go, writePump,
// which also serves NonInteractiveCommands without separate output
// streams) read StreamDataPayloadSize (1024) bytes at a time and call
// time.Sleep(time.Millisecond) after every read, per session. Agent to
// client is therefore at most 1024 bytes a millisecond (~1 MB/s, less
// the time a read, a send and the sleep's own overshoot take) whatever
// the client does. The exceptions, which this package follows too:
//
//   - NonInteractiveCommands with separateOutputStream read stdout and
//     stderr in pipeline goroutines (setupRoutineToWriteCmdPipelineOutput)
//     that do not sleep;
//   - what the agent writes to its target (the client's uploads) is not
//     paced at all: each client payload is written as it arrives.
//
// The zero Pace is unpaced: the runners read as much as is there (a basic
// Port session up to 32 KiB a read, cut into 1024-byte payloads), which
// keeps bulk tests fast.
type Pace struct {
	// ReadSize bounds each read from the target (0: the runner's
	// unpaced read size). The real agent's is 1024.
	ReadSize int
	// Pause follows every read (0: none). The real agent's is 1 ms.
	Pause time.Duration
}

// RealPace is the real agent's pace: 1024-byte reads, 1 ms after each.
var RealPace = Pace{ReadSize: chunkSize, Pause: time.Millisecond}

// Paced reports whether p paces at all.
func (p Pace) Paced() bool { return p.ReadSize > 0 || p.Pause > 0 }

// Pacer applies a Pace that may change while sessions run. The zero
// Pacer (and a nil one) is unpaced.
type Pacer struct {
	// Pace returns the pace in force; it is read before every read, so a
	// change acts on running sessions at once. nil is unpaced.
	Pace func() Pace
	// Sleep pauses after a read (nil: time.Sleep); tests inject a
	// recorder to check the pauses without sleeping.
	Sleep func(time.Duration)
}

// current returns the pace in force.
func (p *Pacer) current() Pace {
	if p == nil || p.Pace == nil {
		return Pace{}
	}
	return p.Pace()
}

// readSize is how much to read next: the pace's ReadSize, or unpaced when
// the pace sets none.
func (p *Pacer) readSize(unpaced int) int {
	if n := p.current().ReadSize; n > 0 {
		return min(n, unpaced)
	}
	return unpaced
}

// pause sleeps the pace's Pause, if any, after a read.
func (p *Pacer) pause() {
	d := p.current().Pause
	if d <= 0 {
		return
	}
	if p.Sleep != nil {
		p.Sleep(d)
		return
	}
	time.Sleep(d)
}

// PaceSetting holds a Pace that can be changed while sessions run; its
// Get is a Pacer's Pace.
type PaceSetting struct{ v atomic.Pointer[Pace] }

// Set makes p the pace in force.
func (s *PaceSetting) Set(p Pace) { s.v.Store(&p) }

// Get returns the pace in force (unpaced until Set).
func (s *PaceSetting) Get() Pace {
	if p := s.v.Load(); p != nil {
		return *p
	}
	return Pace{}
}
