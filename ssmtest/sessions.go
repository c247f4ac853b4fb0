package ssmtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// SessionState is a session's status as DescribeSessions reports it.
type SessionState string

// Session states. A session starts Connecting, becomes Connected when its
// client's data channel is open, may go Disconnected while the client
// reconnects, and ends Terminated (or Failed), passing through Terminating
// when it is ended on request or by timeout.
const (
	SessionConnecting   SessionState = "Connecting"
	SessionConnected    SessionState = "Connected"
	SessionDisconnected SessionState = "Disconnected"
	SessionTerminating  SessionState = "Terminating"
	SessionTerminated   SessionState = "Terminated"
	SessionFailed       SessionState = "Failed"
)

// ended reports whether the state is final.
func (st SessionState) ended() bool { return st == SessionTerminated || st == SessionFailed }

// Ended reports whether the state is final (Terminated or Failed).
func (st SessionState) Ended() bool { return st.ended() }

// ClientTokenTTL is how long a TokenValue from StartSession or
// ResumeSession may wait before it is used to open the data channel. AWS
// documents only that tokens live "long enough to ensure the connection is
// successful"; this is the emulator's choice.
const ClientTokenTTL = time.Minute

// Reasons the service gives when it ends a session itself. The wording is
// the emulator's.
const (
	ReasonIdleTimeout = "Your session timed out due to inactivity and has been terminated."
	ReasonMaxDuration = "Your session has reached the maximum session duration and has been terminated."
	ReasonTerminated  = "Session terminated by TerminateSession."
	ReasonShutdown    = "The emulator is shutting down."
	// ReasonClientVanished ends a session whose client's websocket
	// dropped and did not come back within the reconnect window.
	ReasonClientVanished = "The client disconnected and did not reconnect."
	// ReasonNeverConnected ends a session whose client never opened its
	// data channel before its token expired.
	ReasonNeverConnected = "The client did not connect before its token expired."
)

// Session is one Session Manager session. The exported fields are fixed at
// StartSession; the mutable state is read through methods.
type Session struct {
	ID           string
	Target       string
	DocumentName string
	SessionType  string
	// DocumentContent is what the agent is sent (ResolvedDocument.Content).
	DocumentContent json.RawMessage
	// Parameters are the resolved parameter values (ResolvedDocument.Parameters).
	Parameters map[string]any
	// Properties are the document properties after substitution.
	Properties any
	RunAsUser  string
	Owner      string // the caller's ARN
	Reason     string // StartSession's Reason
	KMSKeyID   string // from the session preferences; "" when unencrypted
	StartDate  time.Time
	// MaxDuration is the maximum session duration (0: none).
	MaxDuration time.Duration

	reg          *Sessions
	state        SessionState
	endDate      time.Time
	lastActivity time.Time
	output       string
	tokens       map[string]*clientToken // by sha256 of the token
}

type clientToken struct {
	expires    time.Time
	used       bool
	superseded bool
}

// AgentParameters returns a copy of Parameters, for the agent.
func (s *Session) AgentParameters() map[string]any { return maps.Clone(s.Parameters) }

// State returns the session's state.
func (s *Session) State() SessionState {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	return s.state
}

// EndDate returns when the session ended (zero while it runs).
func (s *Session) EndDate() time.Time {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	return s.endDate
}

// LastActivity returns when data last flowed (or the session started).
func (s *Session) LastActivity() time.Time {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	return s.lastActivity
}

// Output returns the text the session ended with (channel_closed Output or
// the service's reason).
func (s *Session) Output() string {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	return s.output
}

// Hooks connect the session registry to the gateway. Set them with
// Server.SetHooks before Start.
type Hooks struct {
	// OnStart hands a new session to its target's agent. An error fails
	// StartSession: return an *APIError (e.g. TargetNotConnected) to choose
	// what the caller sees; other errors become InternalServerError.
	OnStart func(*Session) error
	// OnTerminate ends a session's channels (TerminateSession, idle
	// timeout, maximum duration, Close). reason is the text for the client's
	// channel_closed. The session is Terminating during the call and is
	// marked Terminated when it returns, unless the hook reported another
	// end itself through the registry.
	OnTerminate func(s *Session, reason string)
	// OnClose runs during Server.Close, after live sessions are terminated
	// and before the listener closes: the gateway closes its websockets
	// (which http.Server.Close does not reach once hijacked).
	OnClose func()
}

