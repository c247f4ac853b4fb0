package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ssmssh/ssmssh/protocol"
)

// sessionDocument is the part of a session document the agent acts on.
type sessionDocument struct {
	SchemaVersion string          `json:"schemaVersion"`
	SessionType   string          `json:"sessionType"`
	Inputs        documentInputs  `json:"inputs"`
	Properties    json.RawMessage `json:"properties"`
}

type documentInputs struct {
	KMSKeyID         string          `json:"kmsKeyId"`
	RunAsEnabled     bool            `json:"runAsEnabled"`
	RunAsDefaultUser string          `json:"runAsDefaultUser"`
	ShellProfile     json.RawMessage `json:"shellProfile"`
}

// Session types as documents name them.
const (
	typePort                   = "Port"
	typeStandardStream         = "Standard_Stream"
	typeInteractiveCommands    = "InteractiveCommands"
	typeNonInteractiveCommands = "NonInteractiveCommands"
)

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}`)

// substitute replaces {{ name }} placeholders in the string values of a
// JSON document with the session's parameters, as the agent's document
// parser does.
func substitute(doc json.RawMessage, params map[string]any) (json.RawMessage, error) {
	if len(doc) == 0 {
		return doc, nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case string:
			return placeholder.ReplaceAllStringFunc(t, func(m string) string {
				name := placeholder.FindStringSubmatch(m)[1]
				switch p := params[name].(type) {
				case string:
					return p
				case []any:
					parts := make([]string, 0, len(p))
					for _, e := range p {
						parts = append(parts, fmt.Sprint(e))
					}
					return strings.Join(parts, "\n")
				case nil:
					return m
				default:
					return fmt.Sprint(p)
				}
			})
		case map[string]any:
			for k, e := range t {
				t[k] = walk(e)
			}
		case []any:
			for i, e := range t {
				t[i] = walk(e)
			}
		}
		return x
	}
	return json.Marshal(walk(v))
}

// runSession runs one session start to its end and returns the Output and
// success the agent reports in agent_task_complete.
func (a *Agent) runSession(ctx context.Context, task *protocol.AgentTaskPayload) (string, bool) {
	var doc sessionDocument
	if err := json.Unmarshal(task.DocumentContent, &doc); err != nil {
		return fmt.Sprintf("invalid session document: %v", err), false
	}
	props, err := substitute(doc.Properties, task.Parameters)
	if err != nil {
		return fmt.Sprintf("invalid session properties: %v", err), false
	}
	if text := tooOld(a.cfg.Version, doc, props); text != "" {
		a.logf("agent %s: session %s: %s", a.cfg.InstanceID, task.SessionID, text)
		return text, false
	}

	ms, err := a.openDataChannel(ctx, task.SessionID)
	if err != nil {
		a.logf("agent %s: session %s: %v", a.cfg.InstanceID, task.SessionID, err)
		return err.Error(), false
	}
	defer ms.Close()
	state, _ := json.Marshal(protocol.AgentSessionState{SchemaVersion: 1, SessionState: "Connected", SessionID: task.SessionID})
	if err := ms.SendControl(protocol.TypeAgentSessionState, state); err != nil {
		return err.Error(), false
	}

	var stream protocol.MessageStream = ms
	var clientVersion string
	if needsHandshake(doc) {
		res, err := protocol.AgentHandshake(ctx, ms, protocol.AgentHandshakeConfig{
			AgentVersion: a.cfg.Version,
			SessionType:  doc.SessionType,
			Properties:   props,
			KMSKeyID:     doc.Inputs.KMSKeyID,
			KMS:          a.cfg.KMS,
			SessionID:    task.SessionID,
			TargetID:     a.cfg.InstanceID,
			Timeout:      a.cfg.HandshakeTimeout,
			Logf:         a.logf,
		})
		if err != nil {
			a.logf("agent %s: session %s: handshake: %v", a.cfg.InstanceID, task.SessionID, err)
			var he *protocol.HandshakeError
			if errors.As(err, &he) {
				return he.Message, false // the agent's own text, as the user sees it
			}
			return err.Error(), false
		}
		clientVersion = res.ClientVersion
		stream = res.Stream(ms)
	}

	res := a.runPlugin(ctx, stream, doc, props, task.RunAsUser, clientVersion)
	if res.Terminating {
		state, _ := json.Marshal(protocol.AgentSessionState{SchemaVersion: 1, SessionState: "Terminating", SessionID: task.SessionID})
		_ = ms.SendControl(protocol.TypeAgentSessionState, state)
	}
	// A session that ended here (the port closed, the shell exited) gets
	// its last output to the client; one the service ended has no client
	// left to read it.
	if ctx.Err() == nil {
		flushCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := ms.Flush(flushCtx); err != nil {
			a.logf("agent %s: session %s: unacknowledged output at the end: %v", a.cfg.InstanceID, task.SessionID, err)
		}
	}
	return res.Output, res.OK()
}

// needsHandshake reports whether the agent opens with a handshake: Port and
// NonInteractiveCommands sessions always, other sessions only when KMS
// encryption has to be negotiated.
func needsHandshake(doc sessionDocument) bool {
	return doc.SessionType == typePort || doc.SessionType == typeNonInteractiveCommands || doc.Inputs.KMSKeyID != ""
}

// openDataChannel creates the session's data channel and its reliable
// session; a dropped websocket is replaced with a fresh token, keeping
// sequence numbers, as the real agent does. Once the session is over (ctx
// done) or the service no longer knows it, reconnecting stops and the
// session ends.
func (a *Agent) openDataChannel(ctx context.Context, sessionID string) (*protocol.Session, error) {
	dial := func(ctx context.Context) (protocol.Transport, error) {
		tok, err := a.createChannel(ctx, "data-channel", sessionID)
		if err != nil {
			return nil, err
		}
		return protocol.DialDataChannel(ctx, a.wsURL("data-channel", sessionID, "role=publish_subscribe"), tok,
			protocol.DialOptions{TLSConfig: a.cfg.TLS, ClientInstanceID: a.cfg.InstanceID, Logf: a.logf,
				Credentials: a.cfg.Credentials, Region: a.cfg.Region, Now: a.cfg.Now})
	}
	tr, err := dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("open data channel: %w", err)
	}
	reconnect := func(rctx context.Context) (protocol.Transport, error) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("session ended: %w", err)
		}
		tr, err := dial(rctx)
		if errors.Is(err, errChannelNotFound) {
			a.cancelSession(sessionID)
		}
		return tr, err
	}
	return protocol.NewSession(tr, protocol.SessionConfig{
		Role:      protocol.RoleAgent,
		Logf:      a.logf,
		Reconnect: reconnect,
	}), nil
}
