package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The handshake, as the agent runs it at the start of Port and
// NonInteractiveCommands sessions and of any KMS-encrypted session (plain
// shell and InteractiveCommands sessions skip it and start with Output):
//
//	agent                                   client
//	HandshakeRequest (5)          ────────►
//	  AgentVersion, actions: SessionType, [KMSEncryption]
//	                              ◄──────── HandshakeResponse (6)
//	                                          ClientVersion, one result per action
//	[EncChallengeRequest (8)      ────────►  64 random bytes sealed by the agent
//	                              ◄──────── EncChallengeResponse (9)]
//	                                          the same bytes sealed by the client
//	HandshakeComplete (7)         ────────►
//	  HandshakeTimeToComplete, CustomerMessage
//
// The agent waits 15 s for each answer. It processes only handshake
// payloads until it has sent HandshakeComplete: client data sent earlier
// is acknowledged and thrown away, so a client must send nothing else
// before HandshakeComplete.

// Session types named by the SessionType action.
const (
	SessionTypePort                   = "Port"
	SessionTypeShell                  = "Standard_Stream"
	SessionTypeInteractiveCommands    = "InteractiveCommands"
	SessionTypeNonInteractiveCommands = "NonInteractiveCommands"
)

// DefaultHandshakeTimeout is how long the agent waits for each of the
// client's handshake answers.
const DefaultHandshakeTimeout = 15 * time.Second

// Texts the real agent reports when a handshake fails.
const (
	msgHandshakeTimeout  = "Handshake timed out. Please ensure that you have the latest version of the session manager plugin."
	msgChallengeTimeout  = "Timed out waiting for encryption challenge."
	msgChallengeMismatch = "Encryption challenge does not match!"
	msgKMSEncrypted      = "This session is encrypted using AWS KMS."
)

// ErrHandshakeTimeout is wrapped by the HandshakeError of a handshake
// whose peer did not answer in time.
var ErrHandshakeTimeout = errors.New("protocol: handshake timed out")

// ErrNoKMSClient is wrapped when the agent asks for KMS encryption and no
// KMSClient was configured.
var ErrNoKMSClient = errors.New("protocol: no KMS client configured")

// HandshakeError is a failed handshake. Message is the text the real
// program reports (for the agent, what ends up in the session's failure
// output, e.g. "Handshake timed out. Please ensure that you have the latest
// version of the session manager plugin."); Action names the client action
// that failed, if one did; Err is the cause, if there is one (a KMS API
// error, ErrDecrypt, ErrHandshakeTimeout, ...).
type HandshakeError struct {
	Action  ActionType
	Message string
	Err     error
}

func (e *HandshakeError) Error() string { return "protocol: handshake: " + e.Message }

// Unwrap returns the cause.
func (e *HandshakeError) Unwrap() error { return e.Err }

// received is one payload read from a MessageStream, or the read error.
type received struct {
	pt  PayloadType
	p   []byte
	err error
}

// recvAsync reads one payload in the background. The handshake reads this
// way so that timeouts and ctx can interrupt it; a read abandoned that way
// still consumes one payload when it completes, which is harmless because
// the handshake has failed and the stream is being closed.
func recvAsync(ms MessageStream) <-chan received {
	ch := make(chan received, 1)
	go func() {
		pt, p, err := ms.Recv()
		ch <- received{pt, p, err}
	}()
	return ch
}

func sendJSON(ms MessageStream, pt PayloadType, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("protocol: handshake: encode %v: %w", pt, err)
	}
	if err := ms.Send(pt, b); err != nil {
		return fmt.Errorf("protocol: handshake: send %v: %w", pt, err)
	}
	return nil
}

func logfOrNop(logf func(string, ...any)) func(string, ...any) {
	if logf == nil {
		return func(string, ...any) {}
	}
	return logf
}

// replayStream returns one held payload before reading on.
type replayStream struct {
	MessageStream
	mu    sync.Mutex
	first *received
}

func (s *replayStream) Recv() (PayloadType, []byte, error) {
	s.mu.Lock()
	f := s.first
	s.first = nil
	s.mu.Unlock()
	if f != nil {
		return f.pt, f.p, nil
	}
	return s.MessageStream.Recv()
}

// handshakeTimeout returns the wait the agent allows for each handshake
// answer: d, or DefaultHandshakeTimeout when d is not positive.
func handshakeTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultHandshakeTimeout
	}
	return d
}

// waitCtx waits for one payload, ctx, or the timer.
func waitCtx(ctx context.Context, ms MessageStream, timer <-chan time.Time) (received, bool, error) {
	select {
	case r := <-recvAsync(ms):
		if r.err != nil {
			return r, false, fmt.Errorf("protocol: handshake: %w", r.err)
		}
		return r, false, nil
	case <-timer:
		return received{}, true, nil
	case <-ctx.Done():
		return received{}, false, fmt.Errorf("protocol: handshake: %w", ctx.Err())
	}
}
