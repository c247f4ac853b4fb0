package protocol

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/nettest"
)

// connPair returns a client Conn and an agent Conn over an in-memory
// stream, optionally encrypted with a fresh data key. Both ends send
// TerminateSession on Close so that each sees the other's Close as EOF,
// which nettest requires. The memStreams are returned for inspecting the
// wire.
func connPair(t testing.TB, encrypted bool, capacity int) (client, agent *Conn, cms, ams *memStream) {
	cms, ams = newMemPair(nil, capacity)
	var cs, as MessageStream = cms, ams
	if encrypted {
		key := testDataKey()
		cc, _ := NewClientCipher(key)
		ac, _ := NewAgentCipher(key)
		cs, as = NewEncryptedStream(cms, cc), NewEncryptedStream(ams, ac)
	}
	client = NewConn(cs, ConnConfig{SessionID: testSessionID, TargetID: testTargetID, CloseFlag: FlagTerminateSession})
	agent = NewConn(as, ConnConfig{Agent: true, SessionID: testSessionID, TargetID: testTargetID, CloseFlag: FlagTerminateSession})
	if t != nil {
		t.Cleanup(func() {
			cms.Close()
			ams.Close()
			client.Close()
			agent.Close()
		})
	}
	return client, agent, cms, ams
}

func TestConnNettest(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		name := "plain"
		if encrypted {
			name = "encrypted"
		}
		t.Run(name, func(t *testing.T) {
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				client, agent, cms, ams := connPair(nil, encrypted, 16)
				stop = func() {
					// Streams first: a Close waiting on a full stream
					// must not hang the test.
					cms.Close()
					ams.Close()
					client.Close()
					agent.Close()
				}
				return client, agent, stop, nil
			})
		})
	}
}

func TestConnChunks(t *testing.T) {
	client, agent, cms, _ := connPair(t, false, 16)
	data := bytes.Repeat([]byte("0123456789"), 250)
	if n, err := client.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(agent, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFull = %v, data equal %v", err, bytes.Equal(got, data))
	}
	var sizes []int
	for _, p := range cms.sentPayloads(PayloadOutput) {
		sizes = append(sizes, len(p))
	}
	if want := []int{1024, 1024, 452}; !slices.Equal(sizes, want) {
		t.Errorf("payload sizes %v, want %v", sizes, want)
	}

	// A small Read keeps the rest for the next one.
	agent.Write([]byte("hello world"))
	buf := make([]byte, 5)
	if n, _ := client.Read(buf); string(buf[:n]) != "hello" {
		t.Errorf("first Read = %q", buf[:n])
	}
	if n, _ := client.Read(make([]byte, 64)); n != 6 {
		t.Errorf("second Read = %d bytes, want 6", n)
	}

	// Zero-length writes send nothing.
	before := len(cms.sentTypes())
	if n, err := client.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v", n, err)
	}
	if len(cms.sentTypes()) != before {
		t.Error("Write(nil) sent a payload")
	}
}

func TestConnMaxChunk(t *testing.T) {
	cms, ams := newMemPair(t, 16)
	c := NewConn(cms, ConnConfig{MaxChunk: 3})
	t.Cleanup(func() { c.Close() })
	c.Write([]byte("abcdefgh"))
	for _, want := range []string{"abc", "def", "gh"} {
		if pt, p, err := ams.Recv(); err != nil || pt != PayloadOutput || string(p) != want {
			t.Errorf("Recv = %v %q %v, want %q", pt, p, err, want)
		}
	}
}

