package ssmtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ssmssh/ssmssh/protocol"
)

// The gateway is the emulator's ssmmessages service. It has two faces:
//
//   - the agent face (PROTOCOL.md section 9): POST /v1/control-channel/<id>
//     and POST /v1/data-channel/<session> answer 201 with an XML token; the
//     websockets at the same paths open with a text OpenControlChannelInput
//     or OpenDataChannelInput carrying that token. Sessions start with an
//     interactive_shell frame on the control channel and end with the
//     agent's agent_task_complete, which the gateway acknowledges with
//     agent_task_acknowledge (deduplicated by TaskId) and turns into a
//     channel_closed for the client. TerminateSession sends the agent a
//     channel_closed on the control channel.
//   - the client face: the data-channel websocket at the StreamUrl that
//     StartSession returned, opened with the single-use token.
//
// Between the two faces the gateway relays binary frames unchanged: the
// sequence numbers, acknowledgements and retransmissions are end to end,
// client to agent, as with the real service. Faults are applied to relayed
// frames.
type gateway struct {
	s    *Server
	logf func(string, ...any)

	mu        sync.Mutex
	agents    map[string]*agentLink // instance id → its control channel
	relays    map[string]*relay     // session id → relay
	tokens    map[string]agentToken // channel tokens handed to agents by POST
	completed map[string]bool       // task ids whose completion was seen
	seen      map[string]agentSeen  // instance id → its agent, live (agentstatus.go)
	closed    bool
	wg        sync.WaitGroup
}

type agentToken struct {
	kind string // "control-channel" or "data-channel"
	id   string // instance id or session id
}

const (
	kindControl = "control-channel"
	kindData    = "data-channel"
)

func newGateway(s *Server) *gateway {
	return &gateway{
		s:         s,
		logf:      s.logf,
		agents:    make(map[string]*agentLink),
		relays:    make(map[string]*relay),
		tokens:    make(map[string]agentToken),
		completed: make(map[string]bool),
	}
}

func (g *gateway) register(mux *http.ServeMux) {
	// Every request must be signed (sigv4.go).
	mux.HandleFunc("POST /v1/control-channel/{id}", g.s.signed(g.createChannel(kindControl)))
	mux.HandleFunc("POST /v1/data-channel/{id}", g.s.signed(g.createChannel(kindData)))
	mux.HandleFunc("GET /v1/control-channel/{id}", g.s.signed(g.serveControl))
	mux.HandleFunc("GET /v1/data-channel/{id}", g.s.signed(g.serveData))
}

// createChannelOutput is the XML body of a 201 answer to a channel POST.
type createChannelOutput struct {
	XMLName              xml.Name `xml:"CreateChannelOutput"`
	MessageSchemaVersion string   `xml:"MessageSchemaVersion"`
	TokenValue           string   `xml:"TokenValue"`
}

