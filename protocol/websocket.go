package protocol

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// The data channel is a websocket. The opening side sends one text frame,
// OpenDataChannelInput (with the token from StartSession, or for an agent
// the token from the data-channel POST), and nothing answers it; from then
// on every frame is a binary Message. Either side may ping; pings are
// answered with pongs (gorilla's default handler).

// Websocket tuning.
const (
	wsBufferSize    = 64 << 10
	wsWriteTimeout  = 30 * time.Second
	wsCloseTimeout  = time.Second
	wsOpenTimeout   = 10 * time.Second
	wsPongWait      = 60 * time.Second
	wsMaxFrameBytes = FrameHeaderSize + MaxPayloadSize
	// DefaultPingInterval is how often a dialled data channel pings; the
	// agent pings every ~54 s, and an idle websocket must not look dead to
	// proxies on the way.
	DefaultPingInterval = 54 * time.Second
)

// DialOptions configure DialDataChannel.
type DialOptions struct {
	// ClientVersion is announced by a client (default ClientVersion).
	ClientVersion string
	// ClientInstanceID makes the dialler an agent: the opening frame
	// carries ClientInstanceId instead of ClientVersion.
	ClientInstanceID string
	// ClientID identifies the client (default: a random UUID).
	ClientID string
	// TLSConfig is the TLS configuration (nil: the system roots).
	TLSConfig *tls.Config
	// CABundle is a PEM file of extra trusted roots, added to the system
	// roots (the AWS_CA_BUNDLE convention).
	CABundle string
	// Header is sent with the upgrade request.
	Header http.Header
	// Credentials, when set, sign the upgrade with SigV4 for the message
	// gateway (SigningName) in Region, as plugin releases from 1.2.764.0
	// do, unless the stream URL is presigned (IsPresignedURL). They are
	// retrieved at every dial, so a refreshing provider signs each resume
	// with what is current. Neither the signature nor the credentials are
	// ever logged.
	Credentials aws.CredentialsProvider
	// Region is the signing region: the session's (the region its
	// StartSession was called in).
	Region string
	// Now is the signing clock (nil: time.Now).
	Now func() time.Time
	// PingInterval between pings (0: DefaultPingInterval; negative: none).
	PingInterval time.Duration
	// Logf receives diagnostics; nil discards them. Tokens are never
	// logged.
	Logf func(format string, args ...any)
}

// DialDataChannel opens a data-channel websocket at streamURL and sends the
// opening frame with token. ctx bounds the dial only.
func DialDataChannel(ctx context.Context, streamURL, token string, opts DialOptions) (*WebsocketTransport, error) {
	tlsCfg, err := tlsConfig(opts)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		TLSClientConfig:  tlsCfg,
		HandshakeTimeout: wsOpenTimeout,
		ReadBufferSize:   wsBufferSize,
		WriteBufferSize:  wsBufferSize,
		// Under TLS (and under the CONNECT of a proxy), so that
		// WriteFrames can send a batch of frames in few writes.
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return newCorkConn(c), nil
		},
	}
	short := streamURL
	if i := strings.IndexByte(short, '?'); i >= 0 {
		short = short[:i]
	}
	header := opts.Header
	switch {
	case opts.Credentials == nil:
	case IsPresignedURL(streamURL):
		dialLogf(opts)("protocol: websocket: the stream URL is presigned; the upgrade is not signed again")
	default:
		if header, err = upgradeHeader(ctx, streamURL, opts.Header, opts); err != nil {
			return nil, &DialError{URL: short, Err: fmt.Errorf("sign the upgrade: %w", err)}
		}
		dialLogf(opts)("protocol: websocket: upgrade signed with SigV4 (%s, %s)", SigningName, opts.Region)
	}
	c, resp, err := d.DialContext(ctx, streamURL, header)
	if err != nil {
		de := &DialError{URL: short, Err: err}
		if resp != nil {
			de.StatusCode = resp.StatusCode
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			de.Code, de.Message = ParseServiceError(resp.Header, body)
			de.Body = firstLine(string(body))
		}
		return nil, de
	}
	open := OpenDataChannelInput{
		MessageSchemaVersion: "1.0",
		RequestID:            uuid.NewString(),
		TokenValue:           token,
		ClientID:             opts.ClientID,
	}
	if open.ClientID == "" {
		open.ClientID = uuid.NewString()
	}
	if opts.ClientInstanceID != "" {
		open.ClientInstanceID = opts.ClientInstanceID
	} else if open.ClientVersion = opts.ClientVersion; open.ClientVersion == "" {
		open.ClientVersion = ClientVersion
	}
	first, err := json.Marshal(open)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("protocol: websocket: %w", err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if err := c.WriteMessage(websocket.TextMessage, first); err != nil {
		c.Close()
		return nil, fmt.Errorf("protocol: websocket: open data channel: %w", err)
	}
	t := NewWebsocketTransport(c, opts.Logf)
	interval := opts.PingInterval
	if interval == 0 {
		interval = DefaultPingInterval
	}
	if interval > 0 {
		// A connection that answers neither data nor pings for this long
		// is dead, even if TCP has not noticed: fail the read so that the
		// session resumes on a new websocket.
		t.readWait = interval + wsPongWait
		_ = c.SetReadDeadline(time.Now().Add(t.readWait))
		c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(t.readWait)) })
		go t.ping(interval)
	}
	return t, nil
}

