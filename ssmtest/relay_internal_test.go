package ssmtest

import (
	"testing"

	"github.com/ssmssh/ssmssh/protocol"
)

// TestPublicationControlDecodes: the start/pause_publication frames the
// gateway sends an agent pass amazon-ssm-agent's PayloadLength bounds
// check (agentmessage.go getInteger: offset+4 must not exceed len-1),
// which a payload-less frame fails.
func TestPublicationControlDecodes(t *testing.T) {
	for _, typ := range []string{protocol.TypeStartPublication, protocol.TypePausePublication} {
		m := publicationControl(typ)
		frame, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		const payloadLengthOffset = 116 // header length 4 + header 112
		if payloadLengthOffset+4 > len(frame)-1 {
			t.Errorf("%s: a %d-byte frame fails the agent's PayloadLength read", typ, len(frame))
		}
		back, err := protocol.ParseMessage(frame)
		if err != nil || back.Type != typ {
			t.Errorf("%s: parsed back as %+v, %v", typ, back, err)
		}
	}
}