func (g *gateway) createChannel(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var in struct {
			MessageSchemaVersion string
			RequestID            string `json:"RequestId"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err := json.Unmarshal(body, &in); err != nil || in.RequestID == "" {
			http.Error(w, "ssmtest: channel request needs a JSON body with RequestId", http.StatusBadRequest)
			return
		}
		if kind == kindData && g.relay(id) == nil {
			if sess, ok := g.s.sessions.Get(id); ok && sess.State().ended() {
				// The agent reconnecting to a session that ended gives up
				// at once on an answer that says so.
				g.logf("ssmtest: data channel %s: refused: the session has ended", id)
				writeGatewayError(w, errSessionTerminated)
				return
			}
			http.Error(w, fmt.Sprintf("session %s not found", id), http.StatusNotFound)
			return
		}
		tok := newToken()
		g.mu.Lock()
		g.tokens[tok] = agentToken{kind: kind, id: id}
		g.mu.Unlock()
		out, _ := xml.Marshal(createChannelOutput{MessageSchemaVersion: "1.0", TokenValue: tok})
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(out)
	}
}

// claimAgentToken checks and consumes a token handed out by createChannel.
func (g *gateway) claimAgentToken(tok, kind, id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.tokens[tok]
	if !ok || t.kind != kind || t.id != id {
		return false
	}
	delete(g.tokens, tok)
	return true
}

func newToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// link is one websocket end with serialised writes.
type link struct {
	tr  protocol.Transport
	wmu sync.Mutex
	// killed is set, under the relay's lock, when a fault has closed
	// this websocket: until its reader notices, frames for it are dropped
	// and not counted, so one kill is never counted twice.
	killed bool
}

func (l *link) write(frame []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.tr.WriteFrame(frame)
}

// writeFrames writes frames in order, in as few network writes as the
// transport can.
func (l *link) writeFrames(frames [][]byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if fw, ok := l.tr.(protocol.FramesWriter); ok {
		return fw.WriteFrames(frames)
	}
	for _, f := range frames {
		if err := l.tr.WriteFrame(f); err != nil {
			return err
		}
	}
	return nil
}

func (l *link) send(m *protocol.Message) error {
	if m.MessageID == uuid.Nil {
		m.MessageID = uuid.New()
	}
	f, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	return l.write(f)
}

// agentLink is an agent's control channel.
type agentLink struct {
	link
	instanceID   string
	agentVersion string
	platform     string
}

func (g *gateway) serveControl(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tr, first, err := protocol.AcceptWebsocket(w, r, g.logf)
	if err != nil {
		g.logf("ssmtest: control channel %s: %v", id, err)
		return
	}
	var open protocol.OpenControlChannelInput
	if err := json.Unmarshal(first, &open); err != nil || !g.claimAgentToken(open.TokenValue, kindControl, id) {
		g.logf("ssmtest: control channel %s: refused: invalid or reused token", id)
		refuse(tr, "invalid or expired token")
		return
	}
	al := &agentLink{link: link{tr: tr}, instanceID: id, agentVersion: open.AgentVersion, platform: open.PlatformType}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		tr.Close()
		return
	}
	old := g.agents[id]
	g.agents[id] = al
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()
	if old != nil {
		old.tr.Close()
	}
	g.sawAgent(al, true)
	g.logf("ssmtest: agent %s connected (version %s)", id, open.AgentVersion)
	g.readControl(al)
	g.mu.Lock()
	current := g.agents[id] == al
	if current {
		delete(g.agents, id)
	}
	g.mu.Unlock()
	if current {
		g.sawAgent(al, false)
		g.logf("ssmtest: agent %s disconnected", id)
	}
	tr.Close()
}

func (g *gateway) readControl(al *agentLink) {
	for {
		frame, err := al.tr.ReadFrame()
		if err != nil {
			return
		}
		m, err := protocol.ParseMessage(frame)
		if err != nil {
			g.logf("ssmtest: control channel %s: %v", al.instanceID, err)
			continue
		}
		switch m.Type {
		case protocol.TypeAgentTaskComplete:
			g.taskComplete(al, m)
		default:
			// agent_job_reply, acknowledges of our control frames and the
			// rest need no answer from a session-only gateway.
		}
	}
}

// taskComplete acknowledges an agent_task_complete and ends its session.
// The agent may report the same task twice; only the first ends it.
func (g *gateway) taskComplete(al *agentLink, m *protocol.Message) {
	var tc protocol.AgentTaskComplete
	if err := json.Unmarshal(m.Payload, &tc); err != nil || tc.TaskID == "" {
		g.logf("ssmtest: control channel %s: bad agent_task_complete: %v", al.instanceID, err)
		return
	}
	ack, _ := json.Marshal(protocol.AgentTaskAcknowledge{
		SchemaVersion: 1, MessageID: m.MessageID.String(), TaskID: tc.TaskID, Topic: tc.Topic,
	})
	if err := al.send(&protocol.Message{Type: protocol.TypeAgentTaskAcknowledge, Payload: ack}); err != nil {
		g.logf("ssmtest: control channel %s: acknowledge task: %v", al.instanceID, err)
	}
	g.mu.Lock()
	seen := g.completed[tc.TaskID]
	g.completed[tc.TaskID] = true
	r := g.relays[tc.TaskID]
	g.mu.Unlock()
	if seen || r == nil {
		return
	}
	r.agentDone(tc.Output, tc.FinalTaskStatus != "Success" && tc.FinalTaskStatus != "")
}

// MissingRunAsUser is the OS user the RunAsUserMissing fault has sessions
// run as: no instance has it.
const MissingRunAsUser = "ssmtest-no-such-user"

// forceRunAs returns a session document whose inputs enable Run As with
// user as the default user, as the session preferences would.
func forceRunAs(doc json.RawMessage, user string) (json.RawMessage, error) {
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	inputs, _ := d["inputs"].(map[string]any)
	if inputs == nil {
		inputs = make(map[string]any)
	}
	inputs["runAsEnabled"] = true
	inputs["runAsDefaultUser"] = user
	d["inputs"] = inputs
	return json.Marshal(d)
}

// startSession is the registry's OnStart hook: it hands the session to
// the target's agent with an interactive_shell frame. The RunAsUserMissing
// fault makes it send a Run As user the instance lacks (MissingRunAsUser),
// with Run As enabled in the document's inputs, so that the agent fails
// shell and command sessions as it does for a missing user.
func (g *gateway) startSession(sess *Session) error {
	g.mu.Lock()
	al := g.agents[sess.Target]
	if g.closed {
		al = nil
	}
	var r *relay
	if al != nil {
		r = newRelay(g, sess)
		g.relays[sess.ID] = r
	}
	g.mu.Unlock()
	if al == nil || g.s.faults().AgentOffline[sess.Target] {
		if r != nil {
			g.dropRelay(r)
		}
		return errTargetNotConnected(sess.Target)
	}
	task := protocol.AgentTaskPayload{
		DocumentName:    sess.DocumentName,
		DocumentContent: sess.DocumentContent,
		SessionID:       sess.ID,
		Parameters:      sess.AgentParameters(),
		RunAsUser:       sess.RunAsUser,
		SessionOwner:    sess.Owner,
	}
	var err error
	if g.s.faults().RunAsUserMissing {
		task.RunAsUser = MissingRunAsUser
		task.DocumentContent, err = forceRunAs(sess.DocumentContent, MissingRunAsUser)
		if err != nil {
			g.dropRelay(r)
			return fmt.Errorf("ssmtest: RunAsUserMissing: %w", err)
		}
	}
	content, err := json.Marshal(task)
	if err != nil {
		g.dropRelay(r)
		return fmt.Errorf("ssmtest: encode session start: %w", err)
	}
	payload, _ := json.Marshal(protocol.InteractiveShell{
		Content: string(content), TaskID: sess.ID, Topic: "aws.ssm.sendCommand." + sess.ID, SchemaVersion: 1,
	})
	if err := al.send(&protocol.Message{Type: protocol.TypeInteractiveShell, Payload: payload}); err != nil {
		g.dropRelay(r)
		return errTargetNotConnected(sess.Target)
	}
	return nil
}

// terminateSession is the registry's OnTerminate hook (TerminateSession,
// idle timeout, maximum duration, vanished client).
func (g *gateway) terminateSession(sess *Session, reason string) {
	r := g.relay(sess.ID)
	if r == nil {
		return
	}
	g.mu.Lock()
	al := g.agents[sess.Target]
	done := g.completed[sess.ID]
	g.mu.Unlock()
	if al != nil && !done {
		cc, _ := json.Marshal(protocol.ChannelClosed{
			MessageType: protocol.TypeChannelClosed, MessageID: uuid.NewString(), DestinationID: sess.Target,
			SessionID: sess.ID, SchemaVersion: 1, CreatedDate: time.Now().UTC().Format(time.RFC3339Nano),
		})
		if err := al.send(&protocol.Message{Type: protocol.TypeChannelClosed, Payload: cc}); err != nil {
			g.logf("ssmtest: tell agent %s to end %s: %v", sess.Target, sess.ID, err)
		}
	}
	r.end(reason, false)
}

func (g *gateway) relay(id string) *relay {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.relays[id]
}

func (g *gateway) dropRelay(r *relay) {
	g.mu.Lock()
	if g.relays[r.id] == r {
		delete(g.relays, r.id)
	}
	g.mu.Unlock()
}

func (g *gateway) serveData(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tr, first, err := protocol.AcceptWebsocket(w, r, g.logf)
	if err != nil {
		g.logf("ssmtest: data channel %s: %v", id, err)
		return
	}
	var open protocol.OpenDataChannelInput
	if err := json.Unmarshal(first, &open); err != nil {
		refuse(tr, "malformed OpenDataChannelInput")
		return
	}
	rl := g.relay(id)
	if rl == nil {
		refuse(tr, "session not found")
		return
	}
	g.wg.Add(1)
	defer g.wg.Done()
	if open.ClientInstanceID != "" {
		if !g.claimAgentToken(open.TokenValue, kindData, id) {
			g.logf("ssmtest: data channel %s: agent token refused", id)
			refuse(tr, "invalid or expired token")
			return
		}
		rl.serve(sideAgent, tr)
		return
	}
	if _, err := g.s.sessions.ClaimClientToken(id, open.TokenValue); err != nil {
		g.logf("ssmtest: data channel %s: client token refused: %v", id, err)
		refuse(tr, "invalid or expired token")
		return
	}
	rl.serve(sideClient, tr)
}

// refuse ends a websocket whose opening frame was not acceptable, saying
// why in the close frame, as the service does.
func refuse(tr protocol.Transport, reason string) {
	if c, ok := tr.(interface{ CloseWithReason(string) error }); ok {
		_ = c.CloseWithReason(reason)
		return
	}
	tr.Close()
}

// close ends every relay and control channel and waits for the handlers.
func (g *gateway) close() {
	g.mu.Lock()
	g.closed = true
	relays := make([]*relay, 0, len(g.relays))
	for _, r := range g.relays {
		relays = append(relays, r)
	}
	agents := make([]*agentLink, 0, len(g.agents))
	for _, a := range g.agents {
		agents = append(agents, a)
	}
	g.mu.Unlock()
	for _, r := range relays {
		r.end("The emulator is shutting down.", false)
	}
	for _, a := range agents {
		a.tr.Close()
	}
	g.wg.Wait()
}

// agentConnected reports whether an instance's agent has its control
// channel open.
func (g *gateway) agentConnected(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.agents[id] != nil
}
