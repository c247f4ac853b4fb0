package ssmtest

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmssh/ssmssh/protocol"
)

type side int

const (
	sideClient side = iota
	sideAgent
)

func (s side) other() side { return 1 - s }

func (s side) String() string {
	if s == sideClient {
		return "client"
	}
	return "agent"
}

// relay joins one session's client and agent data channels. Either end may
// come and go (a client resuming after a dropped websocket, an agent
// reconnecting): frames for an absent end are dropped, and the end-to-end
// retransmission of the protocol recovers them, as with the real service.
type relay struct {
	g    *gateway
	id   string
	sess *Session

	mu         sync.Mutex
	links      [2]*link
	shapers    [2]*shaper // towards each side
	ended      bool
	kills      int   // client websockets killed by the KillClientWebsocket fault
	toClient   int64 // bytes relayed to the current client websocket
	agentKills int   // agent websockets killed by the KillAgentWebsocket fault
	toAgent    int64 // bytes relayed to the current agent websocket
	vanishStop func() bool
	attached   bool        // a client websocket has been attached once
	final      *finalWord  // the agent's end, kept for a client that never came
	unusedStop func() bool // the timer that ends the session when no client comes
	pausing    bool        // the PausePublication fault has the client paused
	pauseTimer *time.Timer // sends start_publication at the end of a pause
	pub        publication // the PublicationRateLimit fault's state
	held       [][]byte    // agent frames for a client that has not attached yet
	heldBytes  int
	heldFull   bool // frames were dropped for want of room

	agentPubMu      sync.Mutex // orders the pause and start frames sent to the agent
	agentPublishing bool       // what the agent was last told (false: nothing yet, or pause)
}

func newRelay(g *gateway, sess *Session) *relay {
	r := &relay{g: g, id: sess.ID, sess: sess}
	r.unusedStop = g.s.timers.AfterFunc(ClientTokenTTL, r.tokenExpired)
	return r
}

// tokenExpired runs when the client's token may have expired unused. A
// client that never attached ends the session: with the agent's final
// word when the agent has already finished, else as the service ends a
// session nobody connected to. A token issued later by ResumeSession
// postpones the end to its own expiry.
func (r *relay) tokenExpired() {
	if until, ok := r.g.s.sessions.unusedTokenExpiry(r.id); ok {
		r.mu.Lock()
		if !r.ended && !r.attached {
			r.unusedStop = r.g.s.timers.AfterFunc(until, r.tokenExpired)
		}
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	if r.ended || r.attached {
		r.mu.Unlock()
		return
	}
	final := r.final
	r.mu.Unlock()
	if final != nil {
		r.end(final.output, final.failed)
		return
	}
	r.g.s.sessions.terminate(r.id, ReasonNeverConnected)
}

// serve attaches a websocket as the given side and relays what it reads
// until it fails or the session ends.
func (r *relay) serve(s side, tr protocol.Transport) {
	f := r.g.s.faults()
	limitMessages(tr, &f)
	l := &link{tr: tr}
	sh := newShaper(l, r.g.s.faults, r.g.logf)
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		sh.close()
		tr.Close()
		return
	}
	old, oldShaper := r.links[s], r.shapers[s]
	r.links[s], r.shapers[s] = l, sh
	var final *finalWord
	if s == sideAgent {
		r.toAgent = 0
	}
	if s == sideClient {
		r.toClient = 0
		if r.vanishStop != nil {
			r.vanishStop()
			r.vanishStop = nil
		}
		if !r.attached {
			r.attached = true
			r.unusedStop()
		}
		final = r.final
		if n := len(r.held); n > 0 && final == nil {
			// Frames the agent sent before the client came, in order and
			// ahead of any the agent sends from now on.
			for _, fr := range r.held {
				sh.push(fr, &f)
			}
			r.g.logf("ssmtest: session %s: delivered %d agent frames held for the client", r.id, n)
		}
		r.held, r.heldBytes = nil, 0
	}
	r.mu.Unlock()
	if old != nil {
		oldShaper.close()
		old.tr.Close()
	}
	r.g.logf("ssmtest: session %s: %s data channel attached", r.id, s)
	r.g.s.sessions.Touch(r.id)
	if s == sideClient {
		_ = r.g.s.sessions.SetState(r.id, SessionConnected)
		if final != nil {
			// The agent ended the session before this client came: it
			// hears why, and the session ends.
			r.end(final.output, final.failed)
			return
		}
	}
	r.syncAgentPublication(s == sideAgent)
	var lifeStop func() bool
	if d := f.WebsocketLifetime; d > 0 && s == sideClient {
		lifeStop = r.g.s.timers.AfterFunc(d, func() {
			r.g.logf("ssmtest: session %s: closing the client websocket at the end of its %v lifetime", r.id, d)
			tr.Close()
		})
	}

	r.pump(s, l)
	if lifeStop != nil {
		lifeStop()
	}

	r.mu.Lock()
	current := r.links[s] == l
	if current {
		r.links[s], r.shapers[s] = nil, nil
	}
	ended := r.ended
	if current && s == sideClient && !ended {
		// A client that does not come back within the window has vanished:
		// the service terminates its session.
		window := r.g.s.clientReconnectWindow()
		r.vanishStop = r.g.s.timers.AfterFunc(window, func() {
			r.g.s.sessions.terminate(r.id, ReasonClientVanished)
		})
	}
	r.mu.Unlock()
	sh.close()
	tr.Close()
	if current && s == sideClient && !ended {
		_ = r.g.s.sessions.SetState(r.id, SessionDisconnected)
		// A client that reattached since the check above may have set
		// Connected before this Disconnected: it is back, say so again.
		r.mu.Lock()
		back := r.links[s] != nil
		r.mu.Unlock()
		if back {
			_ = r.g.s.sessions.SetState(r.id, SessionConnected)
		} else {
			r.syncAgentPublication(false)
		}
	}
}