func TestConnFlags(t *testing.T) {
	for _, tc := range []struct {
		flag Flag
		want error
	}{
		{FlagDisconnectToPort, io.EOF},
		{FlagTerminateSession, io.EOF},
		{FlagConnectToPortError, ErrConnectToPort},
	} {
		t.Run(tc.flag.String(), func(t *testing.T) {
			cms, ams := newMemPair(t, 16)
			c := NewConn(cms, ConnConfig{})
			t.Cleanup(func() { c.Close() })
			ams.Send(PayloadOutput, []byte("last words"))
			ams.Send(PayloadFlag, MarshalFlag(tc.flag))
			got, err := io.ReadAll(c)
			if string(got) != "last words" {
				t.Errorf("read %q before the flag", got)
			}
			if tc.want == io.EOF {
				if err != nil {
					t.Errorf("ReadAll error %v, want EOF", err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Errorf("ReadAll error %v, want %v", err, tc.want)
			}
		})
	}

	// A mux client logs ConnectToPortError and reads on.
	cms, ams := newMemPair(t, 16)
	var seen []Flag
	c := NewConn(cms, ConnConfig{OnFlag: func(f Flag) error { seen = append(seen, f); return nil }})
	t.Cleanup(func() { c.Close() })
	ams.Send(PayloadFlag, MarshalFlag(FlagConnectToPortError))
	ams.Send(PayloadFlag, []byte{1}) // malformed: ignored
	ams.Send(PayloadOutput, []byte("still here"))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "still here" {
		t.Errorf("Read = %q, %v", buf[:n], err)
	}
	if !slices.Equal(seen, []Flag{FlagConnectToPortError}) {
		t.Errorf("OnFlag saw %v", seen)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestConnCommandOutput(t *testing.T) {
	cms, ams := newMemPair(t, 16)
	var stderr lockedBuffer
	c := NewConn(cms, ConnConfig{Stderr: &stderr})
	t.Cleanup(func() { c.Close() })
	if _, ok := c.ExitCode(); ok {
		t.Error("ExitCode before any payload")
	}
	ams.Send(PayloadOutput, []byte("out\n"))
	ams.Send(PayloadStdErr, []byte("err\n"))
	ams.Send(PayloadExitCode, []byte("EXIT_CODE: 3"))
	ams.Close()
	out, err := io.ReadAll(c)
	if err != nil || string(out) != "out\n" {
		t.Errorf("ReadAll = %q, %v", out, err)
	}
	if stderr.String() != "err\n" {
		t.Errorf("stderr = %q", stderr.String())
	}
	if code, ok := c.ExitCode(); !ok || code != 3 {
		t.Errorf("ExitCode = %d, %v", code, ok)
	}
}

func TestConnWindowSize(t *testing.T) {
	cms, ams := newMemPair(t, 16)
	sizes := make(chan SizeData, 2)
	client := NewConn(cms, ConnConfig{})
	agent := NewConn(ams, ConnConfig{Agent: true, OnSize: func(s SizeData) { sizes <- s }})
	t.Cleanup(func() { client.Close(); agent.Close() })
	if err := client.SetWindowSize(132, 43); err != nil {
		t.Fatal(err)
	}
	if got := <-sizes; got != (SizeData{Cols: 132, Rows: 43}) {
		t.Errorf("agent saw size %+v", got)
	}
	if p := cms.sentPayloads(PayloadSize); len(p) != 1 || string(p[0]) != `{"cols":132,"rows":43}` {
		t.Errorf("Size payloads %q", p)
	}
	if err := agent.SetWindowSize(80, 24); err == nil {
		t.Error("the agent's end sent a window size")
	}
}

func TestConnEncryptedWire(t *testing.T) {
	client, agent, cms, ams := connPair(t, true, 16)
	client.Write([]byte("secret input"))
	agent.Write([]byte("secret output"))
	buf := make([]byte, 64)
	if n, err := agent.Read(buf); err != nil || string(buf[:n]) != "secret input" {
		t.Errorf("agent Read = %q, %v", buf[:n], err)
	}
	if n, err := client.Read(buf); err != nil || string(buf[:n]) != "secret output" {
		t.Errorf("client Read = %q, %v", buf[:n], err)
	}
	for _, ms := range []*memStream{cms, ams} {
		for _, p := range ms.sentPayloads(PayloadOutput) {
			if bytes.Contains(p, []byte("secret")) {
				t.Errorf("plaintext on the wire: %q", p)
			}
		}
	}
	// A payload that does not decrypt ends the read side with ErrDecrypt.
	ams.Send(PayloadOutput, []byte("not sealed at all, but long enough"))
	if _, err := client.Read(buf); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Read of a bad payload = %v, want ErrDecrypt", err)
	}
}

func TestConnClose(t *testing.T) {
	client, _, cms, ams := connPair(t, false, 16)
	client.Write([]byte("bye"))
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if got := cms.sentTypes(); !slices.Equal(got, []PayloadType{PayloadOutput, PayloadFlag}) {
		t.Errorf("sent %v, want Output then Flag", got)
	}
	if f, _ := ParseFlag(cms.sentPayloads(PayloadFlag)[0]); f != FlagTerminateSession {
		t.Errorf("close flag %v", f)
	}
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v", err)
	}
	if _, err := client.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	if err := client.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	// A closed Conn keeps draining, so the peer is not blocked.
	for range 100 {
		if err := ams.Send(PayloadOutput, []byte("ignored")); err != nil {
			t.Fatal(err)
		}
	}

	// CloseFlag zero sends nothing.
	cms, _ = newMemPair(t, 4)
	c := NewConn(cms, ConnConfig{})
	c.Close()
	if got := cms.sentTypes(); len(got) != 0 {
		t.Errorf("Close without CloseFlag sent %v", got)
	}
}

func TestConnStreamErrors(t *testing.T) {
	// The end of the MessageStream is EOF; the writer reports Send
	// failures.
	cms, ams := newMemPair(t, 4)
	c := NewConn(cms, ConnConfig{})
	t.Cleanup(func() { c.Close() })
	ams.Close()
	if _, err := c.Read(make([]byte, 8)); err != io.EOF {
		t.Errorf("Read = %v, want EOF", err)
	}
	var err error
	for range 3 { // the first write may be handed over before Send fails
		if _, err = c.Write([]byte("x")); err != nil {
			break
		}
	}
	if !errors.Is(err, errMemClosed) {
		t.Errorf("Write to a closed stream = %v", err)
	}
}

func TestConnDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, agent, cms, ams := connPair(nil, false, 1)
		defer func() { cms.Close(); ams.Close(); client.Close(); agent.Close() }()

		start := time.Now()
		client.SetReadDeadline(start.Add(5 * time.Second))
		go func() {
			time.Sleep(time.Second)
			client.SetReadDeadline(start.Add(8 * time.Second)) // moved while Read waits
		}()
		_, err := client.Read(make([]byte, 8))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 8*time.Second {
			t.Errorf("Read = %v after %v, want a timeout after 8s", err, time.Since(start))
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("timeout %v is not a net.Error with Timeout", err)
		}
		client.SetReadDeadline(time.Time{})

		// The agent does not read: after the stream (1 payload), the
		// sender and the hand-off (1 each) fill up, Write waits and times
		// out.
		client.SetWriteDeadline(time.Now().Add(3 * time.Second))
		start = time.Now()
		n, err := client.Write(make([]byte, 10*DefaultMaxChunk))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Errorf("Write = %v after %v", err, time.Since(start))
		}
		if n%DefaultMaxChunk != 0 || n == 0 || n >= 10*DefaultMaxChunk {
			t.Errorf("Write reported %d bytes", n)
		}
		// Close waits for the sender no longer than the write deadline.
		start = time.Now()
		client.Close()
		if d := time.Since(start); d != 0 {
			t.Errorf("Close waited %v past the deadline", d)
		}
	})
}

func TestConnAddr(t *testing.T) {
	client, agent, _, _ := connPair(t, false, 4)
	if got := client.LocalAddr().String(); got != "client:"+testTargetID+"/"+testSessionID {
		t.Errorf("client LocalAddr = %s", got)
	}
	if got := client.RemoteAddr().String(); got != "agent:"+testTargetID+"/"+testSessionID {
		t.Errorf("client RemoteAddr = %s", got)
	}
	if agent.LocalAddr() != client.RemoteAddr() || agent.LocalAddr().Network() != "ssm" {
		t.Errorf("agent LocalAddr = %v", agent.LocalAddr())
	}
}
