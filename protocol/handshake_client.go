package protocol

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// ClientHandshakeConfig configures the client's side of the handshake.
type ClientHandshakeConfig struct {
	// ClientVersion is announced to the agent (default ClientVersion);
	// the agent chooses smux and keepalive by it.
	ClientVersion string
	// SessionID and TargetID form the KMS encryption context of the
	// session's data key.
	SessionID, TargetID string
	// KMS generates the data key of KMS-encrypted sessions. When nil, a
	// KMSEncryption request is answered Failed and ClientHandshake returns
	// an error wrapping ErrNoKMSClient.
	KMS KMSClient
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// ClientHandshakeResult is what the client learnt in the handshake.
type ClientHandshakeResult struct {
	// Skipped is true when the agent sent no HandshakeRequest: its first
	// payload was session data (a plain shell). That payload is not lost:
	// the stream returned by Stream delivers it first.
	Skipped bool
	// AgentVersion is the version the agent announced ("" when Skipped).
	AgentVersion string
	// SessionType is the agent's session type (SessionTypePort, ...);
	// SessionTypeShell when Skipped, as the plugin assumes.
	SessionType string
	// Properties are the session document's properties as the agent sent
	// them (JSON; "null" for shells and commands).
	Properties json.RawMessage
	// Port holds the decoded Properties of a Port session, else nil.
	Port *PortProperties
	// CustomerMessage is the agent's message for the user, e.g. "This
	// session is encrypted using AWS KMS."; the plugin prints it.
	CustomerMessage string
	// TimeToComplete is the agent's HandshakeTimeToComplete.
	TimeToComplete time.Duration
	// Cipher is the session's cipher when it is KMS-encrypted, else nil.
	Cipher *Cipher

	mu    sync.Mutex
	first *received
}

// Stream returns the session's data stream after the handshake: ms (the
// stream the handshake ran on), with payloads encrypted and decrypted when
// the session is KMS-encrypted, and, when the handshake was skipped,
// replaying the first payload before anything else. Call it once.
func (r *ClientHandshakeResult) Stream(ms MessageStream) MessageStream {
	if r.Cipher != nil {
		ms = NewEncryptedStream(ms, r.Cipher)
	}
	r.mu.Lock()
	first := r.first
	r.first = nil
	r.mu.Unlock()
	if first != nil {
		ms = &replayStream{MessageStream: ms, first: first}
	}
	return ms
}

// ClientHandshake runs the client's side of the handshake on a freshly
// opened data channel, as the session-manager-plugin does: it answers the
// agent's HandshakeRequest (session type; KMS encryption with a new data
// key), answers the encryption challenge, and returns at HandshakeComplete.
// It sends nothing but handshake payloads.
//
// If the agent's first payload is not a HandshakeRequest the session has
// no handshake (a plain shell): ClientHandshake returns at once with
// Skipped set, and the result's Stream replays that payload.
//
// When the client cannot do what the agent asks (KMS denied, no KMS
// client, unknown session type or action), ClientHandshake still answers —
// the agent then ends the session with "<ActionType> failed on client with
// status <n> error: <Error>" — and returns a *HandshakeError naming the
// action and wrapping the cause (for KMS, the KMS API error).
//
// ctx bounds the whole handshake, including the KMS call. When it ends
// first, ClientHandshake returns its error and the caller must close the
// stream.
func ClientHandshake(ctx context.Context, ms MessageStream, cfg ClientHandshakeConfig) (*ClientHandshakeResult, error) {
	c := &clientHandshake{cfg: cfg, logf: logfOrNop(cfg.Logf), ms: ms}
	if c.cfg.ClientVersion == "" {
		c.cfg.ClientVersion = ClientVersion
	}
	r, _, err := waitCtx(ctx, ms, nil)
	if err != nil {
		return nil, err
	}
	switch r.pt {
	case PayloadHandshakeRequest:
	case PayloadHandshakeComplete, PayloadEncChallengeRequest:
		return nil, &HandshakeError{Message: fmt.Sprintf("%v payload before HandshakeRequest", r.pt)}
	default:
		c.logf("protocol: handshake: first payload is %v: no handshake, a shell session", r.pt)
		return &ClientHandshakeResult{Skipped: true, SessionType: SessionTypeShell, first: &r}, nil
	}
	if err := c.answerRequest(ctx, r.p); err != nil {
		return nil, err
	}
	for {
		r, _, err := waitCtx(ctx, ms, nil)
		if err != nil {
			return nil, err
		}
		switch r.pt {
		case PayloadEncChallengeRequest:
			if err := c.answerChallenge(r.p); err != nil {
				return nil, err
			}
		case PayloadHandshakeComplete:
			var hc HandshakeComplete
			if err := json.Unmarshal(r.p, &hc); err != nil {
				return nil, &HandshakeError{Message: fmt.Sprintf("invalid HandshakeComplete: %v", err), Err: err}
			}
			if c.res.SessionType == "" {
				return nil, &HandshakeError{Message: "the agent requested no SessionType action: unable to determine SessionType"}
			}
			c.res.CustomerMessage = hc.CustomerMessage
			c.res.TimeToComplete = hc.HandshakeTimeToComplete
			return c.res, nil
		default:
			return nil, &HandshakeError{Message: fmt.Sprintf("unexpected %v payload before HandshakeComplete", r.pt)}
		}
	}
}

type clientHandshake struct {
	cfg  ClientHandshakeConfig
	logf func(string, ...any)
	ms   MessageStream
	res  *ClientHandshakeResult
}

// answerRequest processes the HandshakeRequest's actions in order and
// sends the HandshakeResponse. It returns the first action's failure,
// after the response has been sent.
func (c *clientHandshake) answerRequest(ctx context.Context, payload []byte) error {
	var req HandshakeRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return &HandshakeError{Message: fmt.Sprintf("invalid HandshakeRequest: %v", err), Err: err}
	}
	c.res = &ClientHandshakeResult{AgentVersion: req.AgentVersion}
	resp := HandshakeResponse{ClientVersion: c.cfg.ClientVersion, ProcessedClientActions: []ProcessedClientAction{}}
	var failure error
	for _, a := range req.RequestedClientActions {
		pa, err := c.process(ctx, a)
		resp.ProcessedClientActions = append(resp.ProcessedClientActions, pa)
		if err != nil {
			resp.Errors = append(resp.Errors, pa.Error)
			c.logf("protocol: handshake: %s", pa.Error)
			if failure == nil {
				failure = err
			}
		}
	}
	if err := sendJSON(c.ms, PayloadHandshakeResponse, resp); err != nil {
		return err
	}
	return failure
}