// syncAgentPublication tells the agent to publish while a client is
// attached and to pause while the client is away, so that the agent stops
// reading its target instead of resending to nobody (the real agent's
// port and shell plugins read only while the data channel is not paused:
// agent session/plugins/port IsActive). The first start goes with the
// first client; an agent that reconnects while paused (again, when
// reattached is set) is told again. What the service puts in these frames
// is not known, and the agent's handler reads nothing of them (agent
// session/datachannel handlePausePublicationMessage), but they cannot be
// empty: the agent's decoder reads PayloadLength with a bounds check that
// is one byte too strict (session/contracts/agentmessage.go getInteger
// wants offset+4 <= len-1), so a frame that ends at PayloadLength makes
// amazon-ssm-agent 3.3 log "getInteger failed: Offset is invalid." each
// time, as it did behind this gateway. The frames carry an empty JSON
// object (publicationControl).
// Attaches and detaches race; the mutex and a fresh look at the links
// make the last frame sent match the last state.
func (r *relay) syncAgentPublication(reattached bool) {
	r.agentPubMu.Lock()
	defer r.agentPubMu.Unlock()
	r.mu.Lock()
	client := r.links[sideClient] != nil
	attached, ended := r.attached, r.ended
	r.mu.Unlock()
	if ended || !attached {
		return
	}
	if client == r.agentPublishing && !(reattached && !client) {
		return
	}
	r.agentPublishing = client
	t := protocol.TypePausePublication
	if client {
		t = protocol.TypeStartPublication
	}
	r.sendTo(sideAgent, publicationControl(t))
}

// publicationControl is a start_publication or pause_publication frame
// for the agent, with the one-or-more payload bytes its decoder needs
// (syncAgentPublication).
func publicationControl(t string) *protocol.Message {
	return &protocol.Message{Type: t, Payload: []byte("{}")}
}

// finalWord is how the agent ended a session whose client had not come
// yet to hear it.
type finalWord struct {
	output string
	failed bool
}

// agentDone ends the session as the agent reported it (agent_task_complete)
// with the agent's Output, at once: a connected client hears it in
// channel_closed, and a client that attached and left (reconnecting, or
// gone) finds the session over, as with the service, which does not keep
// such a session Active for the reconnect window. Only for a client that
// never attached (an agent that fails at once, as for a missing Run As
// user, is faster than the client's websocket) is the final word kept: the
// session ends when that client attaches and hears it, or when its token
// expires unused.
func (r *relay) agentDone(output string, failed bool) {
	r.mu.Lock()
	if r.ended || r.attached {
		r.mu.Unlock()
		r.end(output, failed)
		return
	}
	if r.final == nil {
		r.final = &finalWord{output: output, failed: failed}
	}
	r.mu.Unlock()
	r.g.logf("ssmtest: session %s: the agent ended it before its client attached; keeping its final word", r.id)
}