// Errors of ClaimClientToken and of state changes; test with errors.Is.
var (
	ErrNoSuchSession = errors.New("ssmtest: no such session")
	ErrSessionEnded  = errors.New("ssmtest: session has ended")
	ErrTokenInvalid  = errors.New("ssmtest: invalid token")
	ErrTokenUsed     = errors.New("ssmtest: token already used")
	ErrTokenExpired  = errors.New("ssmtest: token expired or superseded")
)

// Sessions is the session registry shared by the SSM API and the gateway.
// It is safe for concurrent use.
type Sessions struct {
	clock   func() time.Time
	after   func(time.Duration, func()) func() bool // the sweeper's timers
	idle    time.Duration                           // 0: no idle timeout
	maxDur  time.Duration                           // 0: no maximum
	logf    func(string, ...any)
	mu      sync.Mutex
	byID    map[string]*Session
	order   []*Session
	hooks   Hooks
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	running bool
}

func newSessions(clock func() time.Time, idle, maxDur time.Duration, logf func(string, ...any)) *Sessions {
	return &Sessions{
		clock: clock, idle: idle, maxDur: maxDur, logf: logf,
		after: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop },
		byID:  make(map[string]*Session),
		kick:  make(chan struct{}, 1),
	}
}

func (r *Sessions) setHooks(h Hooks) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hooks = h
}

func (r *Sessions) getHooks() Hooks {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hooks
}

// Get returns a session by id.
func (r *Sessions) Get(id string) (*Session, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.byID[id]
	return s, ok
}

// All returns every session known, oldest first.
func (r *Sessions) All() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// newSessionID makes an id like AWS's: the caller's name, a dash and 17
// hex digits.
func newSessionID(owner string) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return owner + "-" + hex.EncodeToString(b[:])[:17]
}

func newClientToken() string {
	var b [48]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// start registers s (ID and StartDate filled in here), calls OnStart and
// returns the first client token. A failed start leaves no session behind.
func (r *Sessions) start(s *Session, idPrefix string) (string, error) {
	r.mu.Lock()
	for {
		s.ID = newSessionID(idPrefix)
		if r.byID[s.ID] == nil {
			break
		}
	}
	now := r.clock()
	s.reg, s.state, s.StartDate, s.lastActivity = r, SessionConnecting, now, now
	s.MaxDuration = r.maxDur
	s.tokens = make(map[string]*clientToken)
	tok := r.issueLocked(s)
	r.byID[s.ID] = s
	r.order = append(r.order, s)
	onStart := r.hooks.OnStart
	r.mu.Unlock()

	if onStart != nil {
		if err := onStart(s); err != nil {
			r.mu.Lock()
			delete(r.byID, s.ID)
			r.order = slices.DeleteFunc(r.order, func(x *Session) bool { return x == s })
			r.mu.Unlock()
			return "", err
		}
	}
	r.wake()
	return tok, nil
}

// issueLocked makes a new client token for s; earlier tokens die.
func (r *Sessions) issueLocked(s *Session) string {
	for _, t := range s.tokens {
		t.superseded = true
	}
	tok := newClientToken()
	s.tokens[tokenKey(tok)] = &clientToken{expires: r.clock().Add(ClientTokenTTL)}
	return tok
}

// resume issues a new client token for a live session (ResumeSession).
func (r *Sessions) resume(id string) (*Session, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byID[id]
	if s == nil {
		return nil, "", fmt.Errorf("%w: %s", ErrNoSuchSession, id)
	}
	if s.state.ended() {
		return s, "", fmt.Errorf("%w: %s", ErrSessionEnded, id)
	}
	return s, r.issueLocked(s), nil
}

// unusedTokenExpiry reports how long until the newest client token of a
// live session expires, when that token is unused and still valid.
func (r *Sessions) unusedTokenExpiry(id string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byID[id]
	if s == nil || s.state.ended() {
		return 0, false
	}
	now := r.clock()
	for _, t := range s.tokens {
		if !t.used && !t.superseded && now.Before(t.expires) {
			return t.expires.Sub(now), true
		}
	}
	return 0, false
}

// ClaimClientToken checks and consumes the TokenValue a client presents in
// its OpenDataChannelInput. A token works once, only for its session, only
// while it is the newest one issued, and only within ClientTokenTTL.
func (r *Sessions) ClaimClientToken(sessionID, token string) (*Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byID[sessionID]
	if s == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchSession, sessionID)
	}
	if s.state.ended() {
		return nil, fmt.Errorf("%w: %s", ErrSessionEnded, sessionID)
	}
	t := s.tokens[tokenKey(token)]
	switch {
	case t == nil:
		return nil, fmt.Errorf("session %s: %w", sessionID, ErrTokenInvalid)
	case t.used:
		return nil, fmt.Errorf("session %s: %w", sessionID, ErrTokenUsed)
	case t.superseded || !r.clock().Before(t.expires):
		return nil, fmt.Errorf("session %s: %w", sessionID, ErrTokenExpired)
	}
	t.used = true
	s.lastActivity = r.clock()
	return s, nil
}

