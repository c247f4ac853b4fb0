package prototest

import (
	"errors"
	"io"
	"net"
	"sync"

	"github.com/ssmssh/ssmssh/protocol"
)

// DefaultPipeBuffer is the number of frames a Pipe buffers in each
// direction before WriteFrame blocks.
const DefaultPipeBuffer = 64

// ErrPeerClosed is returned by WriteFrame on a pipe end whose peer has been
// closed (compare net.ErrClosed, returned once the end itself is closed).
var ErrPeerClosed = errors.New("prototest: pipe: peer closed")

// Pipe returns the two ends of an in-memory frame pipe with
// DefaultPipeBuffer frames of buffering in each direction; see PipeSize.
func Pipe() (a, b protocol.Transport) {
	return PipeSize(DefaultPipeBuffer)
}

// PipeSize returns the two ends of an in-memory frame pipe buffering up to
// n frames in each direction (n < 1 means 1). WriteFrame copies the frame
// and blocks while the buffer is full.
//
// Closing either end ends the pipe for both: the closed end's ReadFrame and
// WriteFrame return net.ErrClosed at once; the other end's ReadFrame first
// returns the frames already buffered for it and then io.EOF, and its
// WriteFrame returns ErrPeerClosed. Blocked calls are unblocked.
func PipeSize(n int) (a, b protocol.Transport) {
	if n < 1 {
		n = 1
	}
	ab := make(chan []byte, n)
	ba := make(chan []byte, n)
	ea := &pipeEnd{in: ba, out: ab, closed: make(chan struct{})}
	eb := &pipeEnd{in: ab, out: ba, closed: make(chan struct{})}
	ea.peer, eb.peer = eb, ea
	return ea, eb
}

type pipeEnd struct {
	in, out chan []byte
	peer    *pipeEnd
	closed  chan struct{}
	once    sync.Once
}

func (e *pipeEnd) ReadFrame() ([]byte, error) {
	select {
	case <-e.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case f := <-e.in:
		return f, nil
	case <-e.closed:
		return nil, net.ErrClosed
	case <-e.peer.closed:
		select {
		case f := <-e.in:
			return f, nil
		default:
			return nil, io.EOF
		}
	}
}

func (e *pipeEnd) WriteFrame(frame []byte) error {
	select {
	case <-e.closed:
		return net.ErrClosed
	case <-e.peer.closed:
		return ErrPeerClosed
	default:
	}
	f := append([]byte(nil), frame...)
	select {
	case e.out <- f:
		return nil
	case <-e.closed:
		return net.ErrClosed
	case <-e.peer.closed:
		return ErrPeerClosed
	}
}

func (e *pipeEnd) Close() error {
	e.once.Do(func() { close(e.closed) })
	return nil
}