// pump reads frames from side s and forwards them to the other side.
func (r *relay) pump(s side, l *link) {
	for {
		frame, err := l.tr.ReadFrame()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				r.g.logf("ssmtest: session %s: refused a message from the %s larger than %d bytes (websocket close 1009)",
					r.id, s, r.g.s.faults().maxMessageBytes())
			}
			return
		}
		// The receiving end checks the payload digest (and logs and drops
		// a frame that fails it); the relay needs only the header.
		m, err := protocol.ParseMessageUnverified(frame)
		if err != nil {
			r.g.logf("ssmtest: session %s: from %s: %v", r.id, s, err)
			continue
		}
		if s == sideAgent && m.Type == protocol.TypeAgentSessionState {
			// The agent addresses its session state to the service
			// ("sends agent session state to MGS", agent
			// session/datachannel SendAgentSessionStateMessage), which
			// keeps it: the official plugin has no case for the type and
			// would log "Invalid message type received" for every
			// session had the service forwarded it.
			r.g.logf("ssmtest: session %s: agent reports session state %s", r.id, agentSessionState(m.Payload))
			continue
		}
		f := r.g.s.faults()
		switch m.Type {
		case protocol.TypeInputStreamData, protocol.TypeOutputStreamData:
			r.g.s.sessions.Touch(r.id)
			if s == sideClient {
				if m.PayloadType == protocol.PayloadHandshakeResponse && f.HandshakeNeverAnswered {
					continue // the fault: the agent never hears the client's answer
				}
				if f.PausePublication {
					r.pauseClient()
				}
				if m.Type == protocol.TypeInputStreamData {
					r.notePublication(&f)
				}
			}
		}
		r.forward(s.other(), frame, &f)
	}
}

// forward writes a frame to side to, through that side's shaper, under
// the faults f in force.
func (r *relay) forward(to side, frame []byte, f *FaultSet) {
	r.mu.Lock()
	sh := r.shapers[to]
	if sh == nil && to == sideClient && !r.attached && !r.ended {
		r.holdLocked(frame)
		r.mu.Unlock()
		return
	}
	if l := r.links[to]; l != nil && l.killed {
		r.mu.Unlock()
		return // the websocket is closing; the retransmission recovers this
	}
	var kill *link
	if sh != nil && to == sideClient {
		r.toClient += int64(len(frame))
		if f.KillClientWebsocketAfterBytes > 0 && r.toClient >= f.KillClientWebsocketAfterBytes &&
			(f.KillClientWebsocketTimes == 0 || r.kills < f.KillClientWebsocketTimes) {
			r.kills++
			r.toClient = 0
			kill = r.links[to]
		}
	}
	if sh != nil && to == sideAgent {
		r.toAgent += int64(len(frame))
		if f.KillAgentWebsocketAfterBytes > 0 && r.toAgent >= f.KillAgentWebsocketAfterBytes &&
			(f.KillAgentWebsocketTimes == 0 || r.agentKills < f.KillAgentWebsocketTimes) {
			r.agentKills++
			r.toAgent = 0
			kill = r.links[to]
		}
	}
	if kill != nil {
		kill.killed = true
	}
	r.mu.Unlock()
	if kill != nil {
		r.g.logf("ssmtest: session %s: fault: killing the %s websocket", r.id, to)
		kill.tr.Close()
		return
	}
	if sh != nil {
		sh.push(frame, f)
	}
}

// Bounds of the frames held for a client that has not attached yet.
const (
	maxHeldFrames = 64
	maxHeldBytes  = 256 << 10
)

