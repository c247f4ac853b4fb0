package ssmclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/protocol"
)

// Document names of the sessions the tools start.
const (
	DocumentSSH                  = "AWS-StartSSHSession"
	DocumentPortForwarding       = "AWS-StartPortForwardingSession"
	DocumentPortForwardingRemote = "AWS-StartPortForwardingSessionToRemoteHost"
)

// StartInput says which session to start.
type StartInput struct {
	// Target is a resolved target id (Target.ID).
	Target string
	// DocumentName is the session document; empty starts a shell with the
	// account's session preferences.
	DocumentName string
	// Parameters are the document's parameters, e.g. portNumber.
	Parameters map[string][]string
	// Reason is recorded with the session.
	Reason string
	// MaxChunk bounds the payload of one data message (0: the plugin's
	// 1024 bytes).
	MaxChunk int
	// CloseFlag is sent to the agent when the session's Conn is closed
	// (see protocol.ConnConfig.CloseFlag).
	CloseFlag protocol.Flag
	// OnFlag handles the agent's flags (nil: protocol.DefaultFlagHandler).
	OnFlag func(protocol.Flag) error
	// Stderr receives a command session's StdErr payloads (nil discards
	// them).
	Stderr io.Writer
	// Logf receives diagnostics; nil discards them. Tokens are never
	// logged.
	Logf func(format string, args ...any)
}

// Session is a started Session Manager session: its data stream is the
// embedded *protocol.Conn (a net.Conn). Close ends the stream and calls
// TerminateSession, so that no session lingers.
type Session struct {
	*protocol.Conn
	// ID is the session id.
	ID string
	// Target is the session's target id.
	Target string
	// Handshake is what the agent and the client agreed on.
	Handshake *protocol.ClientHandshakeResult

	ms        *protocol.Session
	client    *Client
	closeOnce sync.Once
	closeErr  error
}

// TLSConfig returns the TLS configuration the AWS clients use (including a
// CA bundle from AWS_CA_BUNDLE or the profile's ca_bundle), for the
// data-channel websocket.
func (c *Client) TLSConfig() *tls.Config {
	var tr *http.Transport
	switch hc := c.Config.HTTPClient.(type) {
	case *awshttp.BuildableClient:
		tr = hc.GetTransport()
	case *http.Client:
		tr, _ = hc.Transport.(*http.Transport)
	}
	if tr != nil && tr.TLSClientConfig != nil {
		return tr.TLSClientConfig.Clone()
	}
	return nil
}

// SessionResponse is a started session's data-channel address: what
// SSM StartSession answers, and what ECS ExecuteCommand answers in its
// Session member (and what the AWS CLI hands session-manager-plugin).
type SessionResponse struct {
	SessionID  string
	StreamURL  string
	TokenValue string
}

// StartSession starts a session with StartSession, opens its data channel,
// runs the handshake and returns the data stream (see OpenSession). Errors
// from AWS are explained (see Explain).
func (c *Client) StartSession(ctx context.Context, in StartInput) (*Session, error) {
	req := &ssm.StartSessionInput{Target: &in.Target, Parameters: in.Parameters}
	if in.DocumentName != "" {
		req.DocumentName = &in.DocumentName
	}
	if in.Reason != "" {
		req.Reason = &in.Reason
	}
	out, err := c.startSession(ctx, req)
	if err != nil {
		return nil, Explain(err)
	}
	if out.SessionId == nil || out.StreamUrl == nil || out.TokenValue == nil {
		return nil, errors.New("ssmclient: StartSession answered without a session id, stream URL or token")
	}
	if err := ctx.Err(); err != nil {
		c.terminate(*out.SessionId, in.Logf)
		return nil, err
	}
	return c.OpenSession(ctx, SessionResponse{SessionID: *out.SessionId, StreamURL: *out.StreamUrl, TokenValue: *out.TokenValue}, in)
}

// startCallTimeout bounds a StartSession call that ctx no longer bounds
// (startSession).
const startCallTimeout = 30 * time.Second

// startSession calls StartSession so that a ctx ending during the call
// (Ctrl-C, a copy that no longer needs another session) does not abandon
// it halfway: the service starts the session when the request arrives,
// and a caller that never reads the answer cannot terminate a session it
// does not know, which then stays Connecting until its token expires.
// Credentials are resolved first under ctx (an MFA prompt can still be
// interrupted); the call itself runs to its answer, bounded by
// startCallTimeout, and the caller terminates the session if ctx ended
// meanwhile.
func (c *Client) startSession(ctx context.Context, req *ssm.StartSessionInput) (*ssm.StartSessionOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.Config.Credentials != nil {
		if _, err := c.Config.Credentials.Retrieve(ctx); err != nil {
			// As the SDK reports a call whose credentials failed.
			return nil, &smithy.OperationError{ServiceID: "SSM", OperationName: "StartSession", Err: err}
		}
	}
	call, cancel := context.WithTimeout(context.WithoutCancel(ctx), startCallTimeout)
	defer cancel()
	return c.SSM.StartSession(call, req)
}

