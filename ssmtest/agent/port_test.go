package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/xtaci/smux"

	"github.com/ssmssh/ssmssh/protocol"
)

const testTimeout = 30 * time.Second

// listen starts a loopback TCP listener closed at the end of the test and
// returns it with its port.
func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return ln, port
}

// loopbackDial returns a PortOptions.Dial that expects the agent's
// destination address want and connects to the listener instead; dials
// counts the calls.
func loopbackDial(t *testing.T, ln net.Listener, want string, dials *atomic.Int32) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials != nil {
			dials.Add(1)
		}
		if network != "tcp" || addr != want {
			t.Errorf("agent dialled %s %s, want tcp %s", network, addr, want)
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}
}

// echo serves ln, echoing every connection, until the test ends.
func echo(t *testing.T, ln net.Listener) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// sendData sends b as Output payloads of varying sizes up to 5000 bytes,
// as a client may.
func sendData(s *memStream, b []byte) error {
	for i := 0; len(b) > 0; i++ {
		n := min(len(b), 1+(i*997)%5000)
		if err := s.Send(protocol.PayloadOutput, b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func TestPortBasicTransfersBothWays(t *testing.T) {
	const up, down = 3 << 20, 3<<20 + 12345
	ln, port := listen(t)
	upData, downData := randomBytes(t, up), randomBytes(t, down)

	// The server reads exactly up bytes and writes down bytes, then closes:
	// the TCP EOF ends the session.
	serverGot := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := sha256.New()
			_, _ = io.CopyN(h, c, up)
			serverGot <- [32]byte(h.Sum(nil))
		}()
		_, _ = c.Write(downData)
		wg.Wait()
	}()

	agentEnd, clientEnd := newStreamPair(t)
	wait := runAsync(t, func() (Result, error) {
		return RunPort(t.Context(), agentEnd, PortOptions{
			PortNumber: port,
			Dial:       loopbackDial(t, ln, "localhost:"+port, nil),
			Logf:       t.Logf,
		})
	})

	sendErr := make(chan error, 1)
	go func() { sendErr <- sendData(clientEnd, upData) }()

	h := sha256.New()
	for got := 0; got < down; {
		pt, p := recvTimeout(t, clientEnd, testTimeout)
		if pt != protocol.PayloadOutput {
			t.Fatalf("agent sent %v payload", pt)
		}
		h.Write(p)
		got += len(p)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != sha256.Sum256(downData) {
		t.Error("client received different bytes than the server sent")
	}
	select {
	case sum := <-serverGot:
		if sum != sha256.Sum256(upData) {
			t.Error("server received different bytes than the client sent")
		}
	case <-time.After(testTimeout):
		t.Fatal("server did not receive everything")
	}

	res, err := wait(testTimeout)
	if err != nil || res != succeeded() {
		t.Errorf("RunPort = %+v, %v; want success after TCP EOF", res, err)
	}
	if n := agentEnd.largestSent(); n > chunkSize {
		t.Errorf("agent sent a %d-byte payload, want at most %d", n, chunkSize)
	}
}

func TestPortBasicDialFailure(t *testing.T) {
	ln, port := listen(t)
	ln.Close() // nothing listens on port now

	agentEnd, clientEnd := newStreamPair(t)
	res, err := RunPort(t.Context(), agentEnd, PortOptions{PortNumber: port})
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "Unable to connect to specified port: "
	if res.OK() || res.ExitCode != ExitFailure || !strings.HasPrefix(res.Output, prefix) || !strings.Contains(res.Output, "refused") {
		t.Errorf("RunPort = %+v; want failure %q…connection refused", res, prefix)
	}
	clientEnd.Close()
	if pt, _, err := clientEnd.Recv(); err == nil {
		t.Errorf("agent sent a %v payload on dial failure", pt)
	}
}

func TestPortBasicTerminateSession(t *testing.T) {
	ln, port := listen(t)
	serverEOF := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverEOF <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c) // echo until the agent closes
		serverEOF <- err
	}()

	agentEnd, clientEnd := newStreamPair(t)
	wait := runAsync(t, func() (Result, error) {
		return RunPort(t.Context(), agentEnd, PortOptions{PortNumber: port, Dial: loopbackDial(t, ln, "localhost:"+port, nil)})
	})
	if err := clientEnd.Send(protocol.PayloadOutput, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, p := recvTimeout(t, clientEnd, testTimeout); string(p) != "ping" {
		t.Fatalf("echo = %q", p)
	}
	if err := sendFlag(clientEnd, protocol.FlagTerminateSession); err != nil {
		t.Fatal(err)
	}
	res, err := wait(testTimeout)
	if err != nil || res != succeeded() {
		t.Errorf("RunPort = %+v, %v; want success", res, err)
	}
	select {
	case err := <-serverEOF:
		if err != nil {
			t.Errorf("server connection ended with %v, want EOF", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the agent kept the TCP connection open after TerminateSession")
	}
}

// TestPortBasicDisconnectEndsSSHSession: without a port type, the agent
// closes the connection on DisconnectToPort and its pump then fails.
func TestPortBasicDisconnectEndsSSHSession(t *testing.T) {
	ln, port := listen(t)
	echo(t, ln)
	agentEnd, clientEnd := newStreamPair(t)
	wait := runAsync(t, func() (Result, error) {
		return RunPort(t.Context(), agentEnd, PortOptions{PortNumber: port, Dial: loopbackDial(t, ln, "localhost:"+port, nil)})
	})
	if err := sendFlag(clientEnd, protocol.FlagDisconnectToPort); err != nil {
		t.Fatal(err)
	}
	res, err := wait(testTimeout)
	if err != nil || res != failed("") {
		t.Errorf("RunPort = %+v, %v; want failure with empty output", res, err)
	}
}

// TestPortBasicReconnect: basic mode for a port-forwarding document (an
// old client) redials on the client data after DisconnectToPort.
func TestPortBasicReconnect(t *testing.T) {
	ln, port := listen(t)
	echo(t, ln)
	var dials atomic.Int32
	agentEnd, clientEnd := newStreamPair(t)
	ctx, cancel := context.WithCancel(t.Context())
	wait := runAsync(t, func() (Result, error) {
		return RunPort(ctx, agentEnd, PortOptions{
			PortNumber:    port,
			Type:          PortTypeLocalPortForwarding,
			ClientVersion: "1.1.61.0", // before smux
			Dial:          loopbackDial(t, ln, "localhost:"+port, &dials),
		})
	})
	for i, msg := range []string{"one", "two", "three"} {
		if i > 0 {
			if err := sendFlag(clientEnd, protocol.FlagDisconnectToPort); err != nil {
				t.Fatal(err)
			}
		}
		if err := clientEnd.Send(protocol.PayloadOutput, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, p := recvTimeout(t, clientEnd, testTimeout); string(p) != msg {
			t.Fatalf("echo %d = %q, want %q", i, p, msg)
		}
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("agent dialled %d times, want 3", n)
	}
	cancel()
	if res, err := wait(testTimeout); err != nil || res != succeeded() {
		t.Errorf("RunPort = %+v, %v; want success on cancel", res, err)
	}
}

func TestPortForbiddenHosts(t *testing.T) {
	for _, tc := range []struct{ host, resolves string }{
		{"169.254.169.254", ""},
		{"fd00:ec2::254", ""},
		{"169.254.169.123", ""},
		{"fd00:ec2::240", ""},
		{"metadata.example", "169.254.169.254"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			var dials atomic.Int32
			opts := PortOptions{
				PortNumber:    "80",
				Host:          tc.host,
				Type:          PortTypeLocalPortForwarding,
				ClientVersion: "1.2.463.0",
				Dial: func(context.Context, string, string) (net.Conn, error) {
					dials.Add(1)
					return nil, errors.New("must not dial")
				},
			}
			if tc.resolves != "" {
				opts.LookupHost = func(_ context.Context, h string) ([]string, error) {
					if h != tc.host {
						return nil, fmt.Errorf("unexpected lookup of %q", h)
					}
					return []string{"10.0.0.1", tc.resolves}, nil
				}
			}
			agentEnd, _ := newStreamPair(t)
			res, err := RunPort(t.Context(), agentEnd, opts)
			want := failed("Forwarding to IP address " + tc.host + " is forbidden.")
			if err != nil || res != want {
				t.Errorf("RunPort = %+v, %v; want %+v", res, err, want)
			}
			if dials.Load() != 0 {
				t.Error("agent dialled a forbidden host")
			}
		})
	}
}

func TestPortEmptyPortNumber(t *testing.T) {
	agentEnd, _ := newStreamPair(t)
	res, _ := RunPort(t.Context(), agentEnd, PortOptions{Type: PortTypeLocalPortForwarding})
	if res.OK() || !strings.HasPrefix(res.Output, "Port number is empty in session properties.") {
		t.Errorf("RunPort = %+v", res)
	}
}

// startMux runs a port-forwarding session for a current client and returns
// an smux client session over the client's end of the stream.
func startMux(t *testing.T, opts PortOptions) (*smux.Session, *streamConn, *memStream, func(time.Duration) (Result, error)) {
	t.Helper()
	agentEnd, clientEnd := newStreamPair(t)
	opts.Type = PortTypeLocalPortForwarding
	opts.ClientVersion = "1.2.463.0"
	opts.Logf = t.Logf
	wait := runAsync(t, func() (Result, error) { return RunPort(t.Context(), agentEnd, opts) })
	conn := newStreamConn(clientEnd)
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = true
	sess, err := smux.Client(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess, conn, agentEnd, wait
}

func TestPortMuxParallelStreams(t *testing.T) {
	const streams, size = 10, 256 << 10
	ln, port := listen(t)
	echo(t, ln)
	var dials atomic.Int32
	sess, conn, agentEnd, wait := startMux(t, PortOptions{
		PortNumber: port,
		Dial:       loopbackDial(t, ln, "localhost:"+port, &dials),
	})

	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				st, err := sess.OpenStream()
				if err != nil {
					return err
				}
				defer st.Close()
				st.SetDeadline(time.Now().Add(testTimeout))
				data := make([]byte, size+i)
				if _, err := rand.Read(data); err != nil {
					return err
				}
				writeErr := make(chan error, 1)
				go func() {
					_, err := st.Write(data)
					writeErr <- err
				}()
				got := make([]byte, len(data))
				if _, err := io.ReadFull(st, got); err != nil {
					return fmt.Errorf("stream %d: read: %w", i, err)
				}
				if err := <-writeErr; err != nil {
					return fmt.Errorf("stream %d: write: %w", i, err)
				}
				if sha256.Sum256(got) != sha256.Sum256(data) {
					return fmt.Errorf("stream %d: echo differs", i)
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := dials.Load(); n != streams {
		t.Errorf("agent dialled %d times for %d streams", n, streams)
	}
	if n := agentEnd.largestSent(); n > chunkSize {
		t.Errorf("agent sent a %d-byte payload, want at most %d", n, chunkSize)
	}
	if err := sendFlag(conn.s, protocol.FlagTerminateSession); err != nil {
		t.Fatal(err)
	}
	if res, err := wait(testTimeout); err != nil || res != succeeded() {
		t.Errorf("RunPort = %+v, %v; want success", res, err)
	}
}

func TestPortMuxDialFailure(t *testing.T) {
	ln, port := listen(t)
	echo(t, ln)
	var dials atomic.Int32
	refuse := errors.New("connection refused")
	sess, conn, _, wait := startMux(t, PortOptions{
		PortNumber: port,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials.Add(1) == 1 {
				return nil, refuse
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", ln.Addr().String())
		},
	})

	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(testTimeout))
	select {
	case f := <-conn.flags:
		if f != protocol.FlagConnectToPortError {
			t.Errorf("agent sent flag %v, want ConnectToPortError", f)
		}
	case <-time.After(testTimeout):
		t.Fatal("no ConnectToPortError flag")
	}
	if n, err := st.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("failed stream: Read = %d, %v; want EOF", n, err)
	}

	// The session survives: the next stream works.
	st2, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st2.SetDeadline(time.Now().Add(testTimeout))
	if _, err := st2.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(st2, got); err != nil || string(got) != "hello" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	if err := sendFlag(conn.s, protocol.FlagTerminateSession); err != nil {
		t.Fatal(err)
	}
	if res, err := wait(testTimeout); err != nil || res != succeeded() {
		t.Errorf("RunPort = %+v, %v; want success", res, err)
	}
}

// TestPortMuxRemoteHost: with a host, the agent dials its resolved
// addresses in order and uses the first that answers.
func TestPortMuxRemoteHost(t *testing.T) {
	ln, port := listen(t)
	echo(t, ln)
	var tried []string
	var mu sync.Mutex
	sess, conn, _, wait := startMux(t, PortOptions{
		PortNumber: port,
		Host:       "db.example",
		LookupHost: func(context.Context, string) ([]string, error) {
			return []string{"192.0.2.1", "192.0.2.2"}, nil
		},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			tried = append(tried, addr)
			mu.Unlock()
			if addr != net.JoinHostPort("192.0.2.2", port) {
				return nil, errors.New("unreachable")
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", ln.Addr().String())
		},
	})
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(testTimeout))
	st.Write([]byte("x"))
	if _, err := io.ReadFull(st, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	want := []string{"192.0.2.1:" + port, "192.0.2.2:" + port}
	if strings.Join(tried, ",") != strings.Join(want, ",") {
		t.Errorf("agent dialled %v, want %v", tried, want)
	}
	mu.Unlock()
	sendFlag(conn.s, protocol.FlagTerminateSession)
	if res, err := wait(testTimeout); err != nil || !res.OK() {
		t.Errorf("RunPort = %+v, %v", res, err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.1.70", "1.1.70", 0},
		{"1.1.61.0", "1.1.70", -1},
		{"1.2.463.0", "1.1.70", 1},
		{"1.1.70.0", "1.1.70", 1}, // more components is greater
		{"1.2.331.0", "1.2.331.0", 0},
		{"1.2.332.0", "1.2.331.0", 1},
		{"1.10.0.0", "1.9.0.0", 1}, // numeric, not textual
		{"", "1.1.70", -1},
		{"1.2.x", "1.2.3", 1}, // text comparison
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestPortMuxKeepAlive: the agent's smux sends keepalives (NOP frames every
// 10 s) only to clients up to 1.2.331.0, and drops a silent session after
// 30 s; newer clients get no keepalive at all.
func TestPortMuxKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		version   string
		keepAlive bool
	}{
		{"1.2.331.0", true},
		{"1.2.332.0", false},
	} {
		t.Run(tc.version, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				agentEnd, clientEnd := newStreamPair(t)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				done := make(chan Result, 1)
				go func() {
					res, _ := RunPortMux(ctx, agentEnd, nil, PortOptions{ClientVersion: tc.version})
					done <- res
				}()
				out := collect(clientEnd)

				time.Sleep(11 * time.Second)
				synctest.Wait()
				const nop = "\x01\x03\x00\x00\x00\x00\x00\x00" // version 1, cmdNOP, length 0, stream 0
				if got := strings.Contains(out.get(protocol.PayloadOutput), nop); got != tc.keepAlive {
					t.Errorf("keepalive frame sent after 11 s: %v, want %v", got, tc.keepAlive)
				}

				time.Sleep(30 * time.Second)
				synctest.Wait()
				select {
				case res := <-done:
					if !tc.keepAlive || res != failed("") {
						t.Errorf("session ended with %+v", res)
					}
				default:
					if tc.keepAlive {
						t.Error("silent session not dropped after 41 s")
					}
					cancel()
					if res := <-done; res != succeeded() {
						t.Errorf("cancelled session ended with %+v", res)
					}
				}
				clientEnd.Close()
				<-out.done
			})
		})
	}
}
