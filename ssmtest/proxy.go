package ssmtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The CONNECT proxy.
//
// Some AWS clients cannot be pointed at an endpoint: the official
// session-manager-plugin's KMS client builds kms.<region>.amazonaws.com
// itself and ignores AWS_ENDPOINT_URL, and older AWS CLIs (v2 before 2.13)
// and SDKs know no AWS_ENDPOINT_URL at all. Every one of them honours
// HTTPS_PROXY, though, and trusts the CA that SSL_CERT_FILE or
// AWS_CA_BUNDLE names. So the server's port is also an HTTP proxy: a
// connection that does not start with a TLS record is read as an HTTP
// request, and
//
//	CONNECT kms.us-east-1.amazonaws.com:443 HTTP/1.1
//
// for any AWS host name (isAWSHost) is answered "200 Connection
// established"; the TLS handshake that follows is served here, with a
// certificate for that name issued by the emulator's CA, and the requests
// inside reach the emulated services, the gateway included (so an
// amazon-ssm-agent that dials ssmmessages.<region>.amazonaws.com through
// the proxy reaches it too). Nothing else is tunnelled: the emulator
// never connects out, and a CONNECT to any other host is refused with 403
// and a body saying why. Env lists HTTPS_PROXY and, so that loopback
// endpoints (AWS_ENDPOINT_URL, StreamUrls) are reached directly, NO_PROXY.

// sniffTimeout bounds how long a new connection may take to send its
// first byte, or its CONNECT request.
const sniffTimeout = 30 * time.Second

// tlsRecordHandshake is the first byte of a TLS connection (a handshake
// record holding the ClientHello).
const tlsRecordHandshake = 0x16

// sniffListener hands the TLS listener above it the connections that
// speak TLS: those that start with a TLS record, and those that asked for
// a tunnel with CONNECT and got it. It answers everything else itself.
type sniffListener struct {
	net.Listener
	proxy bool // serve CONNECT (else refuse plain HTTP)
	self  string
	logf  func(string, ...any)

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu       sync.Mutex
	err      error             // the inner listener's error, once it failed
	sniffing map[net.Conn]bool // connections not yet delivered or refused
}

func newSniffListener(ln net.Listener, proxy bool, logf func(string, ...any)) *sniffListener {
	l := &sniffListener{Listener: ln, proxy: proxy, self: ln.Addr().String(), logf: logf,
		conns: make(chan net.Conn), done: make(chan struct{}), sniffing: make(map[net.Conn]bool)}
	l.wg.Add(1)
	go l.run()
	return l
}

func (l *sniffListener) run() {
	defer l.wg.Done()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			l.Close()
			return
		}
		l.mu.Lock()
		l.sniffing[c] = true
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.sniff(c)
			l.mu.Lock()
			delete(l.sniffing, c)
			l.mu.Unlock()
		}()
	}
}

// Accept returns the next connection that speaks TLS.
func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections being sniffed are dropped.
func (l *sniffListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.mu.Lock()
		for c := range l.sniffing {
			c.Close()
		}
		l.mu.Unlock()
	})
	return err
}

// wait returns once Close has been called and every goroutine of the
// listener has ended.
func (l *sniffListener) wait() {
	<-l.done
	l.wg.Wait()
}

// deliver passes a TLS connection up, or closes it when the listener has
// closed.
func (l *sniffListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// sniff reads the first byte of a connection: TLS goes up, anything else
// is read as an HTTP request to the proxy.
func (l *sniffListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	if first[0] == tlsRecordHandshake {
		_ = c.SetReadDeadline(time.Time{})
		l.deliver(&bufferedConn{Conn: c, r: br})
		return
	}
	if c2 := l.connect(c, br); c2 != nil {
		_ = c.SetReadDeadline(time.Time{})
		l.deliver(c2)
		return
	}
	c.Close()
}

// connect serves one plain HTTP request: a CONNECT to an AWS host (or to
// the server itself) gets its tunnel, returned as the connection on which
// TLS follows; anything else gets a refusal, and nil.
func (l *sniffListener) connect(c net.Conn, br *bufio.Reader) net.Conn {
	req, err := http.ReadRequest(br)
	if err != nil {
		proxyRefuse(c, http.StatusBadRequest, "ssmtest: this port speaks HTTPS, or HTTP CONNECT as a proxy: "+firstLine(err))
		return nil
	}
	if !l.proxy {
		proxyRefuse(c, http.StatusMethodNotAllowed, "ssmtest: this port speaks HTTPS only (the proxy is off)")
		return nil
	}
	if req.Method != http.MethodConnect {
		proxyRefuse(c, http.StatusMethodNotAllowed,
			fmt.Sprintf("ssmtest: this port speaks HTTPS; as a proxy it serves CONNECT only, not %s", req.Method))
		return nil
	}
	target := req.Host
	if target == "" {
		target = req.RequestURI
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		proxyRefuse(c, http.StatusBadRequest, fmt.Sprintf("ssmtest: CONNECT target %q is not host:port", target))
		return nil
	}
	if !isAWSHost(host) && target != l.self {
		l.logf("ssmtest: proxy: refused CONNECT %s", target)
		proxyRefuse(c, http.StatusForbidden, fmt.Sprintf(
			"ssmtest: the emulator's proxy reaches only the AWS endpoints it emulates (*.amazonaws.com), not %s; "+
				"list the host in NO_PROXY to reach it directly", host))
		return nil
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return nil
	}
	l.logf("ssmtest: proxy: CONNECT %s", target)
	return &bufferedConn{Conn: c, r: br}
}

// proxyRefuse answers a plain HTTP request with an error and its reason.
func proxyRefuse(c net.Conn, code int, msg string) {
	body := msg + "\n"
	_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// bufferedConn is a connection whose first bytes were read ahead into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r != nil && c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}
