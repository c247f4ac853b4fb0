package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxChunk is the largest payload a Conn sends by default: the
// plugin and the agent both read their sockets 1024 bytes at a time.
const DefaultMaxChunk = 1024

// ErrConnectToPort is the read error of a Conn whose agent reported Flag
// ConnectToPortError: it could not connect to the destination port.
var ErrConnectToPort = errors.New("protocol: the agent could not connect to the destination port")

// ConnConfig configures a Conn.
type ConnConfig struct {
	// Agent makes the Conn the agent's end. The client's end writes
	// Output and reads Output, StdErr and ExitCode; the agent's end writes
	// Output and reads Output and Size.
	Agent bool
	// SessionID and TargetID name the ends in LocalAddr and RemoteAddr.
	SessionID, TargetID string
	// MaxChunk is the largest Output payload Write sends (default
	// DefaultMaxChunk).
	MaxChunk int
	// CloseFlag is sent to the peer when the Conn is closed; zero sends
	// nothing. The real programs use:
	//   - FlagTerminateSession: a client ending a Port session (the
	//     plugin's answer to a signal; the agent then ends the session and
	//     closes its TCP connection; agents newer than 2.3.722.0, see
	//     AgentSupportsTerminateSessionFlag);
	//   - FlagDisconnectToPort: a client whose local connection in basic
	//     port forwarding closed (the agent closes its TCP connection and
	//     dials again on the next data);
	//   - nothing: the agent's end (the agent ends a session with
	//     channel_closed, and the plugin writes every payload of a basic
	//     port session to its socket, flags included), and a client that
	//     just stops (the plugin sends nothing when its stdin ends in
	//     AWS-StartSSHSession).
	CloseFlag Flag
	// OnFlag handles the peer's Flag payloads. A nil return keeps the
	// Conn reading; an error ends the read side with that error (io.EOF
	// for a clean end). nil means DefaultFlagHandler. In smux mode the
	// agent sends ConnectToPortError for a single failed stream, so a mux
	// client wants a handler that only logs it.
	OnFlag func(Flag) error
	// Stderr receives the client's StdErr payloads (command sessions with
	// separate output streams); nil discards them.
	Stderr io.Writer
	// OnSize receives the agent's Size payloads (terminal size); nil
	// discards them.
	OnSize func(SizeData)
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// DefaultFlagHandler ends the read side with io.EOF on DisconnectToPort
// and TerminateSession and with ErrConnectToPort on ConnectToPortError,
// and ignores unknown flags.
func DefaultFlagHandler(f Flag) error {
	switch f {
	case FlagDisconnectToPort, FlagTerminateSession:
		return io.EOF
	case FlagConnectToPortError:
		return ErrConnectToPort
	}
	return nil
}

// Conn is a session's data stream as a net.Conn, over a MessageStream
// (after the handshake; pass the result's Stream for encrypted sessions).
//
// Reads return the peer's Output payloads in order, keeping what does not
// fit for the next Read. Writes are cut into Output payloads of at most
// MaxChunk bytes and handed, in order, to a sending goroutine: Write
// returns once the last chunk is handed over, so a write deadline bounds
// the wait for a busy MessageStream and a chunk handed over is sent even
// if a later one times out.
//
// The Conn reads its MessageStream from a goroutine until Recv fails or a
// flag ends the read side. When Recv fails Read returns its error (io.EOF
// at the end of the stream); other payload types go to ConnConfig's
// handlers. There is no half-close in the protocol, so Conn has no
// CloseWrite.
//
// Close stops Read and Write (they return net.ErrClosed), then waits for
// the data already written and CloseFlag to be handed to the
// MessageStream; a write deadline bounds that wait. After Close the Conn
// keeps reading and discarding Output until the MessageStream ends, so the
// peer is never blocked by a closed Conn; close the MessageStream to end
// it.
type Conn struct {
	ms   MessageStream
	cfg  ConnConfig
	logf func(string, ...any)

	closeOnce sync.Once
	closed    chan struct{}

	rmu      sync.Mutex // serialises Read
	leftover []byte
	incoming chan []byte
	pumpDone chan struct{}
	readErr  error // set before pumpDone closes
	rdl      *deadline

	wmu        sync.Mutex // serialises writers
	outgoing   chan outPayload
	writerDone chan struct{}
	writeErr   error // set before writerDone closes
	wdl        *deadline

	exitMu   sync.Mutex
	exitCode int
	hasExit  bool
}

type outPayload struct {
	pt PayloadType
	p  []byte
}

var _ net.Conn = (*Conn)(nil)

// NewConn returns a Conn over ms and starts its reading and sending
// goroutines.
func NewConn(ms MessageStream, cfg ConnConfig) *Conn {
	if cfg.MaxChunk <= 0 {
		cfg.MaxChunk = DefaultMaxChunk
	}
	if cfg.OnFlag == nil {
		cfg.OnFlag = DefaultFlagHandler
	}
	c := &Conn{
		ms:         ms,
		cfg:        cfg,
		logf:       logfOrNop(cfg.Logf),
		closed:     make(chan struct{}),
		incoming:   make(chan []byte),
		pumpDone:   make(chan struct{}),
		rdl:        newDeadline(),
		outgoing:   make(chan outPayload),
		writerDone: make(chan struct{}),
		wdl:        newDeadline(),
	}
	go c.pump()
	go c.writer()
	return c
}

func (c *Conn) pump() {
	c.readErr = c.readLoop()
	close(c.pumpDone)
}

func (c *Conn) readLoop() error {
	for {
		pt, p, err := c.ms.Recv()
		if err != nil {
			return err
		}
		switch {
		case pt == PayloadOutput:
			if len(p) == 0 {
				continue
			}
			select {
			case c.incoming <- p:
			case <-c.closed: // discarded
			}
		case pt == PayloadFlag:
			f, err := ParseFlag(p)
			if err != nil {
				c.logf("protocol: conn: ignoring %v", err)
				continue
			}
			if err := c.cfg.OnFlag(f); err != nil {
				return err
			}
		case pt == PayloadStdErr && !c.cfg.Agent:
			if c.cfg.Stderr != nil {
				if _, err := c.cfg.Stderr.Write(p); err != nil {
					c.logf("protocol: conn: stderr: %v", err)
				}
			}
		case pt == PayloadExitCode && !c.cfg.Agent:
			c.setExitCode(p)
		case pt == PayloadSize && c.cfg.Agent:
			var size SizeData
			if err := json.Unmarshal(p, &size); err != nil {
				c.logf("protocol: conn: ignoring Size payload %q: %v", p, err)
				continue
			}
			if c.cfg.OnSize != nil {
				c.cfg.OnSize(size)
			}
		default:
			c.logf("protocol: conn: ignoring a %v payload", pt)
		}
	}
}

// setExitCode records an ExitCode payload: the text "EXIT_CODE: <n>".
func (c *Conn) setExitCode(p []byte) {
	s, ok := strings.CutPrefix(string(p), "EXIT_CODE:")
	code, err := strconv.Atoi(strings.TrimSpace(s))
	if !ok || err != nil {
		c.logf("protocol: conn: ignoring ExitCode payload %q", p)
		return
	}
	c.exitMu.Lock()
	c.exitCode, c.hasExit = code, true
	c.exitMu.Unlock()
}

// ExitCode returns the command's exit status from the agent's ExitCode
// payload (NonInteractiveCommands sessions with separate output streams),
// and whether one arrived. It is final once Read has returned io.EOF.
func (c *Conn) ExitCode() (int, bool) {
	c.exitMu.Lock()
	defer c.exitMu.Unlock()
	return c.exitCode, c.hasExit
}

func (c *Conn) writer() {
	defer close(c.writerDone)
	for {
		select {
		case out := <-c.outgoing:
			if err := c.ms.Send(out.pt, out.p); err != nil {
				c.writeErr = err
				return
			}
		case <-c.closed:
			if c.cfg.CloseFlag != 0 {
				if err := c.ms.Send(PayloadFlag, MarshalFlag(c.cfg.CloseFlag)); err != nil {
					c.writeErr = err
				}
			}
			return
		}
	}
}

// Read reads the peer's Output.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	switch {
	case isClosed(c.closed):
		return 0, net.ErrClosed
	case c.rdl.expired():
		return 0, os.ErrDeadlineExceeded
	case len(c.leftover) > 0:
		n := copy(b, c.leftover)
		c.leftover = c.leftover[n:]
		return n, nil
	case len(b) == 0:
		return 0, nil
	}
	select {
	case p := <-c.incoming:
		n := copy(b, p)
		c.leftover = p[n:]
		return n, nil
	case <-c.pumpDone:
		return 0, c.readErr
	case <-c.rdl.wait():
		return 0, os.ErrDeadlineExceeded
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

// Write sends b as Output payloads of at most MaxChunk bytes.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for {
		chunk := b[:min(len(b), c.cfg.MaxChunk)]
		if err := c.handOff(PayloadOutput, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		b = b[len(chunk):]
		if len(b) == 0 {
			return n, nil
		}
	}
}

