package agent

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/protocol"
)

// memStream is one end of an in-memory protocol.MessageStream pair: an
// ordered, reliable channel of typed payloads standing in for the reliable
// session below the plugins. Closing either end ends both; Recv then
// returns io.EOF once the payloads already queued are consumed.
type memStream struct {
	in     <-chan memMsg
	out    chan<- memMsg
	closed chan struct{}
	once   *sync.Once

	mu      sync.Mutex
	maxSent int // largest payload sent from this end
}

type memMsg struct {
	pt protocol.PayloadType
	p  []byte
}

var errMemClosed = errors.New("memstream: closed")

// newStreamPair returns the agent's and the client's end of a stream; both
// are closed when the test ends.
func newStreamPair(t *testing.T) (agentEnd, clientEnd *memStream) {
	a2c := make(chan memMsg, 64)
	c2a := make(chan memMsg, 64)
	closed := make(chan struct{})
	once := new(sync.Once)
	agentEnd = &memStream{in: c2a, out: a2c, closed: closed, once: once}
	clientEnd = &memStream{in: a2c, out: c2a, closed: closed, once: once}
	t.Cleanup(func() { agentEnd.Close() })
	return agentEnd, clientEnd
}

func (s *memStream) Send(pt protocol.PayloadType, payload []byte) error {
	m := memMsg{pt, bytes.Clone(payload)}
	s.mu.Lock()
	s.maxSent = max(s.maxSent, len(payload))
	s.mu.Unlock()
	select {
	case <-s.closed:
		return errMemClosed
	default:
	}
	select {
	case s.out <- m:
		return nil
	case <-s.closed:
		return errMemClosed
	}
}

func (s *memStream) Recv() (protocol.PayloadType, []byte, error) {
	select {
	case m := <-s.in:
		return m.pt, m.p, nil
	default:
	}
	select {
	case m := <-s.in:
		return m.pt, m.p, nil
	case <-s.closed:
		return 0, nil, io.EOF
	}
}

func (s *memStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// largestSent returns the size of the largest payload sent from this end.
func (s *memStream) largestSent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxSent
}

// recvTimeout receives one payload, failing the test if none arrives in
// time.
func recvTimeout(t *testing.T, s *memStream, d time.Duration) (protocol.PayloadType, []byte) {
	t.Helper()
	type got struct {
		pt  protocol.PayloadType
		p   []byte
		err error
	}
	ch := make(chan got, 1)
	go func() {
		pt, p, err := s.Recv()
		ch <- got{pt, p, err}
	}()
	select {
	case g := <-ch:
		if g.err != nil {
			t.Fatalf("recv: %v", g.err)
		}
		return g.pt, g.p
	case <-time.After(d):
		t.Fatalf("no payload within %v", d)
		return 0, nil
	}
}

// streamConn is the client's view of a data stream as a byte stream: it
// sends writes as Output payloads and reads Output payloads, reporting
// Flag payloads on flags and ignoring the rest. smux runs over it in the
// port-forwarding tests.
type streamConn struct {
	s     *memStream
	buf   []byte
	flags chan protocol.Flag
}

func newStreamConn(s *memStream) *streamConn {
	return &streamConn{s: s, flags: make(chan protocol.Flag, 16)}
}

func (c *streamConn) Read(b []byte) (int, error) {
	for len(c.buf) == 0 {
		pt, p, err := c.s.Recv()
		if err != nil {
			return 0, err
		}
		switch pt {
		case protocol.PayloadOutput:
			c.buf = p
		case protocol.PayloadFlag:
			if f, err := protocol.ParseFlag(p); err == nil {
				select {
				case c.flags <- f:
				default:
				}
			}
		}
	}
	n := copy(b, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *streamConn) Write(b []byte) (int, error) {
	if err := c.s.Send(protocol.PayloadOutput, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *streamConn) Close() error { return c.s.Close() }

// runAsync runs a session runner in the background; wait returns its
// outcome or fails the test after d.
func runAsync(t *testing.T, run func() (Result, error)) (wait func(d time.Duration) (Result, error)) {
	t.Helper()
	type outcome struct {
		res Result
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		r, err := run()
		ch <- outcome{r, err}
	}()
	return func(d time.Duration) (Result, error) {
		t.Helper()
		select {
		case o := <-ch:
			return o.res, o.err
		case <-time.After(d):
			t.Fatalf("session did not end within %v", d)
			return Result{}, nil
		}
	}
}
