package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// The reliable session, as implemented here (both roles). Section 6 of the
// project's PROTOCOL.md is the summary; this is the precise behaviour, with
// what the public agent (amazon-ssm-agent 3.3, agent/session/datachannel)
// and client (session-manager-plugin 1.2, src/datachannel) sources do:
//
// Stream messages. The client sends input_stream_data and receives
// output_stream_data; the agent the reverse. Each direction numbers its
// messages 0, 1, 2, … The agent sets Flags=SYN (1) on its message 0 and 0
// on the others; the client always sends Flags=0. We do the same per role.
// An empty payload is never sent (the agent skips empty payloads too).
//
// Acknowledgement. Every stream message received is acknowledged with an
// "acknowledge" frame: SequenceNumber 0, Flags 3, PayloadType 0, a fresh
// MessageId, payload
//
//	{"AcknowledgedMessageType":"<received type>","AcknowledgedMessageId":"<its id>",
//	 "AcknowledgedMessageSequenceNumber":<its seq>,"IsSequentialMessage":true}
//
// (one line, in that key order, as both peers' JSON encoders produce it).
// Senders match acks by sequence number only. Non-stream frames
// (agent_session_state, channel_closed, …) also carry SequenceNumber 0 and
// Flags 3 and are never acknowledged.
//
// Receiving. seq == expected: deliver, acknowledge, advance, then deliver
// buffered successors. seq > expected: acknowledge and buffer. seq <
// expected: acknowledge again and drop. When a buffer is full the message
// is dropped without an acknowledgement, so the peer retransmits it later.
// PROTOCOL.md says both ends re-acknowledge duplicates; in the sources only
// the agent does — the plugin silently ignores seq < expected, so a lost ack
// of the plugin's makes the agent resend that message forever. We always
// re-acknowledge.
//
// Sending and retransmission. Sent messages stay in a window of at most
// SessionConfig.Window unacknowledged messages; Send blocks while it is
// full. The RTT estimator is the agent's: RTT 100 ms and RTTVAR 0 at start,
// RTO 200 ms; on each sample r, RTTVAR = ¾·RTTVAR + ¼·|RTT−r|,
// RTT = ⅞·RTT + ⅛·r, RTO = RTT + max(10 ms, 4·RTTVAR), at most 1 s. Unlike
// the agent we take samples only from messages sent once (Karn's rule); the
// agent measures from the latest resend. The agent and plugin run a 100 ms
// scheduler that resends only the oldest unacknowledged message once its
// RTO has passed (so one lost message costs one RTO, and n lost messages n
// RTOs, one after the other). We keep the agent's probe and add loss
// detection from acknowledgements received out of order:
//
//   - a message is lost, and resent at once, when a message transmitted
//     after it has been acknowledged and RTT + RTT/4 has passed since it
//     was transmitted (RACK, RFC 8985, in its simple form); all such
//     messages are resent oldest first, so a burst of losses costs one
//     round trip instead of one RTO each. Only acknowledgements of
//     messages sent once count here: that of a resent message may be
//     for its first transmission, and taking it for the resend made a
//     peer that is merely slow to acknowledge (a loaded agent) receive
//     most of a transfer twice;
//   - messages already acknowledged out of order are never resent;
//   - when the oldest unacknowledged message has waited RTO without any
//     of this evidence, it alone is resent (the agent's probe), with the
//     interval doubling on each fruitless probe up to 1 s and reset by any
//     new acknowledgement. This is what keeps a withheld ack working: the
//     agent does not acknowledge (nor buffer) the message it expects while
//     its target is not ready (ErrHandlerNotReady), so the sender must
//     keep resending until it is acknowledged.
//
// SessionConfig.MaxResendAttempts bounds resends of one message (the
// plugin gives up after 3000, the agent never does). Two details of the
// real senders that PROTOCOL.md does not mention: the plugin never records
// the time of a resend (it updates a copy of the buffered entry), so once
// its oldest message is past the RTO it resends it on every 100 ms tick —
// its 3000 attempts are 5 minutes; and the agent keeps at most 100000
// unacknowledged messages, silently not buffering (so never resending)
// any beyond that.
//
// Publication pause. pause_publication stops new stream messages and
// resends (acknowledgements still flow) until start_publication arrives or
// a reconnect brings a new websocket. An agent also resumes on any incoming
// stream message or acknowledgement, as the real agent does; a client does
// not, since the service pauses a client that sends too fast and an upload
// receives acknowledgements all the time. The plugin ignores both messages.
//
// Reconnection. When the transport fails and SessionConfig.Reconnect is
// set, the session obtains a new transport (a ResumeSession and a new
// websocket for the client, a new data-channel token for the agent),
// keeps both sequence counters, resends every unacknowledged message in
// order at once, and carries on. Both real peers do the same.
//
// channel_closed. The service sends it when the session ends; its Output
// is the text the plugin prints. Recv returns the in-order data received
// before it and then a *ChannelClosedError.
//
// Malformed frames (bad length, digest, …) and frames of unknown or
// unexpected types are logged through SessionConfig.Logf and dropped.

