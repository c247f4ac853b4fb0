package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// ackPayload is an acknowledge payload as the agent writes it.
const ackPayload = `{"AcknowledgedMessageType":"output_stream_data","AcknowledgedMessageId":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","AcknowledgedMessageSequenceNumber":7,"IsSequentialMessage":true}`

// ackHeader is the 120-byte header of an acknowledge frame laid out by hand
// from the byte table in PROTOCOL.md (computed outside this package):
// HeaderLength 116, "acknowledge" padded with spaces to 32 bytes, schema 1,
// CreatedDate 1700000000123 ms, sequence 0, flags 3 (SYN|FIN, as the agent
// sets on acks), MessageId 0f5c1a9e-3b8d-4c2e-9a71-d4e5f6a7b8c9 with its
// halves swapped, SHA-256 of the payload, PayloadType 0, PayloadLength 176.
const ackHeader = "0000007461636b6e6f776c6564676520" +
	"20202020202020202020202020202020" +
	"20202020000000010000018bcfe5687b" +
	"00000000000000000000000000000003" +
	"9a71d4e5f6a7b8c90f5c1a9e3b8d4c2e" +
	"bb2eaea7ddb4549536ad4852f5e9c448" +
	"556e24a27e0a9b5bd765b5c36c59ad62" +
	"00000000000000b0"

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMessageAcknowledgeBytes(t *testing.T) {
	frame := append(mustHex(t, ackHeader), ackPayload...)
	want := Message{
		Type:           TypeAcknowledge,
		SchemaVersion:  1,
		CreatedDate:    1700000000123,
		SequenceNumber: 0,
		Flags:          FlagSYN | FlagFIN,
		MessageID:      uuid.MustParse("0f5c1a9e-3b8d-4c2e-9a71-d4e5f6a7b8c9"),
		PayloadType:    PayloadNone,
		Payload:        []byte(ackPayload),
	}
	got, err := ParseMessage(frame)
	if err != nil {
		t.Fatalf("ParseMessage: %v", err)
	}
	if got.Type != want.Type || got.SchemaVersion != want.SchemaVersion || got.CreatedDate != want.CreatedDate ||
		got.SequenceNumber != want.SequenceNumber || got.Flags != want.Flags || got.MessageID != want.MessageID ||
		got.PayloadType != want.PayloadType || !bytes.Equal(got.Payload, want.Payload) {
		t.Fatalf("ParseMessage = %+v\nwant %+v", got, want)
	}
	enc, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, frame) {
		t.Fatalf("MarshalBinary:\n got %x\nwant %x", enc, frame)
	}
}

