package protocol

import (
	"encoding/json"
	"time"
)

// inSlot is one received stream message.
type inSlot struct {
	seq     int64
	frame   []byte // nil when the slot is empty
	payload []byte // aliases frame
	pt      PayloadType
}

// recvState is the receive half of a Session, guarded by Session.mu.
//
// Messages readSeq..expected-1 have been received in order and wait for
// Recv; messages above expected arrived ahead of a gap. Message seq lives
// in slots[seq % len(slots)]; the acceptance rules keep every live message
// within len(slots) of readSeq.
type recvState struct {
	slots      []inSlot
	readSeq    int64
	expected   int64
	oooCount   int
	readyBytes int // frame bytes of messages readSeq..expected-1
	oooBytes   int
	maxReady   int
	maxAhead   int64
	maxBytes   int
}

func (r *recvState) init(queue, ahead, maxBytes int) {
	r.slots = make([]inSlot, queue+ahead+1)
	r.maxReady, r.maxAhead, r.maxBytes = queue, int64(ahead), maxBytes
}

func (r *recvState) slot(seq int64) *inSlot { return &r.slots[seq%int64(len(r.slots))] }
func (r *recvState) ready() int             { return int(r.expected - r.readSeq) }
func (r *recvState) buffered() int          { return r.ready() + r.oooCount }

// advance moves buffered successors of the in-order messages into the
// ready queue while it has room.
func (r *recvState) advance() {
	for r.ready() < r.maxReady {
		sl := r.slot(r.expected)
		if sl.frame == nil || sl.seq != r.expected {
			return
		}
		n := cap(sl.frame)
		if r.readyBytes > 0 && r.readyBytes+n > r.maxBytes {
			return
		}
		r.oooCount--
		r.oooBytes -= n
		r.readyBytes += n
		r.expected++
	}
}

// readLoop reads frames from one transport generation until it fails.
func (s *Session) readLoop(tr Transport, gen uint64) {
	defer s.wg.Done()
	for {
		frame, err := tr.ReadFrame()
		if err != nil {
			s.transportFailed(gen, err)
			return
		}
		s.handleFrame(frame)
	}
}

// handleFrame processes one frame read from the transport; the session
// owns frame from now on.
func (s *Session) handleFrame(frame []byte) {
	var m Message
	if err := m.UnmarshalBinary(frame); err != nil {
		s.mu.Lock()
		s.stats.Malformed++
		s.mu.Unlock()
		s.logf("protocol: session (%s): dropping frame: %v", s.cfg.Role, err)
		return
	}
	switch m.Type {
	case s.inType:
		s.handleData(&m, frame)
	case TypeAcknowledge:
		s.handleAck(&m)
	case TypeChannelClosed:
		s.handleChannelClosed(&m)
	case TypePausePublication:
		s.mu.Lock()
		s.paused = true
		s.mu.Unlock()
		s.logf("protocol: session (%s): publication paused", s.cfg.Role)
	case TypeStartPublication:
		s.unpause()
		s.logf("protocol: session (%s): publication started", s.cfg.Role)
	default:
		// agent_session_state (the client has no use for it), the other
		// direction's stream type, and anything new.
		s.mu.Lock()
		s.stats.Ignored++
		s.mu.Unlock()
		if m.Type != TypeAgentSessionState {
			s.logf("protocol: session (%s): ignoring %q message", s.cfg.Role, m.Type)
		}
	}
}

// resumesOnTrafficLocked lifts a pause on incoming data or an
// acknowledgement, for an agent, and reports whether it did. The real
// agent resumes so (agent session/datachannel handleStreamDataMessage and
// handleAcknowledgeMessage clear its Pause), and the built-in agent does
// as it does. A client holds a pause until start_publication or a new
// websocket: the service pauses a client that sends too many messages a
// second, and a client that went on at the next acknowledgement, which a
// busy upload receives every millisecond, would not slow down at all.
func (s *Session) resumesOnTrafficLocked() bool {
	if !s.paused || s.cfg.Role != RoleAgent {
		return false
	}
	s.paused = false
	return true
}

// unpause resumes publication.
func (s *Session) unpause() {
	s.mu.Lock()
	was := s.paused
	s.paused = false
	if was {
		s.sendCond.Broadcast()
	}
	s.mu.Unlock()
	if was {
		s.notify()
	}
}

