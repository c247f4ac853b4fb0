package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// The frame, as both the service and the agent lay it out (all integers big-endian):
//
//	 0               4                                  36              40
//	+---------------+----------------------------------+---------------+
//	| HeaderLength  | MessageType (32 bytes, ASCII,    | SchemaVersion |
//	| u32 = 116     |  right-padded with spaces)       | u32 = 1       |
//	+---------------+---------------+------------------+---------------+
//	40              48              56                 64
//	| CreatedDate   | SequenceNumber| Flags            |
//	| u64 unix ms   | i64           | u64 (SYN=1,FIN=2)|
//	+---------------+---------------+------------------+
//	64                              80                                 112
//	| MessageId (16 bytes: UUID     | PayloadDigest (32 bytes,          |
//	|  bytes 8..15 then 0..7)       |  SHA-256 of Payload)              |
//	+-------------------------------+-----------------------------------+
//	112             116             120
//	| PayloadType   | PayloadLength | Payload (PayloadLength bytes) ...
//	| u32           | u32           |
//	+---------------+---------------+-----------------------------------
//
// HeaderLength counts the bytes before PayloadLength, not before the
// payload; the real agent reads the payload from HeaderLength+4 onwards and
// checks neither PayloadLength nor the digest. This codec checks both.

// Field sizes of the frame header.
const (
	headerLengthSize   = 4
	messageTypeSize    = 32
	schemaVersionSize  = 4
	createdDateSize    = 8
	sequenceNumberSize = 8
	flagsSize          = 8
	messageIDSize      = 16
	payloadDigestSize  = sha256.Size
	payloadTypeSize    = 4
	payloadLengthSize  = 4
)

// Field offsets, derived from the sizes above.
const (
	headerLengthOffset   = 0
	messageTypeOffset    = headerLengthOffset + headerLengthSize
	schemaVersionOffset  = messageTypeOffset + messageTypeSize
	createdDateOffset    = schemaVersionOffset + schemaVersionSize
	sequenceNumberOffset = createdDateOffset + createdDateSize
	flagsOffset          = sequenceNumberOffset + sequenceNumberSize
	messageIDOffset      = flagsOffset + flagsSize
	payloadDigestOffset  = messageIDOffset + messageIDSize
	payloadTypeOffset    = payloadDigestOffset + payloadDigestSize
	payloadLengthOffset  = payloadTypeOffset + payloadTypeSize
	payloadOffset        = payloadLengthOffset + payloadLengthSize

	// HeaderLength is the value of the frame's first field: the offset of
	// PayloadLength.
	HeaderLength = payloadLengthOffset
	// FrameHeaderSize is the number of bytes before the payload (120).
	FrameHeaderSize = payloadOffset
	// SchemaVersion is the only schema version in use.
	SchemaVersion = 1
	// MaxPayloadSize bounds the payload a decoder accepts. The service's
	// limit is undocumented; the agent sends at most ~1 KiB and accepts
	// several KiB. 1 MiB leaves room while keeping a hostile length harmless.
	MaxPayloadSize = 1 << 20
)

// Message types carried in the MessageType field.
const (
	TypeInputStreamData      = "input_stream_data"
	TypeOutputStreamData     = "output_stream_data"
	TypeAcknowledge          = "acknowledge"
	TypeChannelClosed        = "channel_closed"
	TypeStartPublication     = "start_publication"
	TypePausePublication     = "pause_publication"
	TypeAgentSessionState    = "agent_session_state"
	TypeInteractiveShell     = "interactive_shell"
	TypeAgentTaskComplete    = "agent_task_complete"
	TypeAgentTaskAcknowledge = "agent_task_acknowledge"
	TypeAgentTaskReply       = "agent_task_reply"
	TypeAgentJob             = "agent_job"
)

// Flags bits.
const (
	FlagSYN uint64 = 1
	FlagFIN uint64 = 2
)