// Role says which end of the data channel a Session plays.
type Role int

const (
	// RoleClient sends input_stream_data and receives output_stream_data,
	// as the session-manager-plugin does.
	RoleClient Role = iota
	// RoleAgent sends output_stream_data (SYN on message 0) and receives
	// input_stream_data, as amazon-ssm-agent does.
	RoleAgent
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleAgent:
		return "agent"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Defaults of SessionConfig.
//
// DefaultWindow bounds the data in flight: 2048 messages of the 1024-byte
// payloads both peers send are 2 MiB, the bandwidth-delay product of
// 50 MiB/s at 40 ms round-trip time, about what OpenSSH's own 2 MiB
// channel window allows over such a link anyway. The plugin allows 10000
// unacknowledged messages and the agent 100000; we stop lower to keep a
// ProxyCommand small (each one holds its window in memory).
const (
	DefaultWindow            = 2048
	DefaultRecvQueue         = 4096
	DefaultMaxOutOfOrder     = 4096
	DefaultMaxBufferedBytes  = 16 << 20
	DefaultReconnectAttempts = 5
)

// Retransmission constants (the agent's).
const (
	initialRTT       = 100 * time.Millisecond
	initialRTO       = 200 * time.Millisecond
	clockGranularity = 10 * time.Millisecond
	maxRTO           = time.Second
)

// SessionConfig configures a Session. The zero value is a client session
// with the defaults.
type SessionConfig struct {
	Role Role
	// Logf receives diagnostics (malformed frames, reconnects, pauses);
	// nil discards them. It is never called per message in the normal case,
	// may be called with the session's lock held, and so must not call
	// back into the Session.
	Logf func(format string, args ...any)

	// Window is the maximum number of unacknowledged outgoing messages
	// (default DefaultWindow). Send blocks while the window is full.
	Window int
	// RecvQueue is the maximum number of in-order messages received but
	// not yet returned by Recv (default DefaultRecvQueue). When it is full
	// the next message is dropped unacknowledged and the peer retransmits
	// it later, so a slow reader costs throughput, never memory.
	RecvQueue int
	// MaxOutOfOrder is how far ahead of the next expected message a
	// message may be and still be buffered (default DefaultMaxOutOfOrder);
	// further ones are dropped unacknowledged. The agent buffers up to
	// 100000 and resends only its oldest unacknowledged message every
	// 100 ms or more, so this buffer should cover the agent's data in
	// flight: what it drops comes back slowly.
	MaxOutOfOrder int
	// MaxBufferedBytes bounds the frame bytes held for Recv and, separately,
	// those held out of order (default DefaultMaxBufferedBytes each). A
	// message that would exceed it is dropped unacknowledged, unless its
	// buffer is empty.
	MaxBufferedBytes int

	// Reconnect, when set, is called after the transport fails to obtain a
	// new one (for a client: ResumeSession and a new websocket). It is
	// tried up to ReconnectAttempts times with exponential backoff from
	// 100 ms to 5 s; its context is cancelled by Close. An error wrapping
	// ErrReconnectRefused ends the session at once: trying again cannot
	// help (the session is gone, the credentials have expired). Nil means
	// a transport failure ends the session.
	Reconnect func(ctx context.Context) (Transport, error)
	// ReconnectAttempts bounds the calls to Reconnect per failure (default
	// DefaultReconnectAttempts, as both real peers do).
	ReconnectAttempts int

	// MaxResendAttempts, when positive, ends the session with
	// ErrNotAcknowledged once one message has been resent that many times
	// (the plugin uses 3000). Zero resends forever, as the agent does.
	MaxResendAttempts int
}

// ErrSessionClosed is returned by Session methods after Close.
var ErrSessionClosed = errors.New("protocol: session closed")

// ErrNotAcknowledged is matched (errors.Is) by the error that ends a
// session whose peer stopped acknowledging (SessionConfig.MaxResendAttempts).
var ErrNotAcknowledged = errors.New("protocol: session: peer stopped acknowledging")

// ChannelClosedError is returned once the service has closed the data
// channel (a channel_closed message). Output is the reason the service
// gave, meant for the user; it may be empty.
type ChannelClosedError struct {
	Output    string
	SessionID string
}

func (e *ChannelClosedError) Error() string {
	if e.Output == "" {
		return "protocol: channel closed"
	}
	return "protocol: channel closed: " + e.Output
}

// SessionStats is a snapshot of a Session's counters.
type SessionStats struct {
	Sent         uint64 // stream messages sent for the first time
	Resent       uint64 // retransmissions, including those after a reconnect
	Received     uint64 // stream messages delivered in order
	Duplicates   uint64 // stream messages received again (re-acknowledged)
	OutOfOrder   uint64 // stream messages buffered ahead of a gap
	Dropped      uint64 // stream messages dropped unacknowledged: buffers full
	AcksSent     uint64
	AcksReceived uint64
	AcksDropped  uint64 // acknowledgements not sent: queue full (the peer resends)
	Malformed    uint64 // frames that failed to decode
	Ignored      uint64 // frames of unknown or unexpected types
	Reconnects   uint64

	RTT      time.Duration // smoothed round-trip time
	RTO      time.Duration // current retransmission timeout
	Unacked  int           // messages sent or queued, not yet acknowledged
	Buffered int           // messages received, not yet returned by Recv

	PeakUnacked       int // high-water marks, for checking memory bounds
	PeakBuffered      int
	PeakBufferedBytes int
}

// Session is the reliable message layer of a data channel: it numbers,
// acknowledges, reorders and retransmits stream messages over a Transport,
// and replaces the transport when it fails (see SessionConfig.Reconnect).
// It implements MessageStream. Send, Recv, SendControl, Flush, Stats and
// Close may be called concurrently.
type Session struct {
	cfg     SessionConfig
	logf    func(string, ...any)
	inType  string // stream message type received
	outType string // stream message type sent

	ctx    context.Context // for Reconnect; cancelled by Close
	cancel context.CancelFunc
	wake   chan struct{} // nudges the writer; capacity 1
	stop   chan struct{} // closed when the session ends
	wg     sync.WaitGroup

	mu       sync.Mutex
	sendCond sync.Cond // window space, pause, reconnect, acks (Flush)
	recvCond sync.Cond // data for Recv, end of session

	tr           Transport
	gen          uint64 // transport generation; stale errors are ignored
	trClosed     bool
	reconnecting bool
	paused       bool
	closed       bool  // Close was called
	terminal     error // why the session ended; nil while it runs

	snd sendState
	rcv recvState

	stats SessionStats
}

// NewSession starts a session over tr. It owns tr from now on and closes
// it in Close.
func NewSession(tr Transport, cfg SessionConfig) *Session {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.RecvQueue <= 0 {
		cfg.RecvQueue = DefaultRecvQueue
	}
	if cfg.MaxOutOfOrder <= 0 {
		cfg.MaxOutOfOrder = DefaultMaxOutOfOrder
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if cfg.ReconnectAttempts <= 0 {
		cfg.ReconnectAttempts = DefaultReconnectAttempts
	}
	s := &Session{
		cfg:     cfg,
		logf:    cfg.Logf,
		inType:  TypeOutputStreamData,
		outType: TypeInputStreamData,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		tr:      tr,
	}
	if cfg.Role == RoleAgent {
		s.inType, s.outType = TypeInputStreamData, TypeOutputStreamData
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sendCond.L = &s.mu
	s.recvCond.L = &s.mu
	s.snd.init(cfg.Window)
	s.rcv.init(cfg.RecvQueue, cfg.MaxOutOfOrder, cfg.MaxBufferedBytes)
	s.wg.Add(2)
	go s.readLoop(tr, s.gen)
	go s.writeLoop()
	return s
}

// Role returns the session's role.
func (s *Session) Role() Role { return s.cfg.Role }

// notify wakes the writer.
func (s *Session) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// failLocked ends the session with err (the first error wins) and returns
// the transport the caller must close after unlocking, if any.
func (s *Session) failLocked(err error) Transport {
	if s.terminal == nil {
		s.terminal = err
		close(s.stop)
		if !s.closed && err != ErrSessionClosed {
			s.logf("protocol: session (%s): ended: %v", s.cfg.Role, err)
		}
	}
	s.sendCond.Broadcast()
	s.recvCond.Broadcast()
	if s.trClosed || s.tr == nil {
		return nil
	}
	s.trClosed = true
	return s.tr
}

// fail ends the session with err and closes the transport.
func (s *Session) fail(err error) {
	s.mu.Lock()
	tr := s.failLocked(err)
	s.mu.Unlock()
	if tr != nil {
		tr.Close()
	}
}

// endErrLocked is the error Send and Flush report once the session ended.
func (s *Session) endErrLocked() error {
	if s.closed {
		return ErrSessionClosed
	}
	return s.terminal
}

// transportFailed handles a read or write error of transport generation
// gen: it reconnects, or ends the session.
func (s *Session) transportFailed(gen uint64, err error) {
	s.mu.Lock()
	if s.terminal != nil || gen != s.gen || s.reconnecting {
		s.mu.Unlock()
		return
	}
	if s.cfg.Reconnect == nil || errors.Is(err, ErrMessageTooBig) {
		// A message the service refused as too big would be refused
		// again on a new websocket.
		tr := s.failLocked(transportError(err))
		s.mu.Unlock()
		if tr != nil {
			tr.Close()
		}
		return
	}
	s.reconnecting = true
	old := s.tr
	closeOld := !s.trClosed
	s.trClosed = true
	s.wg.Add(1)
	go s.reconnect(err)
	s.mu.Unlock()
	if closeOld {
		old.Close()
	}
}

// transportError wraps a transport failure for Recv and Send. A clean end
// of the transport is reported as io.EOF itself.
func transportError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return fmt.Errorf("protocol: session: transport: %w", err)
}

// ErrReconnectRefused, wrapped by an error of SessionConfig.Reconnect,
// says that no further attempt can succeed.
var ErrReconnectRefused = errors.New("reconnecting cannot succeed")

// reconnect obtains a new transport and resumes the session on it.
func (s *Session) reconnect(cause error) {
	defer s.wg.Done()
	s.logf("protocol: session (%s): transport failed: %v; reconnecting", s.cfg.Role, cause)
	delay := 100 * time.Millisecond
	last := cause
	for attempt := 1; ; attempt++ {
		tr, err := s.cfg.Reconnect(s.ctx)
		if err == nil {
			s.mu.Lock()
			if s.terminal != nil {
				s.mu.Unlock()
				tr.Close()
				return
			}
			s.tr, s.trClosed = tr, false
			s.gen++
			s.reconnecting = false
			s.paused = false
			s.snd.resendAll = true
			s.snd.backoff = 0
			s.stats.Reconnects++
			s.wg.Add(1)
			go s.readLoop(tr, s.gen)
			s.sendCond.Broadcast()
			s.mu.Unlock()
			s.notify()
			s.logf("protocol: session (%s): reconnected", s.cfg.Role)
			return
		}
		last = err
		if errors.Is(err, ErrReconnectRefused) {
			s.fail(fmt.Errorf("protocol: session: reconnect failed: %w", err))
			return
		}
		if attempt >= s.cfg.ReconnectAttempts {
			break
		}
		s.logf("protocol: session (%s): reconnect attempt %d: %v", s.cfg.Role, attempt, err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			return
		}
		delay = min(2*delay, 5*time.Second)
	}
	s.fail(fmt.Errorf("protocol: session: reconnect failed after %d attempts: %w", s.cfg.ReconnectAttempts, last))
}

// Send queues one stream message for reliable delivery. It copies payload,
// assigns the next sequence number and returns once the message is queued;
// it blocks while the window is full, publication is paused or a reconnect
// is in progress. An empty payload sends nothing. After the session ended
// it returns ErrSessionClosed (after Close) or the reason it ended.
func (s *Session) Send(pt PayloadType, payload []byte) error {
	if len(payload) > MaxPayloadSize {
		return fmt.Errorf("protocol: session: payload of %d bytes exceeds %d", len(payload), MaxPayloadSize)
	}
	s.mu.Lock()
	for {
		if s.terminal != nil {
			err := s.endErrLocked()
			s.mu.Unlock()
			return err
		}
		if len(payload) == 0 {
			s.mu.Unlock()
			return nil
		}
		if !s.paused && !s.reconnecting && s.snd.hasRoom() {
			break
		}
		s.sendCond.Wait()
	}
	seq, sl, buf := s.snd.reserve()
	s.stats.PeakUnacked = max(s.stats.PeakUnacked, s.snd.unacked())
	s.mu.Unlock()

	var flags uint64
	if seq == 0 && s.cfg.Role == RoleAgent {
		flags = FlagSYN
	}
	m := Message{
		Type:           s.outType,
		SequenceNumber: seq,
		Flags:          flags,
		MessageID:      newMessageID(),
		PayloadType:    pt,
		Payload:        payload,
	}
	buf, err := m.AppendBinary(buf[:0])
	if err != nil { // cannot happen: type and size are valid
		panic("protocol: session: encoding a stream message: " + err.Error())
	}

	s.mu.Lock()
	sl.buf = buf
	sl.ready = true
	s.mu.Unlock()
	s.notify()
	return nil
}

// SendControl sends one non-stream frame of type msgType — sequence number
// 0, flags 3, payload type 0, never acknowledged nor retransmitted — such
// as agent_session_state from an agent. It is queued ahead of stream
// messages and survives a reconnect if not yet written; it is not subject
// to publication pause.
func (s *Session) SendControl(msgType string, payload []byte) error {
	m := Message{Type: msgType, Flags: FlagSYN | FlagFIN, MessageID: newMessageID(), Payload: payload}
	frame, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("protocol: session: control message: %w", err)
	}
	s.mu.Lock()
	for {
		if s.terminal != nil {
			err := s.endErrLocked()
			s.mu.Unlock()
			return err
		}
		if len(s.snd.ctrl) < maxControlQueue {
			break
		}
		s.sendCond.Wait()
	}
	s.snd.ctrl = append(s.snd.ctrl, frame)
	s.mu.Unlock()
	s.notify()
	return nil
}

// Flush waits until every message sent so far has been acknowledged, the
// session ends, or ctx is done.
func (s *Session) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.sendCond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.snd.unacked() > 0 {
		if s.terminal != nil {
			return s.endErrLocked()
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("protocol: session: flush: %d messages unacknowledged: %w", s.snd.unacked(), err)
		}
		s.sendCond.Wait()
	}
	return nil
}

// Close ends the session: it stops its goroutines, closes the transport
// and makes every blocked or later call return ErrSessionClosed; data not
// yet read is discarded. It waits for a Reconnect in progress to return.
// It is idempotent.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	tr := s.failLocked(ErrSessionClosed)
	s.mu.Unlock()
	s.cancel()
	if tr != nil {
		tr.Close()
	}
	s.wg.Wait()
	return nil
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() SessionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.RTT = s.snd.srtt
	st.RTO = s.snd.rto
	st.Unacked = s.snd.unacked()
	st.Buffered = s.rcv.buffered()
	return st
}

var _ MessageStream = (*Session)(nil)
