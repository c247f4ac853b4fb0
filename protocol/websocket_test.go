package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// wsServer is a TLS loopback server accepting data-channel websockets;
// each accepted transport and its opening frame arrive on accepted.
type wsServer struct {
	*httptest.Server
	accepted chan acceptedWS
	caFile   string
	url      string
}

type acceptedWS struct {
	t     *WebsocketTransport
	first []byte
}

func newWSServer(t *testing.T, handler http.HandlerFunc) *wsServer {
	t.Helper()
	return newRecordingWSServer(t, handler, nil)
}

// newRecordingWSServer is newWSServer that also sends each request, before
// handling it, to reqs (unless nil).
func newRecordingWSServer(t *testing.T, handler http.HandlerFunc, reqs chan<- *http.Request) *wsServer {
	t.Helper()
	s := &wsServer{accepted: make(chan acceptedWS, 4)}
	if handler == nil {
		handler = func(w http.ResponseWriter, r *http.Request) {
			tr, first, err := AcceptWebsocket(w, r, t.Logf)
			if err != nil {
				t.Errorf("AcceptWebsocket: %v", err)
				return
			}
			s.accepted <- acceptedWS{tr, first}
		}
	}
	if reqs != nil {
		inner := handler
		handler = func(w http.ResponseWriter, r *http.Request) {
			reqs <- r.Clone(context.Background())
			inner(w, r)
		}
	}
	s.Server = httptest.NewUnstartedServer(handler)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused certificates are expected
	s.StartTLS()
	t.Cleanup(s.Close)
	t.Cleanup(func() {
		for {
			select {
			case a := <-s.accepted:
				a.t.Close()
			default:
				return
			}
		}
	})
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(s.caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	s.url = "wss" + strings.TrimPrefix(s.URL, "https") + "/v1/data-channel/s-123?role=publish_subscribe"
	return s
}

func (s *wsServer) accept(t *testing.T) acceptedWS {
	t.Helper()
	select {
	case a := <-s.accepted:
		t.Cleanup(func() { a.t.Close() })
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("server accepted no websocket")
	}
	return acceptedWS{}
}

// readFrameAsync reads one frame in the background.
func readFrameAsync(tr Transport) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		f, err := tr.ReadFrame()
		ch <- readResult{f, err}
	}()
	return ch
}

type readResult struct {
	frame []byte
	err   error
}

func waitRead(t *testing.T, ch <-chan readResult) readResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("ReadFrame did not return")
	}
	return readResult{}
}