// Touch records activity on a session, postponing its idle timeout.
func (r *Sessions) Touch(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byID[id]; s != nil && !s.state.ended() {
		s.lastActivity = r.clock()
	}
}

// SetState moves a live session to Connected, Disconnected or Terminating.
// Ended sessions cannot change (ErrSessionEnded); use Terminate or the
// gateway's end report to end one.
func (r *Sessions) SetState(id string, st SessionState) error {
	switch st {
	case SessionConnected, SessionDisconnected, SessionTerminating:
	default:
		return fmt.Errorf("ssmtest: SetState cannot move a session to %s", st)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byID[id]
	if s == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchSession, id)
	}
	if s.state.ended() {
		return fmt.Errorf("%w: %s", ErrSessionEnded, id)
	}
	if s.state == SessionTerminating && st != SessionTerminating {
		return fmt.Errorf("ssmtest: session %s is terminating", id)
	}
	s.state = st
	return nil
}

// ended records the end of a session (Terminated, or Failed when failed)
// with the text the client was given. Later reports are ignored.
func (r *Sessions) ended(id, output string, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byID[id]
	if s == nil || s.state.ended() {
		return
	}
	s.state = SessionTerminated
	if failed {
		s.state = SessionFailed
	}
	s.output = output
	s.endDate = r.clock()
}

// End records that a session ended, as the gateway reports it when the
// agent completes the task or the session fails.
func (r *Sessions) End(id, output string, failed bool) { r.ended(id, output, failed) }

// Terminate ends a session on the service's initiative: the session goes
// Terminating, OnTerminate tears down its channels, then it is Terminated.
// Terminating an ended session does nothing.
func (r *Sessions) Terminate(id, reason string) error {
	r.mu.Lock()
	s := r.byID[id]
	if s == nil {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoSuchSession, id)
	}
	if s.state.ended() || s.state == SessionTerminating {
		r.mu.Unlock()
		return nil
	}
	s.state = SessionTerminating
	onTerminate := r.hooks.OnTerminate
	r.mu.Unlock()
	r.logf("ssmtest: session %s: terminating: %s", id, reason)
	if onTerminate != nil {
		onTerminate(s, reason)
	}
	r.ended(id, reason, false)
	return nil
}

// terminate is Terminate for callers that need no error.
func (r *Sessions) terminate(id, reason string) { _ = r.Terminate(id, reason) }

// live returns the sessions that have not ended.
func (r *Sessions) live() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Session
	for _, s := range r.order {
		if !s.state.ended() {
			out = append(out, s)
		}
	}
	return out
}

