package protocol_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/protocol/prototest"
)

const (
	in  = protocol.TypeOutputStreamData // what a client receives
	out = protocol.TypeInputStreamData  // what a client sends
)

// The acknowledge frame, byte for byte, as PROTOCOL.md section 6 and both
// real peers lay it out.
func TestSessionAckFrameBytes(t *testing.T) {
	for _, tc := range []struct {
		role     protocol.Role
		received string
	}{
		{protocol.RoleClient, protocol.TypeOutputStreamData},
		{protocol.RoleAgent, protocol.TypeInputStreamData},
	} {
		t.Run(tc.role.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, p := newPeer(t, protocol.SessionConfig{Role: tc.role})
				defer s.Close()
				id := uuid.MustParse("0a1b2c3d-4e5f-4607-8819-2a3b4c5d6e7f")
				p.write(&protocol.Message{Type: tc.received, SequenceNumber: 0, MessageID: id,
					PayloadType: protocol.PayloadOutput, Payload: []byte("hello")})
				f := p.next()
				raw := f.raw

				payload := `{"AcknowledgedMessageType":"` + tc.received + `",` +
					`"AcknowledgedMessageId":"0a1b2c3d-4e5f-4607-8819-2a3b4c5d6e7f",` +
					`"AcknowledgedMessageSequenceNumber":0,"IsSequentialMessage":true}`
				std, _ := json.Marshal(protocol.Acknowledge{MessageType: tc.received, MessageID: id.String(),
					SequenceNumber: 0, IsSequentialMessage: true})
				if payload != string(std) {
					t.Fatalf("test's expectation %s differs from encoding/json's %s", payload, std)
				}
				digest := sha256.Sum256([]byte(payload))
				checks := []struct {
					name string
					got  []byte
					want []byte
				}{
					{"HeaderLength", raw[0:4], []byte{0, 0, 0, 116}},
					{"MessageType", raw[4:36], []byte("acknowledge" + strings.Repeat(" ", 21))},
					{"SchemaVersion", raw[36:40], []byte{0, 0, 0, 1}},
					{"SequenceNumber", raw[48:56], make([]byte, 8)},
					{"Flags", raw[56:64], []byte{0, 0, 0, 0, 0, 0, 0, 3}},
					{"PayloadDigest", raw[80:112], digest[:]},
					{"PayloadType", raw[112:116], []byte{0, 0, 0, 0}},
					{"PayloadLength", raw[116:120], binary.BigEndian.AppendUint32(nil, uint32(len(payload)))},
					{"Payload", raw[120:], []byte(payload)},
				}
				for _, c := range checks {
					if !bytes.Equal(c.got, c.want) {
						t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
					}
				}
				if created := int64(binary.BigEndian.Uint64(raw[40:48])); created != time.Now().UnixMilli() {
					t.Errorf("CreatedDate = %d, want now (%d)", created, time.Now().UnixMilli())
				}
				if f.MessageID == id || f.MessageID == uuid.Nil || f.MessageID.Version() != 4 {
					t.Errorf("ack MessageId = %v, want a fresh random UUID", f.MessageID)
				}
				if got := recvString(t, s); got != "hello" {
					t.Errorf("Recv = %q", got)
				}
			})
		})
	}
}

// Stream messages carry the role's type; only the agent's first one has
// SYN. Control frames are seq 0, flags 3, payload type 0.
func TestSessionStreamFlags(t *testing.T) {
	for _, tc := range []struct {
		role  protocol.Role
		typ   string
		flags []uint64
	}{
		{protocol.RoleClient, protocol.TypeInputStreamData, []uint64{0, 0, 0}},
		{protocol.RoleAgent, protocol.TypeOutputStreamData, []uint64{protocol.FlagSYN, 0, 0}},
	} {
		t.Run(tc.role.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, p := newPeer(t, protocol.SessionConfig{Role: tc.role})
				defer s.Close()
				pts := []protocol.PayloadType{protocol.PayloadHandshakeRequest, protocol.PayloadOutput, protocol.PayloadFlag}
				for i, pt := range pts {
					if err := s.Send(pt, []byte{byte(i)}); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Send(protocol.PayloadOutput, nil); err != nil {
					t.Fatalf("empty Send: %v", err)
				}
				for i, pt := range pts {
					f := p.next()
					if f.Type != tc.typ || f.SequenceNumber != int64(i) || f.Flags != tc.flags[i] ||
						f.PayloadType != pt || !bytes.Equal(f.Payload, []byte{byte(i)}) {
						t.Errorf("message %d: type %q seq %d flags %d pt %v payload %v", i, f.Type, f.SequenceNumber, f.Flags, f.PayloadType, f.Payload)
					}
					p.ack(tc.typ, int64(i))
				}
				if err := s.SendControl(protocol.TypeAgentSessionState, []byte(`{"SessionState":"Connected"}`)); err != nil {
					t.Fatal(err)
				}
				f := p.next()
				if f.Type != protocol.TypeAgentSessionState || f.SequenceNumber != 0 || f.Flags != 3 ||
					f.PayloadType != 0 || string(f.Payload) != `{"SessionState":"Connected"}` {
					t.Errorf("control frame: %+v", f.Message)
				}
				if err := s.Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if extra := p.pending(); len(extra) != 0 {
					t.Errorf("session wrote %d more frames (the empty Send must send nothing)", len(extra))
				}
			})
		})
	}
}

