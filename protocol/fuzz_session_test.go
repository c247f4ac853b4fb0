package protocol_test

import (
	"encoding/binary"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ssmssh/ssmssh/protocol"
)

// scriptTransport feeds a fixed list of frames to a session, once start
// is closed, and discards what it writes. done is closed when the session
// asks for a frame after the last one, that is once it has processed them
// all.
type scriptTransport struct {
	frames [][]byte
	next   int
	start  chan struct{}
	done   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (st *scriptTransport) ReadFrame() ([]byte, error) {
	<-st.start // closed before the test can block on done
	if st.next < len(st.frames) {
		f := st.frames[st.next]
		st.next++
		return f, nil
	}
	if st.next == len(st.frames) {
		st.next++
		close(st.done)
	}
	<-st.closed
	return nil, net.ErrClosed
}

func (st *scriptTransport) WriteFrame([]byte) error { return nil }

func (st *scriptTransport) Close() error {
	st.once.Do(func() { close(st.closed) })
	return nil
}

// scriptFrames turns fuzz input into frames: mostly well-formed messages
// of every kind the session handles (so the fuzzer explores the state
// machine rather than the digest check), and raw bytes.
func scriptFrames(script []byte) [][]byte {
	var frames [][]byte
	enc := func(m *protocol.Message) {
		m.MessageID = uuid.UUID{byte(len(frames)), 1}
		f, err := m.MarshalBinary()
		if err != nil {
			panic(err)
		}
		frames = append(frames, f)
	}
	for len(script) >= 3 && len(frames) < 2000 {
		op, arg := script[0], int64(int16(binary.BigEndian.Uint16(script[1:3])))
		script = script[3:]
		switch op % 9 {
		case 0, 1, 2: // data, its payload naming its sequence number
			p := binary.BigEndian.AppendUint64(nil, uint64(arg))
			p = append(p, make([]byte, int(op)*7)...)
			enc(&protocol.Message{Type: protocol.TypeOutputStreamData, SequenceNumber: arg, PayloadType: protocol.PayloadOutput, Payload: p})
		case 3:
			enc(&protocol.Message{Type: protocol.TypeAcknowledge, Flags: 3, Payload: []byte(
				`{"AcknowledgedMessageType":"input_stream_data","AcknowledgedMessageId":"x","AcknowledgedMessageSequenceNumber":` +
					strconv.FormatInt(arg, 10) + `,"IsSequentialMessage":true}`)})
		case 4:
			enc(&protocol.Message{Type: protocol.TypePausePublication, Flags: 3})
		case 5:
			enc(&protocol.Message{Type: protocol.TypeStartPublication, Flags: 3})
		case 6:
			if arg%16 == 0 {
				enc(&protocol.Message{Type: protocol.TypeChannelClosed, Flags: 3, Payload: []byte(`{"Output":"bye"}`)})
			}
		case 7: // raw bytes, arg long, from the rest of the script
			n := min(int(uint16(arg))%512, len(script))
			frames = append(frames, append([]byte(nil), script[:n]...))
			script = script[n:]
		case 8: // a message of another type, payload from the script
			n := min(int(uint16(arg))%64, len(script))
			typ := []string{protocol.TypeAcknowledge, protocol.TypeInputStreamData, protocol.TypeAgentSessionState, "x"}[uint16(arg)%4]
			enc(&protocol.Message{Type: typ, SequenceNumber: arg, Payload: script[:n]})
			script = script[n:]
		}
	}
	return frames
}

// FuzzSessionInput feeds arbitrary frames into a client session's input
// path: it must not panic, must deliver stream payloads exactly once and
// in order, and must keep its buffers within their bounds.
func FuzzSessionInput(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 2})
	f.Add([]byte{0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 0, 0, 3, 0, 1})
	f.Add([]byte{4, 0, 0, 0, 0, 5, 0, 0, 3, 3, 0, 2, 5, 0, 0, 6, 0, 0})
	f.Add([]byte{7, 0, 10, 0, 0, 0, 116, 1, 2, 3, 4, 5, 6, 7, 8, 8, 0, 4, 'a', 'b', 'c', 'd'})
	f.Add([]byte{0, 0x7f, 0xff, 0, 0x80, 0, 0, 0, 30, 0, 0, 20, 0, 0, 10})
	f.Fuzz(func(t *testing.T, script []byte) {
		frames := scriptFrames(script)
		tr := &scriptTransport{frames: frames, start: make(chan struct{}), done: make(chan struct{}), closed: make(chan struct{})}
		const queue, ahead, maxBytes = 8, 16, 4096
		s := protocol.NewSession(tr, protocol.SessionConfig{RecvQueue: queue, MaxOutOfOrder: ahead, MaxBufferedBytes: maxBytes,
			Logf: func(string, ...any) {}})
		for range 4 { // before any input: a pause would block Send
			_ = s.Send(protocol.PayloadOutput, []byte("x"))
		}
		close(tr.start)
		var got []int64
		recvDone := make(chan struct{})
		go func() {
			defer close(recvDone)
			for {
				_, p, err := s.Recv()
				if err != nil {
					return
				}
				if len(p) < 8 {
					t.Errorf("delivered payload %x is not a stream message of the script", p)
					return
				}
				got = append(got, int64(binary.BigEndian.Uint64(p)))
			}
		}()
		select {
		case <-tr.done:
		case <-time.After(time.Minute):
			t.Fatal("session did not consume its input")
		}
		st := s.Stats()
		s.Close()
		<-recvDone
		for i, seq := range got {
			if seq != int64(i) {
				t.Fatalf("delivered sequence %v, want 0, 1, 2, …", got)
			}
		}
		if st.PeakBuffered > queue+ahead || st.PeakBufferedBytes > 2*maxBytes+2*(protocol.FrameHeaderSize+64) ||
			st.PeakUnacked > 4 || st.Unacked > 4 {
			t.Fatalf("bounds exceeded: %+v", st)
		}
	})
}