// handleData applies the receiver rules to one stream message.
func (s *Session) handleData(m *Message, frame []byte) {
	r := &s.rcv
	n := cap(frame)
	seq := m.SequenceNumber
	s.mu.Lock()
	unpaused := s.resumesOnTrafficLocked()
	ack := true
	switch {
	case seq < r.expected:
		s.stats.Duplicates++
	case seq == r.expected:
		if r.ready() >= r.maxReady || (r.readyBytes > 0 && r.readyBytes+n > r.maxBytes) {
			ack = false
			s.stats.Dropped++
			break
		}
		*r.slot(seq) = inSlot{seq: seq, frame: frame, payload: m.Payload, pt: m.PayloadType}
		r.readyBytes += n
		r.expected++
		r.advance()
		s.recvCond.Signal()
	default: // seq > expected
		if seq-r.expected > r.maxAhead || (r.oooBytes > 0 && r.oooBytes+n > r.maxBytes) {
			ack = false
			s.stats.Dropped++
			break
		}
		sl := r.slot(seq)
		if sl.frame != nil {
			s.stats.Duplicates++
			break
		}
		*sl = inSlot{seq: seq, frame: frame, payload: m.Payload, pt: m.PayloadType}
		r.oooCount++
		r.oooBytes += n
		s.stats.OutOfOrder++
	}
	if b := r.buffered(); b > s.stats.PeakBuffered {
		s.stats.PeakBuffered = b
	}
	if b := r.readyBytes + r.oooBytes; b > s.stats.PeakBufferedBytes {
		s.stats.PeakBufferedBytes = b
	}
	if ack && !s.snd.pushAck(seq, m.MessageID) {
		s.stats.AcksDropped++
	}
	if unpaused {
		s.sendCond.Broadcast()
	}
	s.mu.Unlock()
	s.notify()
}

// handleAck processes an acknowledgement.
func (s *Session) handleAck(m *Message) {
	seq, err := parseAckSequence(m.Payload)
	if err != nil {
		s.mu.Lock()
		s.stats.Malformed++
		s.mu.Unlock()
		s.logf("protocol: session (%s): dropping acknowledgement: %v", s.cfg.Role, err)
		return
	}
	now := time.Now()
	s.mu.Lock()
	unpaused := s.resumesOnTrafficLocked()
	s.stats.AcksReceived++
	base := s.snd.ackBase
	fresh := s.snd.ack(seq, now)
	if s.snd.ackBase != base || unpaused {
		s.sendCond.Broadcast()
	}
	// Wake the writer when this ack lifts a pause, or may reveal a loss or
	// move the probe deadline (messages are still outstanding).
	wake := unpaused || (fresh && s.snd.ackBase < s.snd.sentSeq)
	s.mu.Unlock()
	if wake {
		s.notify()
	}
}

// handleChannelClosed ends the session with the service's reason.
func (s *Session) handleChannelClosed(m *Message) {
	var cc ChannelClosed
	if err := json.Unmarshal(m.Payload, &cc); err != nil {
		s.logf("protocol: session (%s): channel_closed with unreadable payload: %v", s.cfg.Role, err)
	}
	s.fail(&ChannelClosedError{Output: cc.Output, SessionID: cc.SessionID})
}

// Recv returns the next stream message in the peer's order; the payload
// belongs to the caller. Once the session has ended it first returns the
// messages already received in order, then the reason: a
// *ChannelClosedError, io.EOF when the transport ended cleanly with no
// Reconnect, ErrNotAcknowledged, or the transport or reconnect error.
// After Close it returns ErrSessionClosed at once.
func (s *Session) Recv() (PayloadType, []byte, error) {
	r := &s.rcv
	s.mu.Lock()
	for r.ready() == 0 {
		if s.terminal != nil {
			err := s.endErrLocked()
			s.mu.Unlock()
			return 0, nil, err
		}
		s.recvCond.Wait()
	}
	if s.closed {
		s.mu.Unlock()
		return 0, nil, ErrSessionClosed
	}
	sl := r.slot(r.readSeq)
	pt, p := sl.pt, sl.payload
	r.readyBytes -= cap(sl.frame)
	*sl = inSlot{}
	r.readSeq++
	r.advance()
	s.stats.Received++
	s.mu.Unlock()
	return pt, p, nil
}