// holdLocked keeps an agent frame for a client that has not attached yet,
// as a message service keeps what is published before its subscriber
// comes: the agent's HandshakeRequest usually goes out before the
// client's websocket is open, and without this it would reach the client
// only with the agent's first retransmission, 200 ms later (the official
// plugin then reports a HandshakeTimeToComplete of 0.20 s every time).
// What does not fit in the bounds is dropped, and the agent's
// retransmission brings it. A client that attached once and is away gets
// nothing held: its reconnect resends and is resent to.
func (r *relay) holdLocked(frame []byte) {
	if len(r.held) >= maxHeldFrames || r.heldBytes+len(frame) > maxHeldBytes {
		if !r.heldFull {
			r.heldFull = true
			r.g.logf("ssmtest: session %s: no room to hold more agent frames for the client", r.id)
		}
		return
	}
	r.held = append(r.held, frame)
	r.heldBytes += len(frame)
	if len(r.held) == 1 {
		r.g.logf("ssmtest: session %s: holding agent frames until the client attaches", r.id)
	}
}

// sendTo sends a gateway-made frame (publication control, channel_closed)
// straight to a side, bypassing the faults.
func (r *relay) sendTo(s side, m *protocol.Message) {
	r.mu.Lock()
	l := r.links[s]
	r.mu.Unlock()
	if l == nil {
		return
	}
	if err := l.send(m); err != nil {
		r.g.logf("ssmtest: session %s: send %s to %s: %v", r.id, m.Type, s, err)
	}
}

// pausePublicationFor is how long the PausePublication fault pauses the
// client each time.
const pausePublicationFor = 300 * time.Millisecond

// pauseClient applies the PausePublication fault to a client that sent
// data: the service tells it to stop sending (pause_publication) and, after
// pausePublicationFor, to go on (start_publication). While the fault stays
// set, the client's next data starts the next pause. A client following
// PROTOCOL.md also resumes on the next acknowledgement or data it receives;
// the session-manager-plugin ignores both messages.
func (r *relay) pauseClient() {
	r.mu.Lock()
	if r.pausing || r.ended {
		r.mu.Unlock()
		return
	}
	r.pausing = true
	r.mu.Unlock()
	r.g.logf("ssmtest: session %s: fault: pausing the client's publication", r.id)
	r.sendTo(sideClient, &protocol.Message{Type: protocol.TypePausePublication})
	t := time.AfterFunc(pausePublicationFor, func() {
		r.sendTo(sideClient, &protocol.Message{Type: protocol.TypeStartPublication})
		r.mu.Lock()
		r.pausing = false
		r.mu.Unlock()
	})
	r.mu.Lock()
	r.pauseTimer = t
	r.mu.Unlock()
}

// end closes the session: the client hears channel_closed with output (the
// reason the user sees), both websockets close, the registry records the
// end. It is idempotent.
func (r *relay) end(output string, failed bool) {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return
	}
	r.ended = true
	links, shapers := r.links, r.shapers
	r.links, r.shapers = [2]*link{}, [2]*shaper{}
	if r.vanishStop != nil {
		r.vanishStop()
	}
	if r.pauseTimer != nil {
		r.pauseTimer.Stop()
	}
	r.unusedStop()
	r.mu.Unlock()
	// The registry learns of the end before the client does, so that a
	// client answering channel_closed with TerminateSession finds the
	// session over and its outcome kept.
	r.g.s.sessions.ended(r.id, output, failed)

	if c := links[sideClient]; c != nil {
		shapers[sideClient].drain()
		payload, _ := json.Marshal(protocol.ChannelClosed{
			MessageType: protocol.TypeChannelClosed, MessageID: uuid.NewString(), DestinationID: r.sess.Target,
			SessionID: r.id, SchemaVersion: 1, CreatedDate: time.Now().UTC().Format(time.RFC3339Nano),
			Output: output,
		})
		if err := c.send(&protocol.Message{Type: protocol.TypeChannelClosed, Payload: payload}); err != nil {
			r.g.logf("ssmtest: session %s: channel_closed: %v", r.id, err)
		}
	}
	for i, l := range links {
		if l != nil {
			shapers[i].close()
			l.tr.Close()
		}
	}
	r.g.dropRelay(r)
}

// agentSessionState returns the SessionState of an agent_session_state
// payload, for the log.
func agentSessionState(payload []byte) string {
	var st struct{ SessionState string }
	if err := json.Unmarshal(payload, &st); err != nil || st.SessionState == "" {
		return "(unreadable)"
	}
	return strconv.Quote(st.SessionState)
}