// Out-of-order messages are acknowledged and buffered, duplicates
// acknowledged again and dropped; Recv sees each message once, in order.
func TestSessionReorderAndDuplicates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		order := []int64{2, 1, 0, 1, 3, 5, 5, 4, 0}
		for _, seq := range order {
			p.data(in, seq, "m"+strconvI(seq))
		}
		for i := range 6 {
			if got, want := recvString(t, s), "m"+strconvI(int64(i)); got != want {
				t.Fatalf("Recv %d = %q, want %q", i, got, want)
			}
		}
		synctest.Wait()
		if got := ackedSeqs(t, p.pending()); !slices.Equal(got, order) {
			t.Errorf("acknowledged %v, want one ack per frame received: %v", got, order)
		}
		st := s.Stats()
		if st.Duplicates != 3 || st.OutOfOrder != 3 || st.Received != 6 || st.AcksSent != uint64(len(order)) {
			t.Errorf("stats: %+v", st)
		}
	})
}

func strconvI(n int64) string { return string(rune('0' + n)) }

// The agent withholds the ack of the message it expects while its target
// is not ready, yet acknowledges later ones. The session must keep
// resending that message — and only it — until it is acknowledged.
func TestSessionWithheldAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		for _, m := range []string{"a", "b", "c"} {
			sendString(t, s, m)
		}
		for range 3 {
			f := p.next()
			if f.SequenceNumber != 0 {
				p.ack(out, f.SequenceNumber)
			}
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		fs := p.pending()
		resends := seqsOf(fs, out)
		if len(resends) < 6 || slices.ContainsFunc(resends, func(s int64) bool { return s != 0 }) {
			t.Fatalf("in 5 s the session resent %v, want message 0 again and again, nothing else", resends)
		}
		last := time.Time{}
		for _, f := range fs {
			if !last.IsZero() && f.at.Sub(last) > time.Second+10*time.Millisecond {
				t.Errorf("resends %v apart, want at most 1 s (the agent's RTO cap)", f.at.Sub(last))
			}
			last = f.at
		}
		p.ack(out, 0)
		if err := s.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// With no acknowledgement at all only the oldest message is probed (the
// agent withholds its acks until its target is ready). The ack of a
// probed message is ambiguous (it may be the first transmission's), so
// it does not mark the messages sent before the probe lost; but each of
// them, once it is the oldest, is already overdue: the tail comes back
// one round trip per message, not an RTO each.
func TestSessionProbeThenTailRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		start := time.Now()
		for _, m := range []string{"a", "b", "c"} {
			sendString(t, s, m)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		fs := p.pending()
		if got := seqsOf(fs, out); !slices.Equal(got, []int64{0, 1, 2, 0, 0}) {
			t.Fatalf("first second: sent %v, want 0 1 2 then probes of 0 at 200 ms and 600 ms", got)
		}
		if d := fs[3].at.Sub(start); d != 200*time.Millisecond {
			t.Errorf("first probe after %v, want the initial RTO of 200 ms", d)
		}
		for _, seq := range []int64{1, 2} {
			p.ack(out, seq-1)
			acked := time.Now()
			f := p.next()
			if f.SequenceNumber != seq {
				t.Fatalf("after ack %d, resent %d, want %d", seq-1, f.SequenceNumber, seq)
			}
			if d := f.at.Sub(acked); d > 0 {
				t.Errorf("message %d resent %v after the ack of %d, want at once", seq, d, seq-1)
			}
		}
		p.ack(out, 2)
		if err := s.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Resent != 4 || st.Sent != 3 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// Holes revealed by later acknowledgements are resent together, oldest
// first, before any RTO; acknowledged messages are not resent.
func TestSessionResendsOnlyHoles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		for i := range 10 {
			sendString(t, s, strconvI(int64(i)))
		}
		for range 10 {
			if f := p.next(); f.SequenceNumber != 3 && f.SequenceNumber != 6 {
				p.ack(out, f.SequenceNumber)
			}
		}
		sent := time.Now()
		f1, f2 := p.next(), p.next()
		if f1.SequenceNumber != 3 || f2.SequenceNumber != 6 || f1.at != f2.at {
			t.Fatalf("resent %d then %d, want 3 and 6 together", f1.SequenceNumber, f2.SequenceNumber)
		}
		if d := f1.at.Sub(sent); d >= 200*time.Millisecond {
			t.Errorf("holes resent after %v, want before the 200 ms RTO", d)
		}
		p.ack(out, 6)
		p.ack(out, 3)
		if err := s.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Resent != 2 {
			t.Errorf("Resent = %d, want 2", st.Resent)
		}
	})
}