// process answers one requested action; a non-nil error accompanies every
// answer that is not ActionSuccess.
func (c *clientHandshake) process(ctx context.Context, a RequestedClientAction) (ProcessedClientAction, error) {
	pa := ProcessedClientAction{ActionType: a.ActionType, ActionStatus: ActionSuccess}
	fail := func(status ActionStatus, cause error, text string) (ProcessedClientAction, error) {
		pa.ActionStatus = status
		pa.Error = text
		return pa, &HandshakeError{Action: a.ActionType, Message: text, Err: cause}
	}
	switch a.ActionType {
	case ActionSessionType:
		if err := c.sessionType(a.ActionParameters); err != nil {
			return fail(ActionFailed, err, fmt.Sprintf("Failed to process action %s: %v", a.ActionType, err))
		}
	case ActionKMSEncryption:
		result, err := c.kmsEncryption(ctx, a.ActionParameters)
		if err != nil {
			return fail(ActionFailed, err, fmt.Sprintf("Failed to process action %s: %v", a.ActionType, err))
		}
		pa.ActionResult = result
	default:
		return fail(ActionUnsupported, nil, fmt.Sprintf("Unsupported action %s", a.ActionType))
	}
	return pa, nil
}

func (c *clientHandshake) sessionType(params json.RawMessage) error {
	var st SessionTypeRequest
	if err := json.Unmarshal(params, &st); err != nil {
		return err
	}
	switch st.SessionType {
	case SessionTypeShell, SessionTypeInteractiveCommands, SessionTypeNonInteractiveCommands:
	case SessionTypePort:
		var pp PortProperties
		if len(st.Properties) > 0 {
			if err := json.Unmarshal(st.Properties, &pp); err != nil {
				return fmt.Errorf("invalid Port properties: %w", err)
			}
		}
		c.res.Port = &pp
	default:
		return unknownSessionTypeError(st.SessionType)
	}
	c.res.SessionType = st.SessionType
	c.res.Properties = st.Properties
	return nil
}

// kmsEncryption generates the session's data key and returns the
// ActionResult. Error texts follow the plugin's, since the agent shows them
// to the user.
func (c *clientHandshake) kmsEncryption(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
	var kr KMSEncryptionRequest
	if err := json.Unmarshal(params, &kr); err != nil {
		return nil, err
	}
	if c.cfg.KMS == nil {
		return nil, fmt.Errorf("%w to generate a data key with KMS key %s", ErrNoKMSClient, kr.KMSKeyID)
	}
	encCtx := EncryptionContext(c.cfg.SessionID, c.cfg.TargetID, kr.Challenge)
	plain, blob, err := c.cfg.KMS.GenerateDataKey(ctx, kr.KMSKeyID, encCtx, DataKeySize)
	if err != nil {
		return nil, &kmsCallError{op: "GenerateDataKey", err: err}
	}
	cipher, err := NewClientCipher(plain)
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256(blob)
	result, err := json.Marshal(KMSEncryptionResponse{
		KMSCipherTextKey:         blob,
		KMSCipherTextHash:        hash[:],
		ChallengeAcknowledgement: kr.Challenge != "",
	})
	if err != nil {
		return nil, err
	}
	c.res.Cipher = cipher
	return result, nil
}

// kmsCallError is a failed KMS call, worded as the plugin words it.
type kmsCallError struct {
	op  string
	err error
}

func (e *kmsCallError) Error() string {
	return fmt.Sprintf("Error calling KMS %s API: %v", e.op, e.err)
}

func (e *kmsCallError) Unwrap() error { return e.err }

// answerChallenge opens the agent's challenge with the agent's key and
// seals it again with ours.
func (c *clientHandshake) answerChallenge(payload []byte) error {
	if c.res.Cipher == nil {
		return &HandshakeError{Message: "EncChallengeRequest in a session without KMS encryption"}
	}
	var ch EncryptionChallenge
	if err := json.Unmarshal(payload, &ch); err != nil {
		return &HandshakeError{Message: fmt.Sprintf("invalid EncChallengeRequest: %v", err), Err: err}
	}
	plain, err := c.res.Cipher.Open(ch.Challenge)
	if err != nil {
		return &HandshakeError{Action: ActionKMSEncryption, Message: "the agent's encryption challenge does not decrypt with the data key", Err: err}
	}
	return sendJSON(c.ms, PayloadEncChallengeResponse, EncryptionChallenge{Challenge: c.res.Cipher.Seal(plain)})
}

// unknownSessionTypeError words an unknown session type as the plugin does.
type unknownSessionTypeError string

func (e unknownSessionTypeError) Error() string { return "Unknown session type " + string(e) }
