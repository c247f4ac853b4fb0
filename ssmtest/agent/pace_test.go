package agent

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xtaci/smux"

	"github.com/ssmssh/ssmssh/protocol"
)

// paceLog records, in order, the data payloads a runner sends and the
// pauses its Pacer takes, so that a test checks the pacing without
// sleeping.
type paceLog struct {
	mu     sync.Mutex
	events []int // > 0: a data payload of that size; < 0: a pause of -µs
}

func (l *paceLog) add(e int) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// pacer returns a Pacer with pace p whose pauses are recorded, not slept.
func (l *paceLog) pacer(p Pace) *Pacer {
	return &Pacer{Pace: func() Pace { return p }, Sleep: func(d time.Duration) { l.add(-int(d.Microseconds())) }}
}

// check asserts the real agent's pattern: every data payload at most
// 1024 bytes and followed by exactly one 1 ms pause, total bytes in all.
func (l *paceLog) check(t *testing.T, total int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	sent, sends := 0, 0
	for i, e := range l.events {
		switch {
		case e > 0:
			if e > chunkSize {
				t.Fatalf("event %d: a %d-byte payload, want at most %d", i, e, chunkSize)
			}
			if i > 0 && l.events[i-1] > 0 {
				t.Fatalf("event %d: two payloads (%d, %d bytes) without a pause between them", i, l.events[i-1], e)
			}
			sent += e
			sends++
		case e != -1000:
			t.Fatalf("event %d: a pause of %d µs, want 1000", i, -e)
		case i == 0 || l.events[i-1] < 0:
			t.Fatalf("event %d: a pause without a read before it", i)
		}
	}
	if sent != total {
		t.Errorf("payloads carried %d bytes, want %d", sent, total)
	}
	if min := (total + chunkSize - 1) / chunkSize; sends < min {
		t.Errorf("%d payloads for %d bytes, want at least %d", sends, total, min)
	}
}

// pauses counts the recorded pauses.
func (l *paceLog) pauses() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e < 0 {
			n++
		}
	}
	return n
}

// loggedStream records the data payloads sent through it.
type loggedStream struct {
	protocol.MessageStream
	log *paceLog
}

func (s loggedStream) Send(pt protocol.PayloadType, p []byte) error {
	if pt == protocol.PayloadOutput || pt == protocol.PayloadStdErr {
		s.log.add(len(p))
	}
	return s.MessageStream.Send(pt, p)
}

// TestPortBasicPaced: paced like the real agent's WritePump, a basic Port
// session sends its connection's data in reads of at most 1024 bytes,
// each one payload followed by a 1 ms pause; unpaced it never pauses.
func TestPortBasicPaced(t *testing.T) {
	const size = 100<<10 + 77
	data := randomBytes(t, size)
	for _, paced := range []bool{true, false} {
		t.Run(fmt.Sprintf("paced=%v", paced), func(t *testing.T) {
			ln, port := listen(t)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = c.Write(data)
			}()
			var log paceLog
			pace := RealPace
			if !paced {
				pace = Pace{}
			}
			agentEnd, clientEnd := newStreamPair(t)
			wait := runAsync(t, func() (Result, error) {
				return RunPort(t.Context(), loggedStream{agentEnd, &log}, PortOptions{
					PortNumber: port,
					Dial:       loopbackDial(t, ln, "localhost:"+port, nil),
					Pacer:      log.pacer(pace),
					Logf:       t.Logf,
				})
			})
			var got bytes.Buffer
			for got.Len() < size {
				_, p := recvTimeout(t, clientEnd, testTimeout)
				got.Write(p)
			}
			if res, err := wait(testTimeout); err != nil || !res.OK() {
				t.Fatalf("RunPort = %+v, %v", res, err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatal("client received different bytes than the server sent")
			}
			if paced {
				log.check(t, size)
			} else if n := log.pauses(); n != 0 {
				t.Errorf("unpaced session paused %d times", n)
			}
		})
	}
}