// pause_publication holds new messages and resends; start_publication
// releases them. A client stays paused through incoming data and acks.
func TestSessionPausePublication(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		sendString(t, s, "a")
		if f := p.next(); f.SequenceNumber != 0 {
			t.Fatal("want message 0")
		}
		p.control(protocol.TypePausePublication, "")
		synctest.Wait()
		done := make(chan error)
		go func() { done <- s.Send(protocol.PayloadOutput, []byte("b")) }()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if fs := p.pending(); len(fs) != 0 {
			t.Fatalf("paused session wrote %d frames (seqs %v)", len(fs), seqsOf(fs, out))
		}
		select {
		case err := <-done:
			t.Fatalf("Send returned %v while paused", err)
		default:
		}
		p.control(protocol.TypeStartPublication, "")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := seqsOf(p.pending(), out); !slices.Contains(got, 0) || !slices.Contains(got, 1) {
			t.Fatalf("after start_publication sent %v, want the resend of 0 and message 1", got)
		}

		// Acknowledgements still flow while paused; neither incoming data
		// nor acknowledgements resume a client.
		p.control(protocol.TypePausePublication, "")
		synctest.Wait()
		time.Sleep(5 * time.Second)
		p.data(in, 0, "x")
		synctest.Wait()
		fs := p.pending()
		if acks := ackedSeqs(t, fs); !slices.Equal(acks, []int64{0}) {
			t.Errorf("acks %v, want [0]", acks)
		}
		if got := seqsOf(fs, out); len(got) != 0 {
			t.Errorf("incoming data resumed a paused client: it sent %v", got)
		}
		p.ack(out, 0)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := seqsOf(p.pending(), out); len(got) != 0 {
			t.Errorf("an acknowledgement resumed a paused client: it sent %v", got)
		}
		p.control(protocol.TypeStartPublication, "")
		synctest.Wait()
		if got := seqsOf(p.pending(), out); !slices.Equal(got, []int64{1}) {
			t.Errorf("after start_publication sent %v, want the resend of 1", got)
		}
		p.ack(out, 1)
		if err := s.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// channel_closed ends the session after the data received before it.
func TestSessionChannelClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		p.data(in, 0, "last words")
		p.data(in, 2, "after a gap")
		cc, _ := json.Marshal(protocol.ChannelClosed{MessageType: protocol.TypeChannelClosed, SessionID: "s-1",
			SchemaVersion: 1, Output: "Unable to start command: failed to start pty since RunAs user x does not exist"})
		p.write(&protocol.Message{Type: protocol.TypeChannelClosed, Flags: 3, Payload: cc})
		synctest.Wait()
		if got := recvString(t, s); got != "last words" {
			t.Fatalf("Recv = %q", got)
		}
		_, _, err := s.Recv()
		var cce *protocol.ChannelClosedError
		if !errors.As(err, &cce) || cce.SessionID != "s-1" || !strings.Contains(cce.Output, "RunAs user x") {
			t.Fatalf("Recv error = %v, want *ChannelClosedError with the Output", err)
		}
		if err := s.Send(protocol.PayloadOutput, []byte("x")); !errors.As(err, &cce) {
			t.Errorf("Send after channel_closed = %v", err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if _, _, err := s.Recv(); err != protocol.ErrSessionClosed {
			t.Errorf("Recv after Close = %v", err)
		}
	})
}

