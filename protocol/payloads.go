package protocol

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Acknowledge is the payload of an acknowledge message. Acks are matched
// to sent messages by sequence number; MessageID is the canonical UUID text.
type Acknowledge struct {
	MessageType         string `json:"AcknowledgedMessageType"`
	MessageID           string `json:"AcknowledgedMessageId"`
	SequenceNumber      int64  `json:"AcknowledgedMessageSequenceNumber"`
	IsSequentialMessage bool   `json:"IsSequentialMessage"`
}

// ActionType names a client action requested in the handshake.
type ActionType string

// Client actions the agent may request.
const (
	ActionSessionType   ActionType = "SessionType"
	ActionKMSEncryption ActionType = "KMSEncryption"
)

// ActionStatus reports the outcome of a processed client action.
type ActionStatus int

// Action outcomes.
const (
	ActionSuccess     ActionStatus = 1
	ActionFailed      ActionStatus = 2
	ActionUnsupported ActionStatus = 3
)

// HandshakeRequest is sent by the agent (PayloadHandshakeRequest).
type HandshakeRequest struct {
	AgentVersion           string                  `json:"AgentVersion"`
	RequestedClientActions []RequestedClientAction `json:"RequestedClientActions"`
}

// RequestedClientAction is one action of a HandshakeRequest; decode
// ActionParameters according to ActionType (SessionTypeRequest or
// KMSEncryptionRequest).
type RequestedClientAction struct {
	ActionType       ActionType      `json:"ActionType"`
	ActionParameters json.RawMessage `json:"ActionParameters"`
}

// SessionTypeRequest holds the parameters of the SessionType action.
// SessionType is "Port", "Standard_Stream", "InteractiveCommands" or
// "NonInteractiveCommands"; Properties are the document's properties after
// parameter substitution (for Port: portNumber, type, localPortNumber, host).
type SessionTypeRequest struct {
	SessionType string          `json:"SessionType"`
	Properties  json.RawMessage `json:"Properties"`
}

// PortProperties are the Properties of a Port session.
type PortProperties struct {
	PortNumber      string `json:"portNumber"`
	Type            string `json:"type,omitempty"` // "LocalPortForwarding" selects port forwarding
	LocalPortNumber string `json:"localPortNumber,omitempty"`
	Host            string `json:"host,omitempty"`
}

// KMSEncryptionRequest holds the parameters of the KMSEncryption action.
// Challenge is a base64 string of 16 random bytes that newer agents add to
// the KMS encryption context as aws:ssm:RandomChallenge.
type KMSEncryptionRequest struct {
	KMSKeyID  string `json:"KMSKeyId"`
	Challenge string `json:"Challenge,omitempty"`
}

// KMSEncryptionResponse is the ActionResult of a successful KMSEncryption
// action. Byte slices travel as base64.
type KMSEncryptionResponse struct {
	KMSCipherTextKey         []byte `json:"KMSCipherTextKey"`
	KMSCipherTextHash        []byte `json:"KMSCipherTextHash"`
	ChallengeAcknowledgement bool   `json:"ChallengeAcknowledgement"`
}

// HandshakeResponse is sent by the client (PayloadHandshakeResponse).
type HandshakeResponse struct {
	ClientVersion          string                  `json:"ClientVersion"`
	ProcessedClientActions []ProcessedClientAction `json:"ProcessedClientActions"`
	Errors                 []string                `json:"Errors"`
}

// ProcessedClientAction answers one RequestedClientAction.
type ProcessedClientAction struct {
	ActionType   ActionType      `json:"ActionType"`
	ActionStatus ActionStatus    `json:"ActionStatus"`
	ActionResult json.RawMessage `json:"ActionResult"`
	Error        string          `json:"Error"`
}

// HandshakeComplete ends the handshake (PayloadHandshakeComplete).
// HandshakeTimeToComplete travels as integer nanoseconds.
type HandshakeComplete struct {
	HandshakeTimeToComplete time.Duration `json:"HandshakeTimeToComplete"`
	CustomerMessage         string        `json:"CustomerMessage"`
}

// EncryptionChallenge is the payload of both PayloadEncChallengeRequest and
// PayloadEncChallengeResponse; Challenge is AES-GCM sealed and travels as
// base64.
type EncryptionChallenge struct {
	Challenge []byte `json:"Challenge"`
}

// SizeData is the payload of PayloadSize: the terminal size.
type SizeData struct {
	Cols uint32 `json:"cols"`
	Rows uint32 `json:"rows"`
}

// Flag is the payload of PayloadFlag: one big-endian u32.
type Flag uint32

