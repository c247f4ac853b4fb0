package protocol

import (
	"errors"
	"io"
	"sync"
	"testing"
)

// memStream is an in-memory MessageStream: the layer below the handshake,
// Conn and mux, standing in for a reliable Session. Each direction holds
// up to capacity payloads; Send blocks while the peer's queue is full, as a
// session's send window does. Close ends both directions: the peer's Recv
// returns io.EOF once it has drained what was sent, and the peer's Send
// fails.
//
// All blocking is on channels, so code under testing/synctest sees a
// memStream wait as durably blocked.
type memStream struct {
	out, in *memDir
	closed  chan struct{}
	once    sync.Once

	mu   sync.Mutex
	sent []memPayload // every payload sent, for assertions
}

type memPayload struct {
	pt PayloadType
	p  []byte
}

type memDir struct {
	ch   chan memPayload
	done chan struct{} // closed when either end closes
	once sync.Once
}

func (d *memDir) close() { d.once.Do(func() { close(d.done) }) }

var errMemClosed = errors.New("memstream: closed")

// newMemPair returns two connected memStreams; t.Cleanup closes both.
func newMemPair(t testing.TB, capacity int) (a, b *memStream) {
	ab := &memDir{ch: make(chan memPayload, capacity), done: make(chan struct{})}
	ba := &memDir{ch: make(chan memPayload, capacity), done: make(chan struct{})}
	a = &memStream{out: ab, in: ba, closed: make(chan struct{})}
	b = &memStream{out: ba, in: ab, closed: make(chan struct{})}
	if t != nil {
		t.Cleanup(func() { a.Close(); b.Close() })
	}
	return a, b
}

func (s *memStream) Send(pt PayloadType, payload []byte) error {
	m := memPayload{pt, append([]byte(nil), payload...)}
	select {
	case <-s.out.done:
		return errMemClosed
	default:
	}
	select {
	case s.out.ch <- m:
		s.mu.Lock()
		s.sent = append(s.sent, m)
		s.mu.Unlock()
		return nil
	case <-s.out.done:
		return errMemClosed
	}
}

func (s *memStream) Recv() (PayloadType, []byte, error) {
	select {
	case <-s.closed:
		return 0, nil, errMemClosed
	default:
	}
	select {
	case m := <-s.in.ch:
		return m.pt, m.p, nil
	case <-s.closed:
		return 0, nil, errMemClosed
	case <-s.in.done:
		select {
		case m := <-s.in.ch:
			return m.pt, m.p, nil
		default:
			return 0, nil, io.EOF
		}
	}
}

func (s *memStream) Close() error {
	s.once.Do(func() {
		close(s.closed)
		s.out.close()
		s.in.close()
	})
	return nil
}

// sentTypes returns the payload types sent so far, in order.
func (s *memStream) sentTypes() []PayloadType {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pts []PayloadType
	for _, m := range s.sent {
		pts = append(pts, m.pt)
	}
	return pts
}

// sentPayloads returns the payloads of type pt sent so far.
func (s *memStream) sentPayloads(pt PayloadType) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ps [][]byte
	for _, m := range s.sent {
		if m.pt == pt {
			ps = append(ps, m.p)
		}
	}
	return ps
}

func TestMemStream(t *testing.T) {
	a, b := newMemPair(t, 2)
	if err := a.Send(PayloadOutput, []byte("x")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if pt, p, err := b.Recv(); err != nil || pt != PayloadOutput || string(p) != "x" {
		t.Fatalf("Recv = %v %q %v", pt, p, err)
	}
	if _, _, err := b.Recv(); err != io.EOF {
		t.Fatalf("Recv after peer close = %v, want EOF", err)
	}
	if err := b.Send(PayloadOutput, nil); err == nil {
		t.Fatal("Send to a closed peer succeeded")
	}
}