// A failed transport is replaced through Reconnect: sequence numbers
// continue and every unacknowledged message is resent in order at once.
func TestSessionReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := make(chan protocol.Transport)
		calls := 0
		s, p1 := newPeer(t, protocol.SessionConfig{Reconnect: func(ctx context.Context) (protocol.Transport, error) {
			calls++
			a, b := prototest.Pipe()
			select {
			case next <- b:
				return a, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}})
		defer s.Close()
		p1.data(in, 0, "r0")
		p1.data(in, 1, "r1")
		for i := range 5 {
			sendString(t, s, "s"+strconvI(int64(i)))
		}
		for range 7 { // 2 acks and 5 messages, in some order
			if f := p1.next(); f.Type == out && f.SequenceNumber < 2 {
				p1.ack(out, f.SequenceNumber)
			}
		}
		synctest.Wait()
		p1.close() // the websocket drops
		p2 := startPeer(t, <-next)
		for want := int64(2); want < 5; want++ {
			f := p2.next()
			if f.Type != out || f.SequenceNumber != want {
				t.Fatalf("after reconnect got %s %d, want message %d", f.Type, f.SequenceNumber, want)
			}
			p2.ack(out, want)
		}
		sendString(t, s, "s5")
		if f := p2.next(); f.SequenceNumber != 5 {
			t.Fatalf("new message numbered %d, want 5", f.SequenceNumber)
		}
		p2.ack(out, 5)
		p2.data(in, 1, "r1") // its ack was lost with the old transport
		p2.data(in, 2, "r2")
		for _, want := range []string{"r0", "r1", "r2"} {
			if got := recvString(t, s); got != want {
				t.Fatalf("Recv = %q, want %q", got, want)
			}
		}
		if err := s.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if acks := ackedSeqs(t, p2.pending()); !slices.Equal(acks, []int64{1, 2}) {
			t.Errorf("acks on the new transport %v, want [1 2]", acks)
		}
		if st := s.Stats(); st.Reconnects != 1 || calls != 1 {
			t.Errorf("Reconnects = %d, calls = %d, want 1", st.Reconnects, calls)
		}
	})
}

// Reconnect is retried a bounded number of times with backoff, then the
// session ends with its error.
func TestSessionReconnectGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errGone := errors.New("session is gone")
		var calls []time.Time
		s, p := newPeer(t, protocol.SessionConfig{ReconnectAttempts: 3,
			Reconnect: func(ctx context.Context) (protocol.Transport, error) {
				calls = append(calls, time.Now())
				return nil, errGone
			}})
		defer s.Close()
		p.data(in, 0, "a")
		synctest.Wait()
		p.close()
		if got := recvString(t, s); got != "a" {
			t.Fatalf("Recv = %q", got)
		}
		_, _, err := s.Recv()
		if !errors.Is(err, errGone) || !strings.Contains(err.Error(), "3 attempts") {
			t.Fatalf("Recv error = %v", err)
		}
		if len(calls) != 3 || calls[1].Sub(calls[0]) != 100*time.Millisecond || calls[2].Sub(calls[1]) != 200*time.Millisecond {
			t.Errorf("Reconnect called at %v, want 3 calls 100 ms then 200 ms apart", calls)
		}
		if err := s.Send(protocol.PayloadOutput, []byte("x")); !errors.Is(err, errGone) {
			t.Errorf("Send = %v", err)
		}
	})
}

// A Reconnect error wrapping ErrReconnectRefused ends the session at once,
// without the remaining attempts.
func TestSessionReconnectRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errExpired := fmt.Errorf("credentials expired: %w", protocol.ErrReconnectRefused)
		calls := 0
		s, p := newPeer(t, protocol.SessionConfig{ReconnectAttempts: 5,
			Reconnect: func(ctx context.Context) (protocol.Transport, error) {
				calls++
				return nil, errExpired
			}})
		defer s.Close()
		p.close()
		_, _, err := s.Recv()
		if !errors.Is(err, errExpired) || strings.Contains(err.Error(), "attempts") {
			t.Fatalf("Recv error = %v", err)
		}
		if calls != 1 {
			t.Errorf("Reconnect called %d times, want 1", calls)
		}
	})
}

// Without Reconnect, a transport that ends cleanly ends the session with
// io.EOF after the data received.
func TestSessionEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		p.data(in, 0, "a")
		synctest.Wait()
		p.close()
		if got := recvString(t, s); got != "a" {
			t.Fatalf("Recv = %q", got)
		}
		if _, _, err := s.Recv(); err != io.EOF {
			t.Fatalf("Recv = %v, want io.EOF", err)
		}
		if err := s.Send(protocol.PayloadOutput, []byte("x")); err != io.EOF {
			t.Errorf("Send = %v, want io.EOF", err)
		}
	})
}