// TestMessageEveryType encodes one message of every type the protocol uses
// and checks the fixed fields byte by byte.
func TestMessageEveryType(t *testing.T) {
	id := uuid.MustParse("00112233-4455-6677-8899-aabbccddeeff")
	cases := []struct {
		typ     string
		pt      PayloadType
		seq     int64
		flags   uint64
		payload string
	}{
		{TypeInputStreamData, PayloadOutput, 5, 0, "ssh bytes"},
		{TypeOutputStreamData, PayloadOutput, 0, FlagSYN, "SSH-2.0-OpenSSH_9.2\r\n"},
		{TypeOutputStreamData, PayloadHandshakeRequest, 0, FlagSYN, `{"AgentVersion":"3.3.0.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22"}}}]}`},
		{TypeInputStreamData, PayloadHandshakeResponse, 0, 0, `{"ClientVersion":"1.2.707.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":[]}`},
		{TypeOutputStreamData, PayloadHandshakeComplete, 1, 0, `{"HandshakeTimeToComplete":12000000,"CustomerMessage":""}`},
		{TypeOutputStreamData, PayloadEncChallengeRequest, 1, 0, `{"Challenge":"AAEC"}`},
		{TypeInputStreamData, PayloadEncChallengeResponse, 1, 0, `{"Challenge":"AAEC"}`},
		{TypeInputStreamData, PayloadSize, 2, 0, `{"cols":80,"rows":24}`},
		{TypeInputStreamData, PayloadFlag, 3, 0, "\x00\x00\x00\x02"},
		{TypeOutputStreamData, PayloadStdErr, 4, 0, "oops"},
		{TypeOutputStreamData, PayloadExitCode, 5, 0, "3"},
		{TypeAcknowledge, PayloadNone, 0, FlagSYN | FlagFIN, ackPayload},
		{TypeChannelClosed, PayloadNone, 0, 0, `{"MessageType":"channel_closed","Output":"bye"}`},
		{TypeAgentSessionState, PayloadNone, 0, 0, `{"SchemaVersion":1,"SessionState":"Connected","SessionId":"s-1"}`},
		{TypeStartPublication, PayloadNone, 0, 0, ""},
		{TypePausePublication, PayloadNone, 0, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.typ+"/"+c.pt.String(), func(t *testing.T) {
			m := Message{Type: c.typ, CreatedDate: 42, SequenceNumber: c.seq, Flags: c.flags,
				MessageID: id, PayloadType: c.pt, Payload: []byte(c.payload)}
			f, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(f) != 120+len(c.payload) {
				t.Fatalf("len = %d", len(f))
			}
			if got := binary.BigEndian.Uint32(f[0:]); got != 116 {
				t.Errorf("HeaderLength = %d", got)
			}
			if got := string(f[4:36]); got != c.typ+strings.Repeat(" ", 32-len(c.typ)) {
				t.Errorf("MessageType = %q", got)
			}
			if got := binary.BigEndian.Uint32(f[36:]); got != 1 {
				t.Errorf("SchemaVersion = %d", got)
			}
			if got := binary.BigEndian.Uint64(f[40:]); got != 42 {
				t.Errorf("CreatedDate = %d", got)
			}
			if got := int64(binary.BigEndian.Uint64(f[48:])); got != c.seq {
				t.Errorf("SequenceNumber = %d", got)
			}
			if got := binary.BigEndian.Uint64(f[56:]); got != c.flags {
				t.Errorf("Flags = %d", got)
			}
			if got := hex.EncodeToString(f[64:80]); got != "8899aabbccddeeff0011223344556677" {
				t.Errorf("MessageId = %s", got)
			}
			sum := sha256.Sum256([]byte(c.payload))
			if !bytes.Equal(f[80:112], sum[:]) {
				t.Errorf("digest mismatch")
			}
			if got := binary.BigEndian.Uint32(f[112:]); got != uint32(c.pt) {
				t.Errorf("PayloadType = %d", got)
			}
			if got := binary.BigEndian.Uint32(f[116:]); got != uint32(len(c.payload)) {
				t.Errorf("PayloadLength = %d", got)
			}
			back, err := ParseMessage(f)
			if err != nil {
				t.Fatal(err)
			}
			if back.Type != c.typ || back.PayloadType != c.pt || string(back.Payload) != c.payload ||
				back.MessageID != id || back.SequenceNumber != c.seq || back.Flags != c.flags {
				t.Fatalf("round trip: %+v", back)
			}
		})
	}
}