// The opening frame, the CA bundle, and binary frames both ways.
func TestWebsocketDialAndAccept(t *testing.T) {
	const token = "tok-SECRET-0123456789"
	for _, agent := range []bool{false, true} {
		name := map[bool]string{false: "client", true: "agent"}[agent]
		t.Run(name, func(t *testing.T) {
			s := newWSServer(t, nil)
			var logs strings.Builder
			var logMu sync.Mutex
			opts := DialOptions{CABundle: s.caFile, ClientVersion: "1.2.3.4", PingInterval: -1,
				Logf: func(f string, a ...any) { logMu.Lock(); logs.WriteString(f); logMu.Unlock() }}
			if agent {
				opts.ClientInstanceID = "i-0123456789abcdef0"
			}
			ct, err := DialDataChannel(t.Context(), s.url, token, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer ct.Close()
			a := s.accept(t)

			var open map[string]string
			if err := json.Unmarshal(a.first, &open); err != nil {
				t.Fatalf("opening frame %s: %v", a.first, err)
			}
			if open["MessageSchemaVersion"] != "1.0" || open["TokenValue"] != token {
				t.Errorf("opening frame %s", a.first)
			}
			for _, k := range []string{"RequestId", "ClientId"} {
				if _, err := uuid.Parse(open[k]); err != nil {
					t.Errorf("%s = %q, want a UUID", k, open[k])
				}
			}
			wantKeys := 5
			if agent {
				if open["ClientInstanceId"] != "i-0123456789abcdef0" || open["ClientVersion"] != "" {
					t.Errorf("agent opening frame %s", a.first)
				}
			} else if open["ClientVersion"] != "1.2.3.4" || open["ClientInstanceId"] != "" {
				t.Errorf("client opening frame %s", a.first)
			}
			if len(open) != wantKeys {
				t.Errorf("opening frame has %d keys, want %d: %s", len(open), wantKeys, a.first)
			}

			up, _ := (&Message{Type: TypeInputStreamData, MessageID: uuid.New(), Payload: []byte("up")}).MarshalBinary()
			down, _ := (&Message{Type: TypeOutputStreamData, MessageID: uuid.New(), Payload: bytes.Repeat([]byte("d"), 70000)}).MarshalBinary()
			got := readFrameAsync(a.t)
			if err := ct.WriteFrame(up); err != nil {
				t.Fatal(err)
			}
			if r := waitRead(t, got); r.err != nil || !bytes.Equal(r.frame, up) {
				t.Fatalf("server read %d bytes, %v", len(r.frame), r.err)
			}
			got = readFrameAsync(ct)
			if err := a.t.WriteFrame(down); err != nil {
				t.Fatal(err)
			}
			if r := waitRead(t, got); r.err != nil || !bytes.Equal(r.frame, down) {
				t.Fatalf("client read %d bytes, %v", len(r.frame), r.err)
			}
			logMu.Lock()
			defer logMu.Unlock()
			if strings.Contains(logs.String(), token) {
				t.Error("the token was logged")
			}
		})
	}
}

// Without the CA bundle the emulator's certificate is not trusted.
func TestWebsocketDialVerifiesTLS(t *testing.T) {
	s := newWSServer(t, nil)
	_, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{PingInterval: -1})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("dial without the CA = %v, want a certificate error", err)
	}
	if _, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{CABundle: filepath.Join(t.TempDir(), "none.pem")}); err == nil {
		t.Fatal("dial with a missing CA bundle succeeded")
	}
}

// A refused upgrade surfaces as *DialError with the status and body, and
// without the token.
func TestWebsocketDialError(t *testing.T) {
	const token = "tok-SECRET-forbidden"
	s := newWSServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid or expired token", http.StatusForbidden)
	})
	_, err := DialDataChannel(t.Context(), s.url, token, DialOptions{CABundle: s.caFile})
	var de *DialError
	if !errors.As(err, &de) || de.StatusCode != http.StatusForbidden || !strings.Contains(de.Body, "invalid or expired token") {
		t.Fatalf("err = %v, want *DialError 403 with the body", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "protocol: websocket: ") || !strings.Contains(msg, "403") ||
		strings.Contains(msg, token) || strings.Contains(msg, "role=") {
		t.Errorf("error text %q", msg)
	}
}

