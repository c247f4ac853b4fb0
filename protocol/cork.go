package protocol

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"

	"github.com/gorilla/websocket"
)

// Writing each data-channel frame with its own write costs a TLS record
// and a system call per 1 KiB payload, and as many again for the
// acknowledgements: profiles of a bulk transfer put about 40% of the
// proxy's CPU time there. The session's writer already gathers every
// frame that is ready (acknowledgements, new data, resends) before it
// writes; a corkConn under the TLS connection lets such a batch leave in
// a few large writes instead.

// corkBufferSize is the buffer a corked connection fills before it writes.
const corkBufferSize = 64 << 10

// corkConn is a net.Conn whose writes can be held back: between cork and
// uncork they collect in a buffer that fills up to corkBufferSize before
// each write to the connection, and uncork writes what is left. Outside
// that, writes go straight through (the TLS handshake, pings and pongs
// written by the websocket library).
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	w      *bufio.Writer
}

func newCorkConn(c net.Conn) *corkConn {
	return &corkConn{Conn: c, w: bufio.NewWriterSize(c, corkBufferSize)}
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		return c.w.Write(p)
	}
	if c.w.Buffered() > 0 {
		if err := c.w.Flush(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes out what the buffer holds and lets writes through again.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.w.Flush()
}

// BatchingListener wraps l so that a websocket accepted (AcceptWebsocket)
// on one of its connections, directly or under TLS, can send a batch of
// frames (WriteFrames) in few writes, as a dialled one (DialDataChannel)
// always can. A server relaying data channels, such as an emulated
// gateway, wants it.
func BatchingListener(l net.Listener) net.Listener { return batchingListener{l} }

type batchingListener struct{ net.Listener }

func (l batchingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newCorkConn(c), nil
}

// corkConnOf finds the corkConn under a websocket, through TLS if any.
func corkConnOf(ws *websocket.Conn) *corkConn {
	nc := ws.NetConn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	cc, _ := nc.(*corkConn)
	return cc
}
