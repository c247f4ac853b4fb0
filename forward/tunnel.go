package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/xtaci/smux"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// Starter starts Session Manager sessions; *ssmclient.Client is one.
type Starter interface {
	StartSession(ctx context.Context, in ssmclient.StartInput) (*ssmclient.Session, error)
}

var _ Starter = (*ssmclient.Client)(nil)

// ErrClosed is returned by Dial after Close.
var ErrClosed = errors.New("forward: closed")

// ErrSessionOver is returned by Dial when the session a tunnel was given
// has ended and the tunnel has no Client to start another.
var ErrSessionOver = errors.New("forward: the session has ended and no new one can be started")

// TunnelConfig configures a Tunnel.
type TunnelConfig struct {
	// Client starts the tunnel's sessions. It may be nil when Session is
	// given: the tunnel then ends with that session.
	Client Starter
	// Session, if set, is an already open port-forwarding session (for
	// example one the AWS CLI started and handed over, opened with
	// ssmclient.OpenSession) that the tunnel uses first. Its OnFlag must
	// have been made with FlagHandler so that a refused dial does not end
	// it.
	Session *ssmclient.Session
	// Target is the resolved target id.
	Target string
	// Host is the destination host as the instance resolves it; "" is the
	// instance itself (AWS-StartPortForwardingSession), anything else goes
	// through AWS-StartPortForwardingSessionToRemoteHost.
	Host string
	// Port is the destination port.
	Port int
	// LocalPort is passed as the documents' localPortNumber parameter, as
	// the AWS CLI passes what the user gave; the agent only echoes it.
	LocalPort int
	// Reason is recorded with each session.
	Reason string
	// Out receives the lines the official plugin prints ("Starting session
	// with SessionId: …", "Connection to destination port failed, check
	// SSM Agent logs.") and the end of a session; nil discards them.
	Out *Printer
	// OnSessionEnd, if set, is called when a mux session ends other than
	// by Close, with the error its stream ended with (a
	// *ssmclient.SessionEndedError when the service closed it).
	OnSessionEnd func(id string, err error)
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// Tunnel carries TCP connections to one destination through Session
// Manager sessions, as the session-manager-plugin does in its
// port-forwarding mode, and opens a new session when the service has
// ended the last one.
//
// With agents newer than 3.0.196.0 (protocol.AgentSupportsMux) and a
// port-forwarding document, one session carries every connection: each
// Dial opens an smux stream, for which the agent makes one TCP connection
// to the destination. When that dial fails on the instance, the agent
// sends Flag ConnectToPortError and closes the stream: that connection
// reads EOF and the message is printed, while the session and the other
// connections go on. When the service ends the session (idle timeout,
// maximum duration, TerminateSession), its streams end, the reason is
// printed, and the next Dial starts a new session. A dropped websocket is
// resumed by ssmclient without the streams noticing.
//
// Older agents only know basic mode, one TCP connection per session, so
// each Dial then starts a session of its own (the official plugin instead
// serves one connection at a time over a single session). In basic mode
// the agent cannot tell the client that the destination closed the
// connection; the connection ends when the local side closes it or the
// session ends.
type Tunnel struct {
	cfg  TunnelConfig
	ctx  context.Context // cancelled by Close
	stop context.CancelFunc

	mu     sync.Mutex
	closed bool
	mode   mode
	mux    *muxSession                     // the current mux session, nil before the first or after its end
	spare  *ssmclient.Session              // a basic session not yet used by a connection
	basics map[*ssmclient.Session]struct{} // basic sessions in use
	given  *ssmclient.Session              // cfg.Session until it is taken
	wg     sync.WaitGroup                  // session watchers
}

type mode int

const (
	modeUnknown mode = iota
	modeMux
	modeBasic
)

// NewTunnel returns a tunnel; no session starts before Start or Dial.
func NewTunnel(cfg TunnelConfig) *Tunnel {
	ctx, stop := context.WithCancel(context.Background())
	return &Tunnel{cfg: cfg, ctx: ctx, stop: stop, given: cfg.Session, basics: make(map[*ssmclient.Session]struct{})}
}

func (t *Tunnel) logf(format string, args ...any) {
	if t.cfg.Logf != nil {
		t.cfg.Logf(format, args...)
	}
}

// Document is the session document the tunnel's sessions use.
func (t *Tunnel) Document() string {
	if t.cfg.Host != "" {
		return ssmclient.DocumentPortForwardingRemote
	}
	return ssmclient.DocumentPortForwarding
}

// Parameters are the document parameters of the tunnel's sessions.
func (t *Tunnel) Parameters() map[string][]string {
	p := map[string][]string{
		"portNumber":      {strconv.Itoa(t.cfg.Port)},
		"localPortNumber": {strconv.Itoa(t.cfg.LocalPort)},
	}
	if t.cfg.Host != "" {
		p["host"] = []string{t.cfg.Host}
	}
	return p
}

// FlagHandler is the OnFlag of a port-forwarding session's Conn: a
// ConnectToPortError (one connection's dial failed on the instance) is
// reported on out and to logf and ends nothing; DisconnectToPort and
// TerminateSession end the stream.
func FlagHandler(out *Printer, logf func(string, ...any)) func(protocol.Flag) error {
	return func(f protocol.Flag) error {
		if f == protocol.FlagConnectToPortError {
			out.Println("Connection to destination port failed, check SSM Agent logs.")
			if logf != nil {
				logf("forward: the agent could not connect to the destination port")
			}
			return nil
		}
		return protocol.DefaultFlagHandler(f)
	}
}

// Start makes sure a session is open (starting one if needed) and returns
// its id: the first thing a forwarder does, so that a wrong target or a
// refused document fails at once.
func (t *Tunnel) Start(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return "", ErrClosed
	}
	if t.mode == modeBasic && t.spare != nil {
		return t.spare.ID, nil
	}
	if t.mux != nil && !t.mux.mux.IsClosed() {
		return t.mux.sess.ID, nil
	}
	sess, err := t.startLocked(ctx)
	if err != nil {
		return "", err
	}
	if t.mode == modeBasic {
		t.spare = sess
	}
	return sess.ID, nil
}