// MaxResendAttempts ends a session whose peer never acknowledges.
func TestSessionResendLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{MaxResendAttempts: 3})
		defer s.Close()
		sendString(t, s, "a")
		_, _, err := s.Recv()
		if !errors.Is(err, protocol.ErrNotAcknowledged) {
			t.Fatalf("Recv = %v, want ErrNotAcknowledged", err)
		}
		if got := seqsOf(p.pending(), out); !slices.Equal(got, []int64{0, 0, 0, 0}) {
			t.Errorf("sent %v, want message 0 once and resent 3 times", got)
		}
		if err := s.Flush(t.Context()); !errors.Is(err, protocol.ErrNotAcknowledged) {
			t.Errorf("Flush = %v", err)
		}
	})
}

// Full buffers drop messages without acknowledging them, so the peer
// resends them once there is room.
func TestSessionBuffersFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{RecvQueue: 2, MaxOutOfOrder: 4})
		defer s.Close()
		for _, seq := range []int64{0, 1, 2, 3, 7, 6} {
			p.data(in, seq, "m"+strconvI(seq))
		}
		synctest.Wait()
		// 2: the ready queue is full; 7: too far ahead of 2.
		if acks := ackedSeqs(t, p.pending()); !slices.Equal(acks, []int64{0, 1, 3, 6}) {
			t.Fatalf("acknowledged %v, want [0 1 3 6]", acks)
		}
		if got := recvString(t, s); got != "m0" {
			t.Fatalf("Recv = %q", got)
		}
		p.data(in, 2, "m2")
		p.data(in, 7, "m7")
		for i := int64(1); i < 4; i++ {
			if got := recvString(t, s); got != "m"+strconvI(i) {
				t.Fatalf("Recv = %q, want m%d", got, i)
			}
		}
		synctest.Wait()
		if acks := ackedSeqs(t, p.pending()); !slices.Equal(acks, []int64{2, 7}) {
			t.Fatalf("acknowledged %v, want [2 7]", acks)
		}
		st := s.Stats()
		if st.Dropped != 2 || st.PeakBuffered > 2+4 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// Malformed frames and unknown or misdirected types are dropped; the
// session carries on.
func TestSessionMalformedAndIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		good, _ := (&protocol.Message{Type: in, MessageID: uuid.New(), Payload: []byte("ok")}).MarshalBinary()
		badDigest := bytes.Clone(good)
		badDigest[len(badDigest)-1] ^= 1
		for _, f := range [][]byte{nil, []byte("garbage"), good[:100], badDigest, append(bytes.Clone(good), 0)} {
			if err := p.tr.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		p.control("some_new_type", "{}")
		p.control(protocol.TypeAgentSessionState, `{"SessionState":"Connected"}`)
		p.data(out, 0, "misdirected")
		p.control(protocol.TypeAcknowledge, "not json")
		p.control(protocol.TypeAcknowledge, `{"AcknowledgedMessageSequenceNumber":12345}`)
		p.tr.WriteFrame(good)
		if got := recvString(t, s); got != "ok" {
			t.Fatalf("Recv = %q", got)
		}
		st := s.Stats()
		if st.Malformed != 6 || st.Ignored != 3 || st.AcksReceived != 1 {
			t.Errorf("stats: %+v", st)
		}
	})
}

// Close unblocks every waiting call and is idempotent.
func TestSessionCloseUnblocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newPeer(t, protocol.SessionConfig{Window: 2})
		sendString(t, s, "a")
		sendString(t, s, "b")
		errs := make(chan error, 3)
		go func() { errs <- s.Send(protocol.PayloadOutput, []byte("c")) }()
		go func() { _, _, err := s.Recv(); errs <- err }()
		go func() { errs <- s.Flush(context.Background()) }()
		synctest.Wait()
		if len(errs) != 0 {
			t.Fatalf("a call returned early: %v", <-errs)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := <-errs; err != protocol.ErrSessionClosed {
				t.Errorf("blocked call returned %v, want ErrSessionClosed", err)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if err := s.SendControl(protocol.TypeAgentSessionState, nil); err != protocol.ErrSessionClosed {
			t.Errorf("SendControl = %v", err)
		}
	})
}

// Flush honours its context.
func TestSessionFlushContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newPeer(t, protocol.SessionConfig{})
		defer s.Close()
		sendString(t, s, "a")
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		if err := s.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush = %v", err)
		}
	})
}