// PayloadType says what a stream message's payload holds.
type PayloadType uint32

// Payload types.
const (
	PayloadNone                 PayloadType = 0
	PayloadOutput               PayloadType = 1
	PayloadError                PayloadType = 2
	PayloadSize                 PayloadType = 3
	PayloadParameter            PayloadType = 4
	PayloadHandshakeRequest     PayloadType = 5
	PayloadHandshakeResponse    PayloadType = 6
	PayloadHandshakeComplete    PayloadType = 7
	PayloadEncChallengeRequest  PayloadType = 8
	PayloadEncChallengeResponse PayloadType = 9
	PayloadFlag                 PayloadType = 10
	PayloadStdErr               PayloadType = 11
	PayloadExitCode             PayloadType = 12
)

var payloadTypeNames = [...]string{"None", "Output", "Error", "Size", "Parameter",
	"HandshakeRequest", "HandshakeResponse", "HandshakeComplete",
	"EncChallengeRequest", "EncChallengeResponse", "Flag", "StdErr", "ExitCode"}

func (t PayloadType) String() string {
	if int(t) < len(payloadTypeNames) {
		return payloadTypeNames[t]
	}
	return fmt.Sprintf("PayloadType(%d)", uint32(t))
}

// Message is one data- or control-channel frame.
type Message struct {
	Type           string // e.g. TypeOutputStreamData; at most 32 ASCII bytes
	SchemaVersion  uint32
	CreatedDate    uint64 // Unix milliseconds; must not be 0
	SequenceNumber int64
	Flags          uint64
	MessageID      uuid.UUID
	PayloadType    PayloadType
	Payload        []byte
}

// Created returns CreatedDate as a time.
func (m *Message) Created() time.Time { return time.UnixMilli(int64(m.CreatedDate)) }

// ErrMalformedFrame is matched (errors.Is) by every decoding error.
var ErrMalformedFrame = errors.New("malformed frame")

// FrameError describes why a frame was rejected.
type FrameError struct {
	Field  string // the offending field, e.g. "PayloadDigest"
	Reason string
}

func (e *FrameError) Error() string {
	return "protocol: malformed frame: " + e.Field + ": " + e.Reason
}

// Is reports ErrMalformedFrame.
func (e *FrameError) Is(target error) bool { return target == ErrMalformedFrame }

func frameErr(field, format string, args ...any) error {
	return &FrameError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// MarshalBinary encodes m as a frame. A zero CreatedDate or SchemaVersion is
// filled with the current time and SchemaVersion; the digest and the lengths
// are computed.
func (m *Message) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, FrameHeaderSize+len(m.Payload)))
}

// AppendBinary appends the encoded frame to b.
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	if len(m.Type) == 0 || len(m.Type) > messageTypeSize {
		return nil, frameErr("MessageType", "length %d outside 1..%d", len(m.Type), messageTypeSize)
	}
	if len(m.Payload) > MaxPayloadSize {
		return nil, frameErr("PayloadLength", "%d exceeds %d", len(m.Payload), MaxPayloadSize)
	}
	created := m.CreatedDate
	if created == 0 {
		created = uint64(time.Now().UnixMilli())
	}
	schema := m.SchemaVersion
	if schema == 0 {
		schema = SchemaVersion
	}
	start := len(b)
	b = append(b, make([]byte, FrameHeaderSize)...)
	f := b[start:]
	binary.BigEndian.PutUint32(f[headerLengthOffset:], HeaderLength)
	t := f[messageTypeOffset : messageTypeOffset+messageTypeSize]
	n := copy(t, m.Type)
	for i := n; i < len(t); i++ {
		t[i] = ' '
	}
	binary.BigEndian.PutUint32(f[schemaVersionOffset:], schema)
	binary.BigEndian.PutUint64(f[createdDateOffset:], created)
	binary.BigEndian.PutUint64(f[sequenceNumberOffset:], uint64(m.SequenceNumber))
	binary.BigEndian.PutUint64(f[flagsOffset:], m.Flags)
	putMessageID(f[messageIDOffset:messageIDOffset+messageIDSize], m.MessageID)
	digest := sha256.Sum256(m.Payload)
	copy(f[payloadDigestOffset:], digest[:])
	binary.BigEndian.PutUint32(f[payloadTypeOffset:], uint32(m.PayloadType))
	binary.BigEndian.PutUint32(f[payloadLengthOffset:], uint32(len(m.Payload)))
	return append(b, m.Payload...), nil
}