// Pings are answered while the transport is being read, and a dialled
// transport pings at its interval.
func TestWebsocketPings(t *testing.T) {
	s := newWSServer(t, nil)
	ct, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{CABundle: s.caFile, PingInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	a := s.accept(t)

	pings := make(chan string, 100)
	a.t.c.SetPingHandler(func(data string) error {
		pings <- data
		return a.t.c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	pongs := make(chan string, 1)
	a.t.c.SetPongHandler(func(data string) error {
		pongs <- data
		return nil
	})
	serverRead := readFrameAsync(a.t) // runs the server's control handlers
	clientRead := readFrameAsync(ct)  // and the client's
	if err := a.t.c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-pongs:
		if p != "are you there" {
			t.Errorf("pong %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not answer a ping")
	}
	select {
	case <-pings:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not ping")
	}
	ct.Close()
	if r := waitRead(t, clientRead); !errors.Is(r.err, net.ErrClosed) {
		t.Errorf("client ReadFrame after Close = %v, want net.ErrClosed", r.err)
	}
	if r := waitRead(t, serverRead); r.err != io.EOF {
		t.Errorf("server ReadFrame after the client's Close = %v, want io.EOF", r.err)
	}
	if err := ct.WriteFrame([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteFrame after Close = %v", err)
	}
}

// A gateway refusing the channel says why; the client sees the reason.
func TestWebsocketCloseWithReason(t *testing.T) {
	s := newWSServer(t, nil)
	ct, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{CABundle: s.caFile, PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	a := s.accept(t)
	got := readFrameAsync(ct)
	if err := a.t.CloseWithReason("invalid or expired token"); err != nil {
		t.Fatal(err)
	}
	r := waitRead(t, got)
	if r.err == nil || !strings.Contains(r.err.Error(), "invalid or expired token") {
		t.Fatalf("client ReadFrame = %v, want the close reason", r.err)
	}
}

// Two sessions, client and agent, over a real websocket.
func TestWebsocketSessions(t *testing.T) {
	s := newWSServer(t, nil)
	ct, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{CABundle: s.caFile})
	if err != nil {
		t.Fatal(err)
	}
	a := s.accept(t)
	client := NewSession(ct, SessionConfig{Role: RoleClient, Logf: t.Logf})
	agent := NewSession(a.t, SessionConfig{Role: RoleAgent, Logf: t.Logf})
	defer client.Close()
	defer agent.Close()

	const n = 2000
	go func() {
		for i := range n {
			if err := client.Send(PayloadOutput, bytes.Repeat([]byte{byte(i)}, 4096)); err != nil {
				t.Errorf("client Send: %v", err)
				return
			}
			if err := agent.Send(PayloadOutput, []byte{byte(i)}); err != nil {
				t.Errorf("agent Send: %v", err)
				return
			}
		}
	}()
	for i := range n {
		_, p, err := agent.Recv()
		if err != nil || len(p) != 4096 || p[0] != byte(i) {
			t.Fatalf("agent Recv %d: %d bytes, %v", i, len(p), err)
		}
		_, p, err = client.Recv()
		if err != nil || len(p) != 1 || p[0] != byte(i) {
			t.Fatalf("client Recv %d: %v, %v", i, p, err)
		}
	}
	if err := client.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := agent.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	client.Close()
	// io.EOF from the close message, or a reset if the agent happened to
	// be writing (a late duplicate ack): either way the session ends.
	if _, _, err := agent.Recv(); err == nil {
		t.Errorf("agent Recv after the client closed returned a message")
	}
}

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// WriteFrames on a dialled data channel sends a batch in a few large
// writes (not one per frame), in order and intact, while pings written
// by the websocket library in between still reach the peer.
func TestWebsocketWriteFramesBatches(t *testing.T) {
	s := newWSServer(t, nil)
	ct, err := DialDataChannel(t.Context(), s.url, "tok", DialOptions{CABundle: s.caFile, PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	a := s.accept(t)
	if ct.cork == nil {
		t.Fatal("a dialled transport has no corkable connection")
	}
	counted := &countingConn{Conn: ct.cork.Conn}
	ct.cork.Conn = counted
	ct.cork.w.Reset(counted)

	const n = 500
	frames := make([][]byte, n)
	total := 0
	for i := range frames {
		frames[i] = bytes.Repeat([]byte{byte(i)}, 1+i*7%1500)
		total += len(frames[i])
	}
	pong := make(chan struct{}, 1)
	ct.c.SetPongHandler(func(string) error {
		select {
		case pong <- struct{}{}:
		default:
		}
		return nil
	})
	go func() { // the peer answers pings while it reads
		for i := range n {
			r := waitRead(t, readFrameAsync(a.t))
			if r.err != nil || !bytes.Equal(r.frame, frames[i]) {
				t.Errorf("frame %d: %d bytes, %v; want %d bytes", i, len(r.frame), r.err, len(frames[i]))
				return
			}
		}
		a.t.ReadFrame() // keeps reading so that the ping's pong is processed
	}()
	if err := ct.WriteFrames(frames); err != nil {
		t.Fatal(err)
	}
	writes := counted.writes.Load()
	// 500 frames of about 750 bytes: ~370 KiB, so about six 64 KiB
	// buffers; TLS may split each into a few records' writes at most.
	if max := int64(total/corkBufferSize+1) * 3; writes > max {
		t.Errorf("%d frames (%d bytes) took %d writes, want at most %d", n, total, writes, max)
	}
	if err := ct.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	go ct.ReadFrame() // a reader processes the pong
	select {
	case <-pong:
	case <-time.After(10 * time.Second):
		t.Fatal("no pong after a batch")
	}
}
