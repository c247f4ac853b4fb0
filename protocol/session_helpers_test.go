package protocol_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/protocol/prototest"
)

// frame is one frame a session wrote, as its scripted peer saw it.
type frame struct {
	*protocol.Message
	raw []byte
	at  time.Time // when the peer read it (fake time in a bubble)
}

// peer is a scripted far end of a session: the test writes frames to it
// and reads, decoded, what the session wrote.
type peer struct {
	t      *testing.T
	tr     protocol.Transport
	frames chan frame
}

// newPeer returns a session with config cfg over a pipe, and the scripted
// peer at the other end. Use inside a synctest bubble and Close the
// session before the bubble ends; that also ends the peer.
func newPeer(t *testing.T, cfg protocol.SessionConfig) (*protocol.Session, *peer) {
	t.Helper()
	a, b := prototest.Pipe()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	return protocol.NewSession(a, cfg), startPeer(t, b)
}

// startPeer reads what arrives on tr into the peer's frames.
func startPeer(t *testing.T, tr protocol.Transport) *peer {
	p := &peer{t: t, tr: tr, frames: make(chan frame, 100000)}
	go func() {
		defer close(p.frames)
		for {
			f, err := tr.ReadFrame()
			if err != nil {
				return
			}
			m, err := protocol.ParseMessage(f)
			if err != nil {
				t.Errorf("session wrote a malformed frame: %v", err)
				return
			}
			p.frames <- frame{m, f, time.Now()}
		}
	}()
	return p
}

func (p *peer) close() { p.tr.Close() }

func (p *peer) write(m *protocol.Message) {
	p.t.Helper()
	if m.MessageID == uuid.Nil {
		m.MessageID = uuid.New()
	}
	f, err := m.MarshalBinary()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.tr.WriteFrame(f); err != nil {
		p.t.Fatalf("peer write: %v", err)
	}
}

// data sends stream message seq of type typ.
func (p *peer) data(typ string, seq int64, payload string) {
	p.t.Helper()
	p.write(&protocol.Message{Type: typ, SequenceNumber: seq, PayloadType: protocol.PayloadOutput, Payload: []byte(payload)})
}

// ack acknowledges the session's message seq.
func (p *peer) ack(typ string, seq int64) {
	p.t.Helper()
	payload := []byte(`{"AcknowledgedMessageType":"` + typ + `","AcknowledgedMessageId":"` + uuid.NewString() +
		`","AcknowledgedMessageSequenceNumber":` + strconv.FormatInt(seq, 10) + `,"IsSequentialMessage":true}`)
	p.write(&protocol.Message{Type: protocol.TypeAcknowledge, Flags: 3, Payload: payload})
}

// control sends a non-stream frame.
func (p *peer) control(typ string, payload string) {
	p.t.Helper()
	p.write(&protocol.Message{Type: typ, Flags: 3, Payload: []byte(payload)})
}

// next returns the next frame the session writes, failing if none comes
// within a minute (of fake time, in a bubble).
func (p *peer) next() frame {
	p.t.Helper()
	select {
	case f, ok := <-p.frames:
		if !ok {
			p.t.Fatal("session transport closed")
		}
		return f
	case <-time.After(time.Minute):
		p.t.Fatal("no frame from the session")
	}
	return frame{}
}

// pending returns what the session wrote so far without waiting; call it
// after synctest.Wait.
func (p *peer) pending() []frame {
	var fs []frame
	for {
		select {
		case f, ok := <-p.frames:
			if !ok {
				return fs
			}
			fs = append(fs, f)
		default:
			return fs
		}
	}
}

// seqsOf returns the sequence numbers of the frames of type typ.
func seqsOf(fs []frame, typ string) []int64 {
	out := []int64{}
	for _, f := range fs {
		if f.Type == typ {
			out = append(out, f.SequenceNumber)
		}
	}
	return out
}

// ackedSeqs returns the sequence numbers acknowledged by fs.
func ackedSeqs(t *testing.T, fs []frame) []int64 {
	t.Helper()
	out := []int64{}
	for _, f := range fs {
		if f.Type == protocol.TypeAcknowledge {
			out = append(out, decodeAck(t, f.Message).SequenceNumber)
		}
	}
	return out
}

func decodeAck(t *testing.T, m *protocol.Message) protocol.Acknowledge {
	t.Helper()
	var a protocol.Acknowledge
	if err := json.Unmarshal(m.Payload, &a); err != nil {
		t.Fatalf("acknowledge payload %q: %v", m.Payload, err)
	}
	return a
}

// recvString receives one message and returns its payload.
func recvString(t *testing.T, s *protocol.Session) string {
	t.Helper()
	_, p, err := s.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return string(p)
}

// sendString sends one Output message.
func sendString(t *testing.T, s *protocol.Session, p string) {
	t.Helper()
	if err := s.Send(protocol.PayloadOutput, []byte(p)); err != nil {
		t.Fatalf("Send: %v", err)
	}
}