// SessionID is the id of the current mux session or unused basic
// session, "" if none is open.
func (t *Tunnel) SessionID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.mux != nil && !t.mux.mux.IsClosed():
		return t.mux.sess.ID
	case t.spare != nil:
		return t.spare.ID
	}
	return ""
}

// Dial opens a connection to the destination through the tunnel's session,
// starting one if none is open. The connection's Close ends its stream
// (mux) or its session (basic).
func (t *Tunnel) Dial(ctx context.Context) (net.Conn, string, error) {
	for attempt := 0; ; attempt++ {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, "", ErrClosed
		}
		if t.mode == modeBasic {
			c, id, err := t.dialBasicLocked(ctx)
			t.mu.Unlock()
			return c, id, err
		}
		if t.mux == nil || t.mux.mux.IsClosed() {
			if _, err := t.startLocked(ctx); err != nil {
				t.mu.Unlock()
				return nil, "", err
			}
			if t.mode == modeBasic {
				c, id, err := t.dialBasicLocked(ctx)
				t.mu.Unlock()
				return c, id, err
			}
		}
		ms := t.mux
		t.mu.Unlock()
		st, err := ms.mux.OpenStream()
		if err == nil {
			return st, ms.sess.ID, nil
		}
		if !ms.mux.IsClosed() || attempt > 0 {
			return nil, "", fmt.Errorf("forward: open a stream in session %s: %w", ms.sess.ID, err)
		}
		// The session ended between the check and OpenStream: once more,
		// with a new session.
	}
}

// dialBasicLocked hands out the spare basic session or starts a new one.
func (t *Tunnel) dialBasicLocked(ctx context.Context) (net.Conn, string, error) {
	sess := t.spare
	t.spare = nil
	if sess == nil {
		var err error
		if sess, err = t.startLocked(ctx); err != nil {
			return nil, "", err
		}
	}
	t.basics[sess] = struct{}{}
	return &basicConn{Session: sess, t: t}, sess.ID, nil
}

// basicConn is a basic-mode session used as one connection.
type basicConn struct {
	*ssmclient.Session
	t    *Tunnel
	once sync.Once
}

func (c *basicConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Session.Close()
		c.t.mu.Lock()
		delete(c.t.basics, c.Session)
		c.t.mu.Unlock()
	})
	return err
}