func dialLogf(opts DialOptions) func(string, ...any) {
	if opts.Logf == nil {
		return func(string, ...any) {}
	}
	return opts.Logf
}

func tlsConfig(opts DialOptions) (*tls.Config, error) {
	cfg := opts.TLSConfig
	if cfg != nil {
		cfg = cfg.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if opts.CABundle != "" {
		pemBytes, err := os.ReadFile(opts.CABundle)
		if err != nil {
			return nil, fmt.Errorf("protocol: websocket: CA bundle: %w", err)
		}
		pool := cfg.RootCAs
		if pool == nil {
			if pool, err = x509.SystemCertPool(); err != nil {
				pool = x509.NewCertPool()
			}
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("protocol: websocket: CA bundle %s holds no PEM certificates", opts.CABundle)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// AcceptWebsocket upgrades an HTTP request to a data- or control-channel
// websocket and reads its opening text frame, which it returns with the
// transport (for a server: the emulator's gateway).
func AcceptWebsocket(w http.ResponseWriter, r *http.Request, logf func(string, ...any)) (*WebsocketTransport, []byte, error) {
	up := websocket.Upgrader{ReadBufferSize: wsBufferSize, WriteBufferSize: wsBufferSize}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("protocol: websocket: upgrade: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wsOpenTimeout))
	c.SetReadLimit(64 << 10)
	mt, first, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("protocol: websocket: no opening frame: %w", err)
	}
	if mt != websocket.TextMessage {
		c.Close()
		return nil, nil, errors.New("protocol: websocket: opening frame is not text")
	}
	_ = c.SetReadDeadline(time.Time{})
	return NewWebsocketTransport(c, logf), first, nil
}

// WebsocketTransport is a Transport over a websocket: each frame is one
// binary websocket message. Writes are serialised; Close sends a close
// frame and closes the connection, unblocking ReadFrame and WriteFrame.
type WebsocketTransport struct {
	c    *websocket.Conn
	cork *corkConn // nil: each frame is written by itself
	logf func(string, ...any)
	wmu  sync.Mutex
	once sync.Once
	done chan struct{}
	// scratch is ReadFrame's reusable read buffer.
	scratch []byte
	// readWait, when set, is how long a read may wait for a frame or a
	// pong before the connection is taken for dead.
	readWait time.Duration
}

var _ Transport = (*WebsocketTransport)(nil)

// NewWebsocketTransport wraps an open websocket (its opening frame already
// exchanged).
func NewWebsocketTransport(c *websocket.Conn, logf func(string, ...any)) *WebsocketTransport {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c.SetReadLimit(wsMaxFrameBytes)
	return &WebsocketTransport{c: c, cork: corkConnOf(c), logf: logf, done: make(chan struct{})}
}

// ReadFrame returns the next binary message. Text messages after the
// opening one carry nothing this protocol uses and are skipped. A close
// frame from the peer is reported with its reason.
func (t *WebsocketTransport) ReadFrame() ([]byte, error) {
	for {
		mt, data, err := t.readMessage()
		if err != nil {
			select {
			case <-t.done: // closed here: whatever the peer answered
				return nil, net.ErrClosed
			default:
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				if ce.Code == websocket.CloseNormalClosure {
					return nil, io.EOF
				}
				if ce.Code == websocket.CloseMessageTooBig {
					return nil, fmt.Errorf("protocol: websocket: closed by peer (%d): %w", ce.Code, ErrMessageTooBig)
				}
				return nil, fmt.Errorf("protocol: websocket: closed by peer (%d): %s: %w", ce.Code, ce.Text, io.EOF)
			}
			return nil, fmt.Errorf("protocol: websocket: %w", err)
		}
		if t.readWait > 0 {
			_ = t.c.SetReadDeadline(time.Now().Add(t.readWait))
		}
		if mt == websocket.BinaryMessage {
			return data, nil
		}
		t.logf("protocol: websocket: skipping a %d-byte text message", len(data))
	}
}

// ErrMessageTooBig is wrapped by ReadFrame's error when the peer closed
// the websocket with code 1009 because a message it was sent exceeded its
// limit: sending the same message again cannot succeed.
var ErrMessageTooBig = errors.New("a message was larger than the peer accepts")

// SetReadLimit bounds the messages ReadFrame accepts (by default a frame
// of MaxPayloadSize): a larger message fails ReadFrame, and the peer is
// sent a close frame with code 1009 (message too big).
func (t *WebsocketTransport) SetReadLimit(n int64) { t.c.SetReadLimit(n) }

// readMessage reads the next message into the reusable scratch buffer
// and returns an exactly sized copy: ReadMessage's io.ReadAll would hand
// out a buffer grown in steps, about twice the frame, and frames wait in
// the session's queues, so their capacity is memory held.
func (t *WebsocketTransport) readMessage() (int, []byte, error) {
	mt, r, err := t.c.NextReader()
	if err != nil {
		return mt, nil, err
	}
	buf := t.scratch[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return mt, nil, err
		}
	}
	t.scratch = buf
	return mt, bytes.Clone(buf), nil
}

// WriteFrame sends frame as one binary message.
func (t *WebsocketTransport) WriteFrame(frame []byte) error {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	_ = t.c.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if err := t.c.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		select {
		case <-t.done:
			return net.ErrClosed
		default:
		}
		return fmt.Errorf("protocol: websocket: %w", err)
	}
	return nil
}

// WriteFrames sends frames, in order, as WriteFrame would, but lets a
// connection dialled by DialDataChannel send them in as few writes as its
// buffer allows.
func (t *WebsocketTransport) WriteFrames(frames [][]byte) error {
	if t.cork == nil || len(frames) < 2 {
		for _, f := range frames {
			if err := t.WriteFrame(f); err != nil {
				return err
			}
		}
		return nil
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	_ = t.c.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	t.cork.cork()
	var err error
	for _, f := range frames {
		if err = t.c.WriteMessage(websocket.BinaryMessage, f); err != nil {
			break
		}
	}
	if ferr := t.cork.uncork(); err == nil {
		err = ferr
	}
	if err != nil {
		select {
		case <-t.done:
			return net.ErrClosed
		default:
		}
		return fmt.Errorf("protocol: websocket: %w", err)
	}
	return nil
}

// Close closes the websocket with a normal close frame.
func (t *WebsocketTransport) Close() error { return t.close(websocket.CloseNormalClosure, "") }

// CloseWithReason closes the websocket with a policy-violation close frame
// saying why (a refused token, an unknown session).
func (t *WebsocketTransport) CloseWithReason(reason string) error {
	return t.close(websocket.ClosePolicyViolation, reason)
}

func (t *WebsocketTransport) close(code int, reason string) error {
	var err error
	t.once.Do(func() {
		close(t.done)
		msg := websocket.FormatCloseMessage(code, reason)
		_ = t.c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsCloseTimeout))
		if t.cork != nil {
			_ = t.cork.uncork() // the close frame may have joined a batch
		}
		err = t.c.Close()
	})
	return err
}

func (t *WebsocketTransport) ping(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := t.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout)); err != nil {
				return
			}
		case <-t.done:
			return
		}
	}
}