// run is the sweeper: it ends sessions that were idle too long or reached
// the maximum duration. Deadlines are computed with the registry's clock,
// and the wait between sweeps runs on its timers (the server's Clock).
func (r *Sessions) run() {
	r.mu.Lock()
	if r.running || r.stop != nil {
		r.mu.Unlock()
		return
	}
	r.running = true
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	stop, done := r.stop, r.done
	r.mu.Unlock()
	go func() {
		defer close(done)
		for {
			wait := r.sweep()
			stopTimer := func() bool { return false }
			if wait > 0 {
				stopTimer = r.after(wait, r.wake)
			}
			select {
			case <-stop:
				stopTimer()
				return
			case <-r.kick:
				stopTimer()
			}
		}
	}()
}

// wake makes the sweeper recompute its next deadline.
func (r *Sessions) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// sweep terminates overdue sessions and returns the time until the next
// deadline (0: none).
func (r *Sessions) sweep() time.Duration {
	type due struct{ id, reason string }
	var overdue []due
	var next time.Duration
	r.mu.Lock()
	now := r.clock()
	for _, s := range r.order {
		if s.state.ended() || s.state == SessionTerminating {
			continue
		}
		deadline, reason := time.Time{}, ""
		if r.idle > 0 {
			deadline, reason = s.lastActivity.Add(r.idle), ReasonIdleTimeout
		}
		if s.MaxDuration > 0 {
			if d := s.StartDate.Add(s.MaxDuration); deadline.IsZero() || d.Before(deadline) {
				deadline, reason = d, ReasonMaxDuration
			}
		}
		if deadline.IsZero() {
			continue
		}
		if !now.Before(deadline) {
			overdue = append(overdue, due{s.ID, reason})
			continue
		}
		if w := deadline.Sub(now); next == 0 || w < next {
			next = w
		}
	}
	r.mu.Unlock()
	for _, d := range overdue {
		r.terminate(d.id, d.reason)
	}
	if len(overdue) > 0 {
		return time.Nanosecond // look again: hooks may have taken time
	}
	return next
}

// close stops the sweeper and waits for it.
func (r *Sessions) close() {
	r.mu.Lock()
	stop, done := r.stop, r.done
	r.running = false
	r.mu.Unlock()
	if stop == nil {
		return
	}
	select {
	case <-stop:
	default:
		close(stop)
	}
	<-done
}

// describeFilter is a DescribeSessions filter.
type describeFilter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

var sessionFilterKeys = []string{"InvokedAfter", "InvokedBefore", "Target", "Owner", "Status", "SessionId", "AccessType"}

// describe lists sessions for DescribeSessions: state "Active" (not ended)
// or "History" (ended), narrowed by filters.
func (r *Sessions) describe(state string, filters []describeFilter) ([]*Session, error) {
	if state != "Active" && state != "History" {
		return nil, validationErr(state, "state", "Member must satisfy enum value set: [Active, History]")
	}
	type match func(*Session) bool
	var ms []match
	for i, f := range filters {
		if !slices.Contains(sessionFilterKeys, f.Key) {
			return nil, validationErr(f.Key, fmt.Sprintf("filters.%d.member.key", i+1),
				"Member must satisfy enum value set: ["+strings.Join(sessionFilterKeys, ", ")+"]")
		}
		v := f.Value
		switch f.Key {
		case "InvokedAfter", "InvokedBefore":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return nil, apiErr("InvalidFilterKey", "Invalid value %q for filter %s: expected a time such as 2018-08-29T00:00:00Z.", v, f.Key)
			}
			after := f.Key == "InvokedAfter"
			ms = append(ms, func(s *Session) bool { return s.StartDate.After(t) == after && !s.StartDate.Equal(t) })
		case "Target":
			ms = append(ms, func(s *Session) bool { return s.Target == v })
		case "Owner":
			ms = append(ms, func(s *Session) bool { return s.Owner == v })
		case "Status":
			ms = append(ms, func(s *Session) bool { return string(s.state) == v })
		case "SessionId":
			ms = append(ms, func(s *Session) bool { return s.ID == v })
		case "AccessType":
			ms = append(ms, func(*Session) bool { return v == "Standard" })
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Session
	for _, s := range r.order {
		if s.state.ended() != (state == "History") {
			continue
		}
		ok := true
		for _, m := range ms {
			ok = ok && m(s)
		}
		if ok {
			out = append(out, s)
		}
	}
	slices.Reverse(out) // newest first, as the service lists them
	return out, nil
}