// Flag values.
const (
	FlagDisconnectToPort   Flag = 1
	FlagTerminateSession   Flag = 2
	FlagConnectToPortError Flag = 3
)

func (f Flag) String() string {
	switch f {
	case FlagDisconnectToPort:
		return "DisconnectToPort"
	case FlagTerminateSession:
		return "TerminateSession"
	case FlagConnectToPortError:
		return "ConnectToPortError"
	}
	return fmt.Sprintf("Flag(%d)", uint32(f))
}

// MarshalFlag encodes a Flag payload.
func MarshalFlag(f Flag) []byte { return binary.BigEndian.AppendUint32(nil, uint32(f)) }

// ParseFlag decodes a Flag payload.
func ParseFlag(p []byte) (Flag, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("protocol: flag payload: %d bytes, want 4", len(p))
	}
	return Flag(binary.BigEndian.Uint32(p)), nil
}

// ChannelClosed is the payload of a channel_closed message. Output carries
// the reason the session ended, shown to the user.
type ChannelClosed struct {
	MessageType   string `json:"MessageType"`
	MessageID     string `json:"MessageId"`
	DestinationID string `json:"DestinationId"`
	SessionID     string `json:"SessionId"`
	SchemaVersion int    `json:"SchemaVersion"`
	CreatedDate   string `json:"CreatedDate"`
	Output        string `json:"Output"`
}

// AgentSessionState is the payload of agent_session_state.
type AgentSessionState struct {
	SchemaVersion int    `json:"SchemaVersion"`
	SessionState  string `json:"SessionState"` // "Connected" or "Terminating"
	SessionID     string `json:"SessionId"`
}

// OpenDataChannelInput is the text frame that opens a data-channel
// websocket. Clients set ClientVersion; agents set ClientInstanceID.
type OpenDataChannelInput struct {
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	ClientID             string `json:"ClientId"`
	ClientVersion        string `json:"ClientVersion,omitempty"`
	ClientInstanceID     string `json:"ClientInstanceId,omitempty"`
}

// OpenControlChannelInput is the text frame an agent sends first on its
// control-channel websocket.
type OpenControlChannelInput struct {
	Cookie               string `json:"Cookie,omitempty"`
	MessageSchemaVersion string `json:"MessageSchemaVersion"`
	RequestID            string `json:"RequestId"`
	TokenValue           string `json:"TokenValue"`
	AgentVersion         string `json:"AgentVersion"`
	PlatformType         string `json:"PlatformType"`
}

// AgentTaskComplete is the payload of agent_task_complete on the control
// channel.
type AgentTaskComplete struct {
	SchemaVersion    int    `json:"SchemaVersion"`
	TaskID           string `json:"TaskId"`
	Topic            string `json:"Topic"`
	FinalTaskStatus  string `json:"FinalTaskStatus"`
	IsRoutingFailure bool   `json:"IsRoutingFailure"`
	AwsAccountID     string `json:"AwsAccountId"`
	InstanceID       string `json:"InstanceId"`
	Output           string `json:"Output"`
	S3Bucket         string `json:"S3Bucket"`
	S3URLSuffix      string `json:"S3UrlSuffix"`
	CwlGroup         string `json:"CwlGroup"`
	CwlStream        string `json:"CwlStream"`
	RetryNumber      int    `json:"RetryNumber"`
}

// AgentTaskAcknowledge is the payload of agent_task_acknowledge.
type AgentTaskAcknowledge struct {
	SchemaVersion int    `json:"SchemaVersion"`
	MessageID     string `json:"MessageId"`
	TaskID        string `json:"TaskId"`
	Topic         string `json:"Topic"`
}

// InteractiveShell is the payload of interactive_shell on the control
// channel: Content is the JSON text of a SessionStart.
type InteractiveShell struct {
	Content       string `json:"Content"`
	TaskID        string `json:"TaskId"`
	Topic         string `json:"Topic"`
	SchemaVersion int    `json:"SchemaVersion"`
}

// AgentTaskPayload is the session start the service sends an agent: the
// JSON text inside InteractiveShell.Content. DocumentContent is the
// session document (schemaVersion, sessionType, inputs, parameters,
// properties); Parameters hold the request's values after substitution.
type AgentTaskPayload struct {
	DocumentName    string          `json:"DocumentName"`
	DocumentContent json.RawMessage `json:"DocumentContent"`
	SessionID       string          `json:"SessionId"`
	Parameters      map[string]any  `json:"Parameters"`
	RunAsUser       string          `json:"RunAsUser"`
	SessionOwner    string          `json:"SessionOwner"`
}