// UnmarshalBinary decodes a frame into m. m.Payload aliases frame; callers
// that keep it beyond the frame's lifetime must copy it.
func (m *Message) UnmarshalBinary(frame []byte) error { return m.unmarshal(frame, true) }

func (m *Message) unmarshal(frame []byte, verify bool) error {
	if len(frame) < FrameHeaderSize {
		return frameErr("length", "%d bytes, need at least %d", len(frame), FrameHeaderSize)
	}
	if hl := binary.BigEndian.Uint32(frame[headerLengthOffset:]); hl != HeaderLength {
		return frameErr("HeaderLength", "%d, want %d", hl, HeaderLength)
	}
	typ := bytes.TrimRight(frame[messageTypeOffset:messageTypeOffset+messageTypeSize], " \x00")
	if len(typ) == 0 {
		return frameErr("MessageType", "empty")
	}
	created := binary.BigEndian.Uint64(frame[createdDateOffset:])
	if created == 0 {
		return frameErr("CreatedDate", "zero")
	}
	plen := binary.BigEndian.Uint32(frame[payloadLengthOffset:])
	if uint64(plen) != uint64(len(frame)-FrameHeaderSize) {
		return frameErr("PayloadLength", "%d, but %d payload bytes follow", plen, len(frame)-FrameHeaderSize)
	}
	payload := frame[payloadOffset:]
	if verify {
		digest := sha256.Sum256(payload)
		if !bytes.Equal(digest[:], frame[payloadDigestOffset:payloadDigestOffset+payloadDigestSize]) {
			return frameErr("PayloadDigest", "does not match the payload")
		}
	}
	*m = Message{
		Type:           string(typ),
		SchemaVersion:  binary.BigEndian.Uint32(frame[schemaVersionOffset:]),
		CreatedDate:    created,
		SequenceNumber: int64(binary.BigEndian.Uint64(frame[sequenceNumberOffset:])),
		Flags:          binary.BigEndian.Uint64(frame[flagsOffset:]),
		MessageID:      getMessageID(frame[messageIDOffset : messageIDOffset+messageIDSize]),
		PayloadType:    PayloadType(binary.BigEndian.Uint32(frame[payloadTypeOffset:])),
		Payload:        payload,
	}
	return nil
}

// ParseMessage decodes a frame; see UnmarshalBinary.
func ParseMessage(frame []byte) (*Message, error) {
	m := new(Message)
	if err := m.UnmarshalBinary(frame); err != nil {
		return nil, err
	}
	return m, nil
}

// ParseMessageUnverified decodes a frame as ParseMessage does but leaves
// the payload digest unchecked: for a relay that looks at the header and
// passes the frame on to a receiver that checks it.
func ParseMessageUnverified(frame []byte) (*Message, error) {
	m := new(Message)
	if err := m.unmarshal(frame, false); err != nil {
		return nil, err
	}
	return m, nil
}

// The wire carries a UUID's two 8-byte halves swapped (the service's Java
// heritage: least significant long first).
func putMessageID(dst []byte, id uuid.UUID) {
	copy(dst[:8], id[8:])
	copy(dst[8:], id[:8])
}

func getMessageID(src []byte) uuid.UUID {
	var id uuid.UUID
	copy(id[8:], src[:8])
	copy(id[:8], src[8:])
	return id
}
