package protocol

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// AgentHandshakeConfig configures the agent's side of the handshake.
type AgentHandshakeConfig struct {
	// AgentVersion is announced to the client, which chooses smux and
	// keepalive by it.
	AgentVersion string
	// SessionType is the session document's sessionType
	// (SessionTypePort, ...).
	SessionType string
	// Properties are the document's properties after parameter
	// substitution, sent as they are (nil sends null, as the agent does
	// for shells and commands).
	Properties json.RawMessage
	// KMSKeyID, when set, asks the client for KMS encryption, except in
	// Port sessions, which the agent never encrypts.
	KMSKeyID string
	// KMS decrypts the client's data key.
	KMS KMSClient
	// SessionID and TargetID form the KMS encryption context.
	SessionID, TargetID string
	// SeparateOutputStream is set for NonInteractiveCommands sessions with
	// separate stdout/stderr; clients too old for that are warned in the
	// HandshakeComplete CustomerMessage, as the agent does.
	SeparateOutputStream bool
	// RequireChallengeAck refuses clients that do not put the random
	// challenge into the KMS encryption context (the agent's
	// Kms.RequireKMSChallengeResponse setting, off by default).
	RequireChallengeAck bool
	// Timeout bounds the wait for each client answer (default
	// DefaultHandshakeTimeout).
	Timeout time.Duration
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// AgentHandshakeResult is what the agent learnt in the handshake.
type AgentHandshakeResult struct {
	// ClientVersion is the client's announced version; the port plugin
	// chooses smux (ClientSupportsMux) and keepalive
	// (ClientDisablesKeepalive) by it.
	ClientVersion string
	// Cipher is the session's cipher when it is KMS-encrypted, else nil.
	Cipher *Cipher
	// TimeToComplete and CustomerMessage are what HandshakeComplete
	// carried.
	TimeToComplete  time.Duration
	CustomerMessage string
}

// Stream returns the session's data stream after the handshake: ms (the
// stream the handshake ran on), encrypting and decrypting payloads when the
// session is KMS-encrypted.
func (r *AgentHandshakeResult) Stream(ms MessageStream) MessageStream {
	if r.Cipher != nil {
		return NewEncryptedStream(ms, r.Cipher)
	}
	return ms
}

// AgentHandshake runs the agent's side of the handshake, as amazon-ssm-agent
// does before starting a session plugin: it sends the HandshakeRequest,
// waits up to cfg.Timeout for the response, checks every processed action
// (any status but Success fails the handshake with "<ActionType> failed on
// client with status <n> error: <Error>"), decrypts the data key and runs
// the encryption challenge for KMS sessions, and sends HandshakeComplete.
//
// Like the agent, it acknowledges and discards client payloads that are
// not handshake answers until HandshakeComplete is sent (the reliable
// session acknowledges them; AgentHandshake drops them), so the session
// plugin never sees data the client sent too early.
//
// Failures are *HandshakeError values whose Message is the agent's text.
func AgentHandshake(ctx context.Context, ms MessageStream, cfg AgentHandshakeConfig) (*AgentHandshakeResult, error) {
	a := &agentHandshake{cfg: cfg, logf: logfOrNop(cfg.Logf), ms: ms, timeout: handshakeTimeout(cfg.Timeout)}
	start := time.Now()
	encrypt := cfg.KMSKeyID != "" && cfg.SessionType != SessionTypePort
	if encrypt && cfg.KMS == nil {
		return nil, &HandshakeError{Message: "Initializing BlockCipher failed: no KMS client", Err: ErrNoKMSClient}
	}
	var challenge string
	if encrypt {
		b := make([]byte, 16)
		rand.Read(b)
		challenge = base64.StdEncoding.EncodeToString(b)
	}
	if err := a.sendRequest(challenge); err != nil {
		return nil, err
	}
	// The real agent processes the response apart from its wait for it,
	// so the handshake deadline also covers decrypting the data key: an
	// instance whose KMS calls hang (no route to KMS) fails with the
	// handshake timeout text.
	responseDeadline := time.Now().Add(a.timeout)

	p, err := a.await(ctx, PayloadHandshakeResponse, msgHandshakeTimeout)
	if err != nil {
		return nil, err
	}
	var resp HandshakeResponse
	if err := json.Unmarshal(p, &resp); err != nil {
		return nil, &HandshakeError{Message: fmt.Sprintf("Unmarshalling of HandshakeResponse message failed, %v", err), Err: err}
	}
	res := &AgentHandshakeResult{ClientVersion: resp.ClientVersion}
	a.logf("protocol: handshake: client version %s", resp.ClientVersion)
	// The agent checks every action and keeps the last failure.
	var failure error
	for _, pa := range resp.ProcessedClientActions {
		if pa.ActionStatus != ActionSuccess {
			failure = &HandshakeError{Action: pa.ActionType,
				Message: fmt.Sprintf("%s failed on client with status %d error: %s", pa.ActionType, pa.ActionStatus, pa.Error)}
			continue
		}
		switch pa.ActionType {
		case ActionSessionType:
		case ActionKMSEncryption:
			if !encrypt {
				a.logf("protocol: handshake: ignoring a KMSEncryption result that was not requested")
				continue
			}
			kctx, cancel := context.WithDeadline(ctx, responseDeadline)
			c, err := a.finalizeKMS(kctx, pa.ActionResult, challenge)
			cancel()
			if err != nil && ctx.Err() == nil && errors.Is(kctx.Err(), context.DeadlineExceeded) {
				return nil, &HandshakeError{Message: msgHandshakeTimeout, Err: ErrHandshakeTimeout}
			}
			if err != nil {
				failure = err
				continue
			}
			res.Cipher = c
		default:
			a.logf("protocol: handshake: unknown client action %s", pa.ActionType)
		}
	}
	if failure != nil {
		return nil, failure
	}
	if encrypt {
		if res.Cipher == nil {
			return nil, &HandshakeError{Action: ActionKMSEncryption, Message: "the client did not answer the KMSEncryption action"}
		}
		if err := a.challenge(ctx, res.Cipher); err != nil {
			return nil, err
		}
	}

	res.TimeToComplete = time.Since(start)
	if cfg.SeparateOutputStream && CompareVersions(res.ClientVersion, outputSeparationLastOldClientVersion) <= 0 {
		res.CustomerMessage = "Please update session manager plugin version (minimum required version " +
			outputSeparationFirstClientVersion + ") for fully support of separate StdOut/StdErr output.\r\n"
	}
	if res.Cipher != nil {
		res.CustomerMessage += msgKMSEncrypted
	}
	if err := sendJSON(ms, PayloadHandshakeComplete, HandshakeComplete{
		HandshakeTimeToComplete: res.TimeToComplete,
		CustomerMessage:         res.CustomerMessage,
	}); err != nil {
		return nil, err
	}
	return res, nil
}

type agentHandshake struct {
	cfg     AgentHandshakeConfig
	logf    func(string, ...any)
	ms      MessageStream
	timeout time.Duration
}

func (a *agentHandshake) sendRequest(challenge string) error {
	props := a.cfg.Properties
	if len(props) == 0 {
		props = json.RawMessage("null")
	}
	st, err := json.Marshal(SessionTypeRequest{SessionType: a.cfg.SessionType, Properties: props})
	if err != nil {
		return fmt.Errorf("protocol: handshake: session properties: %w", err)
	}
	req := HandshakeRequest{
		AgentVersion:           a.cfg.AgentVersion,
		RequestedClientActions: []RequestedClientAction{{ActionType: ActionSessionType, ActionParameters: st}},
	}
	if challenge != "" {
		kr, err := json.Marshal(KMSEncryptionRequest{KMSKeyID: a.cfg.KMSKeyID, Challenge: challenge})
		if err != nil {
			return fmt.Errorf("protocol: handshake: %w", err)
		}
		req.RequestedClientActions = append(req.RequestedClientActions,
			RequestedClientAction{ActionType: ActionKMSEncryption, ActionParameters: kr})
	}
	return sendJSON(a.ms, PayloadHandshakeRequest, req)
}

// await returns the next payload of type want, dropping anything else,
// or fails with the agent's timeout text.
func (a *agentHandshake) await(ctx context.Context, want PayloadType, timeoutText string) ([]byte, error) {
	timer := time.NewTimer(a.timeout)
	defer timer.Stop()
	for {
		r, timedOut, err := waitCtx(ctx, a.ms, timer.C)
		if err != nil {
			return nil, err
		}
		if timedOut {
			return nil, &HandshakeError{Message: timeoutText, Err: ErrHandshakeTimeout}
		}
		if r.pt == want {
			return r.p, nil
		}
		a.logf("protocol: handshake: dropping a %v payload (%d bytes) sent before the handshake completed", r.pt, len(r.p))
	}
}

// finalizeKMS decrypts the client's data key and returns the agent's
// cipher. The real agent does not check KMSCipherTextHash (and the public
// plugin does not send it); we check it when it is present.
func (a *agentHandshake) finalizeKMS(ctx context.Context, result json.RawMessage, challenge string) (*Cipher, error) {
	fail := func(text string, err error) (*Cipher, error) {
		return nil, &HandshakeError{Action: ActionKMSEncryption, Message: text, Err: err}
	}
	var kr KMSEncryptionResponse
	if err := json.Unmarshal(result, &kr); err != nil {
		return fail(fmt.Sprintf("invalid KMSEncryption result: %v", err), err)
	}
	if a.cfg.RequireChallengeAck && !kr.ChallengeAcknowledgement {
		return fail("client does not support required encryption context random challenge", nil)
	}
	if len(kr.KMSCipherTextHash) > 0 {
		if h := sha256.Sum256(kr.KMSCipherTextKey); !bytes.Equal(h[:], kr.KMSCipherTextHash) {
			return fail("Fetching data key failed: KMSCipherTextHash does not match KMSCipherTextKey", nil)
		}
	}
	if !kr.ChallengeAcknowledgement {
		challenge = ""
	}
	plain, err := a.cfg.KMS.Decrypt(ctx, kr.KMSCipherTextKey, EncryptionContext(a.cfg.SessionID, a.cfg.TargetID, challenge))
	if err != nil {
		return fail(fmt.Sprintf("Fetching data key failed: Unable to retrieve data key, Error when decrypting data key %v", err), err)
	}
	c, err := NewAgentCipher(plain)
	if err != nil {
		return fail(fmt.Sprintf("Fetching data key failed: %v", err), err)
	}
	return c, nil
}

// challenge proves that both ends hold the same data key: 64 random bytes
// sealed with the agent's key must come back sealed with the client's.
func (a *agentHandshake) challenge(ctx context.Context, c *Cipher) error {
	want := make([]byte, 64)
	rand.Read(want)
	if err := sendJSON(a.ms, PayloadEncChallengeRequest, EncryptionChallenge{Challenge: c.Seal(want)}); err != nil {
		return err
	}
	p, err := a.await(ctx, PayloadEncChallengeResponse, msgChallengeTimeout)
	if err != nil {
		return err
	}
	var resp EncryptionChallenge
	if err := json.Unmarshal(p, &resp); err != nil {
		return &HandshakeError{Action: ActionKMSEncryption, Message: fmt.Sprintf("Unmarshalling of EncryptionChallengeResponse message failed, %v", err), Err: err}
	}
	got, err := c.Open(resp.Challenge)
	if err != nil {
		return &HandshakeError{Action: ActionKMSEncryption, Message: "Error decrypting encrypted text, " + err.Error(), Err: err}
	}
	if !bytes.Equal(got, want) {
		return &HandshakeError{Action: ActionKMSEncryption, Message: msgChallengeMismatch}
	}
	return nil
}