// handOff passes one payload to the sending goroutine; an empty p only
// checks that the Conn can send.
func (c *Conn) handOff(pt PayloadType, p []byte) error {
	switch {
	case isClosed(c.closed):
		return net.ErrClosed
	case c.wdl.expired():
		return os.ErrDeadlineExceeded
	case isClosed(c.writerDone):
		return c.writeError()
	case len(p) == 0:
		return nil
	}
	select {
	case c.outgoing <- outPayload{pt, append([]byte(nil), p...)}:
		return nil
	case <-c.wdl.wait():
		return os.ErrDeadlineExceeded
	case <-c.closed:
		return net.ErrClosed
	case <-c.writerDone:
		return c.writeError()
	}
}

func (c *Conn) writeError() error {
	if c.writeErr == nil {
		return net.ErrClosed
	}
	return c.writeErr
}

// SetWindowSize sends the terminal size (a plain Size payload) to the
// agent, as the plugin does for shell sessions whenever the terminal is
// resized. Only the client's end sends it.
func (c *Conn) SetWindowSize(cols, rows int) error {
	if c.cfg.Agent {
		return errors.New("protocol: conn: only the client sends the window size")
	}
	if cols < 0 || rows < 0 {
		return fmt.Errorf("protocol: conn: invalid window size %dx%d", cols, rows)
	}
	p, err := json.Marshal(SizeData{Cols: uint32(cols), Rows: uint32(rows)})
	if err != nil {
		return fmt.Errorf("protocol: conn: %w", err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.handOff(PayloadSize, p)
}

// Close closes the Conn; see the type's documentation.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		close(c.closed)
		first = true
	})
	if !first {
		return net.ErrClosed
	}
	select {
	case <-c.writerDone:
		return c.writeErr
	case <-c.wdl.wait():
		return nil
	}
}

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write, SetWindowSize and the
// wait in Close.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}

// Addr names one end of a session's data stream.
type Addr struct {
	// Role is "client" or "agent".
	Role      string
	SessionID string
	TargetID  string
}

// Network returns "ssm".
func (a Addr) Network() string { return "ssm" }

// String returns role:target/session, e.g. "agent:i-0123/alice-0abc".
func (a Addr) String() string { return a.Role + ":" + a.TargetID + "/" + a.SessionID }

func (c *Conn) addr(agent bool) net.Addr {
	role := "client"
	if agent {
		role = "agent"
	}
	return Addr{Role: role, SessionID: c.cfg.SessionID, TargetID: c.cfg.TargetID}
}

// LocalAddr returns this end's Addr.
func (c *Conn) LocalAddr() net.Addr { return c.addr(c.cfg.Agent) }

// RemoteAddr returns the peer's Addr.
func (c *Conn) RemoteAddr() net.Addr { return c.addr(!c.cfg.Agent) }