// TestPortMuxPaced: the mux pump (transferDataToMgs in the real agent)
// reads the smux session's bytes 1024 at a time and pauses after each
// read; what the client sends is written to the target unpaced.
func TestPortMuxPaced(t *testing.T) {
	const size = 64 << 10
	ln, port := listen(t)
	echo(t, ln)
	var log paceLog
	agentEnd, clientEnd := newStreamPair(t)
	wait := runAsync(t, func() (Result, error) {
		return RunPort(t.Context(), loggedStream{agentEnd, &log}, PortOptions{
			PortNumber: port, Type: PortTypeLocalPortForwarding, ClientVersion: "1.2.764.0",
			Dial:  loopbackDial(t, ln, "localhost:"+port, nil),
			Pacer: log.pacer(RealPace),
			Logf:  t.Logf,
		})
	})
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = true
	sess, err := smux.Client(newStreamConn(clientEnd), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(testTimeout))
	data := randomBytes(t, size)
	go func() { _, _ = st.Write(data) }()
	got := make([]byte, size)
	if _, err := io.ReadFull(st, got); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("echo differs")
	}
	st.Close()
	if err := sendFlag(clientEnd, protocol.FlagTerminateSession); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(testTimeout); err != nil {
		t.Fatal(err)
	}
	// smux frames (headers, window updates) ride along with the data:
	// check the pattern, and that at least the echoed bytes went out.
	log.mu.Lock()
	sent := 0
	for _, e := range log.events {
		sent += max(e, 0)
	}
	log.mu.Unlock()
	log.check(t, sent)
	if sent < size {
		t.Errorf("agent sent %d bytes, want at least the %d echoed", sent, size)
	}
}

// TestPumpTextPaced: terminal and combined command output pause after
// every read, as the real agent's writePump; separate command streams
// never pause, as its pipeline readers.
func TestPumpTextPaced(t *testing.T) {
	long := strings.Repeat("x", 5000)
	var log paceLog
	agentEnd, clientEnd := newStreamPair(t)
	go func() { _, _ = io.Copy(io.Discard, streamReader{clientEnd}) }()
	if err := pumpText(loggedStream{agentEnd, &log}, &chunkReader{chunks: []string{long}}, protocol.PayloadOutput, "", log.pacer(RealPace), nil); err != nil {
		t.Fatal(err)
	}
	log.check(t, len(long))

	t.Run("separate streams", func(t *testing.T) {
		var log paceLog
		agentEnd, clientEnd := newStreamPair(t)
		out := collect(clientEnd)
		res, err := RunCommand(t.Context(), loggedStream{agentEnd, &log}, `head -c 5000 /dev/zero`, ShellOptions{
			SeparateOutputStream: true, Pacer: log.pacer(RealPace),
		})
		if err != nil || !res.OK() {
			t.Fatalf("RunCommand = %+v, %v", res, err)
		}
		out.finish(t, clientEnd)
		if got := len(out.get(protocol.PayloadOutput)); got != 5000 {
			t.Errorf("stdout of %d bytes, want 5000", got)
		}
		if n := log.pauses(); n != 0 {
			t.Errorf("separate output streams paused %d times; the real agent's pipeline readers do not", n)
		}
	})
	t.Run("combined output", func(t *testing.T) {
		var log paceLog
		agentEnd, clientEnd := newStreamPair(t)
		out := collect(clientEnd)
		res, err := RunCommand(t.Context(), loggedStream{agentEnd, &log}, `head -c 5000 /dev/zero`, ShellOptions{Pacer: log.pacer(RealPace)})
		if err != nil || !res.OK() {
			t.Fatalf("RunCommand = %+v, %v", res, err)
		}
		out.finish(t, clientEnd)
		log.check(t, 5000)
	})
}

// TestPaceSetting: a Pacer reading a PaceSetting follows changes at once.
func TestPaceSetting(t *testing.T) {
	var s PaceSetting
	var slept []time.Duration
	p := &Pacer{Pace: s.Get, Sleep: func(d time.Duration) { slept = append(slept, d) }}
	if n := p.readSize(readSize); n != readSize {
		t.Errorf("unset: read size %d, want %d", n, readSize)
	}
	p.pause()
	s.Set(RealPace)
	if n := p.readSize(readSize); n != chunkSize {
		t.Errorf("real pace: read size %d, want %d", n, chunkSize)
	}
	p.pause()
	s.Set(Pace{})
	p.pause()
	if len(slept) != 1 || slept[0] != time.Millisecond {
		t.Errorf("pauses %v, want one of 1ms", slept)
	}
	var nilPacer *Pacer
	nilPacer.pause()
	if n := nilPacer.readSize(7); n != 7 {
		t.Errorf("nil pacer: read size %d", n)
	}
}

// streamReader reads the Output payloads of a memStream as bytes.
type streamReader struct{ s *memStream }

func (r streamReader) Read(b []byte) (int, error) {
	_, p, err := r.s.Recv()
	return copy(b, p), err
}
