package sshclient

import (
	"io"
	"net"
	"sync"
	"time"
)

// memPipe returns two connected in-memory net.Conns whose writes do not
// wait for the reader (net.Pipe's do, which deadlocks two SSH ends that
// both send their version first). They block only on channels, so they
// work inside testing/synctest bubbles. Deadlines are not supported.
func memPipe() (net.Conn, net.Conn) {
	ab, ba := newMemHalf(), newMemHalf()
	done := make(chan struct{})
	var once sync.Once
	closeAll := func() { once.Do(func() { close(done) }) }
	return &memConn{r: ba, w: ab, done: done, close: closeAll}, &memConn{r: ab, w: ba, done: done, close: closeAll}
}

// memHalf is one direction: chunks in a generously buffered channel.
type memHalf struct{ ch chan []byte }

func newMemHalf() *memHalf { return &memHalf{ch: make(chan []byte, 4096)} }

type memConn struct {
	r, w  *memHalf
	buf   []byte
	done  chan struct{}
	close func()
}

type memAddr struct{}

func (memAddr) Network() string { return "mem" }
func (memAddr) String() string  { return "mem" }

func (c *memConn) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		select {
		case b := <-c.r.ch:
			c.buf = b
		case <-c.done:
			select {
			case b := <-c.r.ch:
				c.buf = b
			default:
				return 0, io.EOF
			}
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	b := append([]byte(nil), p...)
	select {
	case c.w.ch <- b:
		return len(p), nil
	case <-c.done:
		return 0, net.ErrClosed
	}
}

func (c *memConn) Close() error                     { c.close(); return nil }
func (c *memConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