// startLocked starts (or takes the given) session and decides the mode.
// It holds t.mu, so that a burst of connections starts one session, not
// one each.
func (t *Tunnel) startLocked(ctx context.Context) (*ssmclient.Session, error) {
	sess := t.given
	t.given = nil
	if sess == nil {
		if t.cfg.Client == nil {
			return nil, ErrSessionOver
		}
		ctx, cancel := context.WithCancel(ctx)
		defer context.AfterFunc(t.ctx, cancel)()
		defer cancel()
		var err error
		sess, err = t.cfg.Client.StartSession(ctx, ssmclient.StartInput{
			Target: t.cfg.Target, DocumentName: t.Document(), Parameters: t.Parameters(), Reason: t.cfg.Reason,
			CloseFlag: protocol.FlagTerminateSession, OnFlag: FlagHandler(t.cfg.Out, t.cfg.Logf), Logf: t.cfg.Logf,
		})
		if err != nil {
			if t.ctx.Err() != nil {
				return nil, ErrClosed
			}
			return nil, err
		}
		t.cfg.Out.Printf("Starting session with SessionId: %s", sess.ID)
	}
	hs := sess.Handshake
	if hs.Port == nil || hs.Port.Type != "LocalPortForwarding" || !protocol.AgentSupportsMux(hs.AgentVersion) {
		if t.mode != modeBasic {
			t.logf("forward: session %s: basic mode (agent %q, one session per connection)", sess.ID, hs.AgentVersion)
		}
		t.mode = modeBasic
		return sess, nil
	}
	t.mode = modeMux
	rc := &recordingConn{Session: sess}
	mux, err := protocol.NewMuxClient(rc, hs.AgentVersion)
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("forward: session %s: %w", sess.ID, err)
	}
	// smux only records its reader's error; close the mux then, so
	// that its streams end and IsClosed tells Dial to start anew.
	rc.setOnErr(func() { go mux.Close() })
	ms := &muxSession{sess: sess, mux: mux, rc: rc}
	t.mux = ms
	t.wg.Add(1)
	go t.watch(ms)
	return sess, nil
}

// watch waits for a mux session to end, reports why, and closes the
// session (terminating it, if the service has not already).
func (t *Tunnel) watch(ms *muxSession) {
	defer t.wg.Done()
	<-ms.mux.CloseChan()
	if t.ctx.Err() == nil {
		why := "the session ended"
		var se *ssmclient.SessionEndedError
		if err := ms.rc.err(); errors.As(err, &se) && se.Output != "" {
			why = "the session ended: " + se.Output
		} else if err != nil && !errors.As(err, &se) && !errors.Is(err, net.ErrClosed) {
			why = "the session failed: " + err.Error()
		}
		if t.cfg.Client != nil {
			why += "; the next connection starts a new one"
		}
		t.cfg.Out.Printf("Session %s: %s.", ms.sess.ID, trimDot(why))
		t.logf("forward: session %s: %s", ms.sess.ID, why)
		if t.cfg.OnSessionEnd != nil {
			t.cfg.OnSessionEnd(ms.sess.ID, ms.rc.err())
		}
	}
	ms.sess.Close()
}

func trimDot(s string) string {
	for len(s) > 0 && s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// Close ends the tunnel: its sessions are terminated and their
// connections end. Dial then fails with ErrClosed.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.stop()
	ms, spare, given := t.mux, t.spare, t.given
	basics := make([]*ssmclient.Session, 0, len(t.basics))
	for s := range t.basics {
		basics = append(basics, s)
	}
	t.mu.Unlock()
	if ms != nil {
		ms.mux.Close()
	}
	for _, s := range append(basics, spare, given) {
		if s != nil {
			s.Close()
		}
	}
	t.wg.Wait()
	return nil
}

// muxSession is a session carrying smux.
type muxSession struct {
	sess *ssmclient.Session
	mux  *smux.Session
	rc   *recordingConn
}

// recordingConn keeps the first read error of a session, which says why
// the session ended, for the smux session that reads it.
type recordingConn struct {
	*ssmclient.Session
	onErr   func() // called once, at the first read error
	mu      sync.Mutex
	readErr error
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Session.Read(p)
	if err != nil {
		c.mu.Lock()
		first := c.readErr == nil
		if first {
			c.readErr = err
		}
		onErr := c.onErr
		c.mu.Unlock()
		if first && onErr != nil {
			onErr()
		}
	}
	return n, err
}

// setOnErr sets the callback for the first read error, calling it at
// once if that error has already happened.
func (c *recordingConn) setOnErr(f func()) {
	c.mu.Lock()
	c.onErr = f
	happened := c.readErr != nil
	c.mu.Unlock()
	if happened {
		f()
	}
}

func (c *recordingConn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readErr
}