func TestMessageRejects(t *testing.T) {
	good, err := (&Message{Type: TypeOutputStreamData, CreatedDate: 1, PayloadType: PayloadOutput,
		Payload: []byte("hello")}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	cases := []struct {
		name, field string
		frame       []byte
	}{
		{"empty", "length", nil},
		{"short", "length", good[:119]},
		{"header length", "HeaderLength", mutate(func(b []byte) []byte { b[3] = 120; return b })},
		{"payload length long", "PayloadLength", mutate(func(b []byte) []byte { b[119]++; return b })},
		{"payload length huge", "PayloadLength", mutate(func(b []byte) []byte { b[116] = 0xff; return b })},
		{"payload length short", "PayloadLength", mutate(func(b []byte) []byte { return b[:len(b)-1] })},
		{"digest", "PayloadDigest", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
		{"created zero", "CreatedDate", mutate(func(b []byte) []byte { clear(b[40:48]); return b })},
		{"type blank", "MessageType", mutate(func(b []byte) []byte {
			copy(b[4:36], strings.Repeat(" ", 32))
			return b
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseMessage(c.frame)
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("err = %v, want ErrMalformedFrame", err)
			}
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("err = %v, want field %s", err, c.field)
			}
		})
	}
}

func TestMessageTypeTrimsNULs(t *testing.T) {
	f := append(mustHex(t, ackHeader), ackPayload...)
	for i := 4 + len("acknowledge"); i < 36; i++ {
		f[i] = 0
	}
	m, err := ParseMessage(f)
	if err != nil || m.Type != TypeAcknowledge {
		t.Fatalf("ParseMessage = %v, %v", m, err)
	}
}

func TestMarshalRejects(t *testing.T) {
	for _, m := range []Message{
		{Type: ""},
		{Type: strings.Repeat("x", 33)},
		{Type: TypeInputStreamData, Payload: make([]byte, MaxPayloadSize+1)},
	} {
		if _, err := m.MarshalBinary(); !errors.Is(err, ErrMalformedFrame) {
			t.Errorf("MarshalBinary(%q, %d bytes) err = %v", m.Type, len(m.Payload), err)
		}
	}
}

func TestFlagPayload(t *testing.T) {
	if got := MarshalFlag(FlagTerminateSession); !bytes.Equal(got, []byte{0, 0, 0, 2}) {
		t.Fatalf("MarshalFlag = %x", got)
	}
	if f, err := ParseFlag([]byte{0, 0, 0, 3}); err != nil || f != FlagConnectToPortError {
		t.Fatalf("ParseFlag = %v, %v", f, err)
	}
	if _, err := ParseFlag([]byte{1}); err == nil {
		t.Fatal("ParseFlag accepted 1 byte")
	}
}

func FuzzParseMessage(f *testing.F) {
	seed, _ := hex.DecodeString(ackHeader)
	f.Add(append(seed, ackPayload...))
	f.Add([]byte{})
	f.Add(make([]byte, 120))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := ParseMessage(frame)
		u, uerr := ParseMessageUnverified(frame)
		var fe *FrameError
		switch {
		case err == nil && (uerr != nil || !reflect.DeepEqual(m, u)):
			t.Fatalf("unverified parse differs: %+v, %v vs %+v", u, uerr, m)
		case err != nil && errors.As(err, &fe) && fe.Field == "PayloadDigest":
			if uerr != nil {
				t.Fatalf("unverified parse failed on a frame whose only fault is its digest: %v", uerr)
			}
		case err != nil && uerr == nil:
			t.Fatalf("unverified parse accepted a frame ParseMessage refused: %v", err)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("error %v does not match ErrMalformedFrame", err)
			}
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		m2, err := ParseMessage(again)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if m2.Type != m.Type || m2.SequenceNumber != m.SequenceNumber || m2.Flags != m.Flags ||
			m2.MessageID != m.MessageID || m2.PayloadType != m.PayloadType ||
			m2.CreatedDate != m.CreatedDate || !bytes.Equal(m2.Payload, m.Payload) {
			t.Fatalf("round trip changed the message: %+v vs %+v", m, m2)
		}
	})
}

func FuzzMessageRoundTrip(f *testing.F) {
	f.Add("input_stream_data", int64(3), uint64(1), uint32(1), []byte("hi"), []byte("0123456789abcdef"))
	f.Fuzz(func(t *testing.T, typ string, seq int64, flags uint64, pt uint32, payload, id []byte) {
		var u uuid.UUID
		copy(u[:], id)
		m := Message{Type: typ, CreatedDate: 9, SequenceNumber: seq, Flags: flags, MessageID: u,
			PayloadType: PayloadType(pt), Payload: payload}
		f, err := m.MarshalBinary()
		if err != nil {
			return
		}
		back, err := ParseMessage(f)
		trimmed := strings.TrimRight(typ, " \x00")
		if trimmed == "" {
			if err == nil {
				t.Fatalf("blank type accepted")
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseMessage(Marshal(m)): %v", err)
		}
		if back.Type != trimmed || back.SequenceNumber != seq || back.Flags != flags || back.MessageID != u ||
			back.PayloadType != PayloadType(pt) || !bytes.Equal(back.Payload, payload) {
			t.Fatalf("round trip mismatch")
		}
	})
}