// OpenSession opens the data channel of a session that is already started
// (by StartSession, by ECS ExecuteCommand, or by whoever handed over its
// response), runs the handshake and returns the data stream. in.Target
// names the session's target (the KMS encryption context uses it);
// DocumentName, Parameters and Reason are not used. A dropped websocket is
// replaced through ResumeSession without the caller noticing. When opening
// fails, the session is terminated.
func (c *Client) OpenSession(ctx context.Context, resp SessionResponse, in StartInput) (*Session, error) {
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sid := resp.SessionID
	logf("ssmclient: session %s started on %s", sid, in.Target)

	// The upgrade is signed as plugin releases from 1.2.764.0 sign it,
	// with the credentials current at each dial (see resume).
	opts := protocol.DialOptions{ClientVersion: protocol.ClientVersion, TLSConfig: c.TLSConfig(), Logf: logf,
		Credentials: c.Config.Credentials, Region: c.Config.Region}
	tr, err := protocol.DialDataChannel(ctx, resp.StreamURL, resp.TokenValue, opts)
	if err != nil {
		c.terminate(sid, logf)
		if e := explainDial(err); e != nil {
			return nil, e
		}
		return nil, fmt.Errorf("ssmclient: open the data channel of %s: %w", sid, err)
	}
	ms := protocol.NewSession(tr, protocol.SessionConfig{
		Role: protocol.RoleClient,
		Logf: logf,
		Reconnect: func(ctx context.Context) (protocol.Transport, error) {
			logf("ssmclient: session %s: data channel dropped; resuming", sid)
			return c.resume(ctx, sid, opts, logf)
		},
	})
	hs, err := protocol.ClientHandshake(ctx, ms, protocol.ClientHandshakeConfig{
		SessionID: sid, TargetID: in.Target, KMS: protocol.NewKMSClient(c.KMS), Logf: logf,
	})
	if err != nil {
		ms.Close()
		c.terminate(sid, logf)
		return nil, explainSessionEnd(Explain(err))
	}
	if hs.CustomerMessage != "" {
		logf("ssmclient: %s", hs.CustomerMessage)
	}
	conn := protocol.NewConn(hs.Stream(ms), protocol.ConnConfig{
		SessionID: sid, TargetID: in.Target, MaxChunk: in.MaxChunk,
		CloseFlag: in.CloseFlag, OnFlag: in.OnFlag, Stderr: in.Stderr, Logf: logf,
	})
	return &Session{Conn: conn, ID: sid, Target: in.Target, Handshake: hs, ms: ms, client: c}, nil
}

// Read reads the session's data; when the service closes the channel the
// error says why (see SessionEndedError).
func (s *Session) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if err != nil {
		err = explainSessionEnd(err)
	}
	return n, err
}

// Close ends the data stream (waiting briefly for written data to be
// acknowledged) and terminates the session.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.Conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.ms.Flush(ctx)
		cancel()
		s.ms.Close()
		s.client.terminate(s.ID, nil)
		if errors.Is(s.closeErr, net.ErrClosed) {
			s.closeErr = nil
		}
	})
	return s.closeErr
}

// Stats reports the reliable session's counters.
func (s *Session) Stats() protocol.SessionStats { return s.ms.Stats() }

// terminate calls TerminateSession, bounded in time; the session may
// already be over, which is fine.
func (c *Client) terminate(id string, logf func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.SSM.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: &id}); err != nil && logf != nil {
		logf("ssmclient: TerminateSession %s: %v", id, err)
	}
}

// SessionEndedError reports that the service closed the session's
// channel; Output is the agent's or the service's reason (for example
// "Unable to start command: failed to start pty since RunAs user x does
// not exist"), empty for an ordinary end.
type SessionEndedError struct {
	Output string
	Err    error
}

func (e *SessionEndedError) Error() string {
	if e.Output == "" {
		return "ssmclient: the session ended"
	}
	return "ssmclient: the session ended: " + e.Output
}

func (e *SessionEndedError) Unwrap() error { return e.Err }

// explainSessionEnd turns the protocol's channel_closed error into a
// SessionEndedError; an ordinary end with no output reads as io.EOF to
// callers that copy the stream.
func explainSessionEnd(err error) error {
	var cc *protocol.ChannelClosedError
	if errors.As(err, &cc) {
		return &SessionEndedError{Output: cc.Output, Err: err}
	}
	return err
}
