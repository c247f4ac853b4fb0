package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/google/uuid"
)

// Acknowledgements are the most frequent frame, so they are written and
// read without reflection. appendAckPayload produces exactly the bytes
// json.Marshal(Acknowledge{…, IsSequentialMessage: true}) does;
// parseAckSequence reads that layout directly and falls back to
// encoding/json for anything else.

const (
	ackPrefixType = `{"AcknowledgedMessageType":"`
	ackPrefixID   = `","AcknowledgedMessageId":"`
	ackPrefixSeq  = `","AcknowledgedMessageSequenceNumber":`
	ackSuffixTrue = `,"IsSequentialMessage":true}`
	ackSuffixFals = `,"IsSequentialMessage":false}`
)

// appendAckPayload appends the payload acknowledging message id, number
// seq, of type msgType (one of the stream types, which need no escaping).
func appendAckPayload(b []byte, msgType string, id uuid.UUID, seq int64) []byte {
	b = append(b, ackPrefixType...)
	b = append(b, msgType...)
	b = append(b, ackPrefixID...)
	b = appendUUID(b, id)
	b = append(b, ackPrefixSeq...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, ackSuffixTrue...)
}

// appendUUID appends id in its canonical text form.
func appendUUID(b []byte, id uuid.UUID) []byte {
	const hex = "0123456789abcdef"
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0xf])
	}
	return b
}

var errAckSequence = errors.New("protocol: acknowledge: no sequence number")

// parseAckSequence returns the acknowledged sequence number of an
// acknowledge payload.
func parseAckSequence(p []byte) (int64, error) {
	if seq, ok := parseAckFast(p); ok {
		return seq, nil
	}
	var a struct {
		Seq *int64 `json:"AcknowledgedMessageSequenceNumber"`
	}
	if err := json.Unmarshal(p, &a); err != nil {
		return 0, fmt.Errorf("protocol: acknowledge: %w", err)
	}
	if a.Seq == nil {
		return 0, errAckSequence
	}
	return *a.Seq, nil
}

// parseAckFast reads the canonical layout only.
func parseAckFast(p []byte) (int64, bool) {
	var ok bool
	if p, ok = bytes.CutPrefix(p, []byte(ackPrefixType)); !ok {
		return 0, false
	}
	// The type: lower-case letters and underscores.
	i := 0
	for i < len(p) && (p[i] >= 'a' && p[i] <= 'z' || p[i] == '_') {
		i++
	}
	if p, ok = bytes.CutPrefix(p[i:], []byte(ackPrefixID)); !ok {
		return 0, false
	}
	// The id: hex digits and hyphens.
	i = 0
	for i < len(p) && (p[i] >= '0' && p[i] <= '9' || p[i] >= 'a' && p[i] <= 'f' || p[i] >= 'A' && p[i] <= 'F' || p[i] == '-') {
		i++
	}
	if p, ok = bytes.CutPrefix(p[i:], []byte(ackPrefixSeq)); !ok {
		return 0, false
	}
	neg := len(p) > 0 && p[0] == '-'
	if neg {
		p = p[1:]
	}
	var v uint64
	i = 0
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		if i >= 18 { // keep well inside int64; longer numbers take the slow path
			return 0, false
		}
		v = v*10 + uint64(p[i]-'0')
	}
	if i == 0 || (i > 1 && p[0] == '0') {
		return 0, false
	}
	if rest := p[i:]; !bytes.Equal(rest, []byte(ackSuffixTrue)) && !bytes.Equal(rest, []byte(ackSuffixFals)) {
		return 0, false
	}
	if neg {
		return -int64(v), true
	}
	return int64(v), true
}

// newMessageID returns a random (version 4) UUID. Message ids need to be
// unique, not secret, so the runtime's fast generator serves.
func newMessageID() uuid.UUID {
	var id uuid.UUID
	a, b := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		id[i] = byte(a >> (8 * i))
		id[8+i] = byte(b >> (8 * i))
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}
