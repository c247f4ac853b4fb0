package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/protocol"
)

// collector records what the agent sends to the client.
type collector struct {
	mu       sync.Mutex
	payloads []memMsg
	text     map[protocol.PayloadType]*bytes.Buffer
	changed  chan struct{}
	done     chan struct{}
}

// collect reads the client's end of the stream in the background until
// the stream ends.
func collect(s *memStream) *collector {
	c := &collector{
		text:    map[protocol.PayloadType]*bytes.Buffer{},
		changed: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	go func() {
		defer close(c.done)
		for {
			pt, p, err := s.Recv()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.payloads = append(c.payloads, memMsg{pt, p})
			if c.text[pt] == nil {
				c.text[pt] = new(bytes.Buffer)
			}
			c.text[pt].Write(p)
			c.mu.Unlock()
			select {
			case c.changed <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

// get returns all the text received as pt payloads.
func (c *collector) get(pt protocol.PayloadType) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.text[pt]; b != nil {
		return b.String()
	}
	return ""
}

// all returns the payloads received, in order.
func (c *collector) all() []memMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]memMsg(nil), c.payloads...)
}

// waitFor waits until the pt text contains want.
func (c *collector) waitFor(t *testing.T, pt protocol.PayloadType, want string) {
	t.Helper()
	deadline := time.After(testTimeout)
	for !strings.Contains(c.get(pt), want) {
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("no %q in %v output within %v; got %q", want, pt, testTimeout, c.get(pt))
		}
	}
}

// finish waits until everything the agent sent before the stream closed
// has been collected.
func (c *collector) finish(t *testing.T, clientEnd *memStream) {
	t.Helper()
	clientEnd.Close()
	select {
	case <-c.done:
	case <-time.After(testTimeout):
		t.Fatal("collector did not finish")
	}
}

func typeIn(t *testing.T, s *memStream, text string) {
	t.Helper()
	if err := s.Send(protocol.PayloadOutput, []byte(text)); err != nil {
		t.Fatal(err)
	}
}

func resize(t *testing.T, s *memStream, cols, rows uint32) {
	t.Helper()
	p, _ := json.Marshal(protocol.SizeData{Cols: cols, Rows: rows})
	if err := s.Send(protocol.PayloadSize, p); err != nil {
		t.Fatal(err)
	}
}

func TestShellRunsCommandsAndExits(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	wait := runAsync(t, func() (Result, error) {
		return RunShell(t.Context(), agentEnd, ShellOptions{Logf: t.Logf})
	})
	typeIn(t, clientEnd, "echo $((6*7))\n")
	out.waitFor(t, protocol.PayloadOutput, "42\r\n") // the echoed input says 6*7
	typeIn(t, clientEnd, "echo $TERM\n")
	out.waitFor(t, protocol.PayloadOutput, "xterm-256color\r\n")
	typeIn(t, clientEnd, "exit 7\n")
	res, err := wait(testTimeout)
	want := succeeded()
	want.Terminating = true
	if err != nil || res != want {
		t.Errorf("RunShell = %+v, %v; want %+v (the shell's status is not reported)", res, err, want)
	}
	if n := agentEnd.largestSent(); n > chunkSize+utf8Max-1 {
		t.Errorf("agent sent a %d-byte payload", n)
	}
}

const utf8Max = 4

func TestShellResize(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	ctx, cancel := context.WithCancel(t.Context())
	wait := runAsync(t, func() (Result, error) { return RunShell(ctx, agentEnd, ShellOptions{}) })
	resize(t, clientEnd, 123, 45)
	typeIn(t, clientEnd, "stty size\n")
	out.waitFor(t, protocol.PayloadOutput, "45 123\r\n")
	resize(t, clientEnd, 80, 24)
	typeIn(t, clientEnd, "stty size\n")
	out.waitFor(t, protocol.PayloadOutput, "24 80\r\n")

	// Cancelling kills the shell and ends the session successfully.
	cancel()
	if res, err := wait(testTimeout); err != nil || res != succeeded() {
		t.Errorf("RunShell = %+v, %v; want success on cancel", res, err)
	}
}

func TestShellProfile(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	wait := runAsync(t, func() (Result, error) {
		return RunShell(t.Context(), agentEnd, ShellOptions{Profile: "GREETING=from-profile; export GREETING"})
	})
	typeIn(t, clientEnd, "echo \"[$GREETING]\"\n")
	out.waitFor(t, protocol.PayloadOutput, "[from-profile]")
	typeIn(t, clientEnd, "exit\n")
	if res, err := wait(testTimeout); err != nil || !res.OK() {
		t.Errorf("RunShell = %+v, %v", res, err)
	}
}

// TestShellEndOfStream: when the stream ends, the shell is killed.
func TestShellEndOfStream(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	wait := runAsync(t, func() (Result, error) { return RunShell(t.Context(), agentEnd, ShellOptions{}) })
	clientEnd.Close()
	if res, err := wait(testTimeout); err != nil || res != succeeded() {
		t.Errorf("RunShell = %+v, %v; want success", res, err)
	}
}

func TestInteractiveCommand(t *testing.T) {
	agentEnd, clientEnd := newStreamPair(t)
	out := collect(clientEnd)
	wait := runAsync(t, func() (Result, error) {
		return RunInteractiveCommand(t.Context(), agentEnd, `printf 'name? '; read x; echo "got-$x"`, ShellOptions{})
	})
	out.waitFor(t, protocol.PayloadOutput, "name? ")
	typeIn(t, clientEnd, "abc\n")
	out.waitFor(t, protocol.PayloadOutput, "got-abc\r\n")
	res, err := wait(testTimeout)
	if err != nil || !res.OK() || !res.Terminating {
		t.Errorf("RunInteractiveCommand = %+v, %v; want success after the command exits", res, err)
	}
}

func TestInteractiveCommandEmpty(t *testing.T) {
	agentEnd, _ := newStreamPair(t)
	res, err := RunInteractiveCommand(t.Context(), agentEnd, "  ", ShellOptions{})
	if want := failed("Commands cannot be empty for session type InteractiveCommands"); err != nil || res != want {
		t.Errorf("RunInteractiveCommand = %+v, %v; want %+v", res, err, want)
	}
}

func TestShellStartFailure(t *testing.T) {
	agentEnd, _ := newStreamPair(t)
	res, err := RunShell(t.Context(), agentEnd, ShellOptions{Shell: "/nonexistent/shell"})
	if err != nil || res.OK() || !strings.HasPrefix(res.Output, "Unable to start command: Failed to start pty: ") || !strings.HasSuffix(res.Output, "\n\n") {
		t.Errorf("RunShell = %+v, %v", res, err)
	}
}

// chunkReader returns its chunks one per Read.
type chunkReader struct{ chunks []string }

func (r *chunkReader) Read(b []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, r.chunks[0])
	if n < len(r.chunks[0]) {
		r.chunks[0] = r.chunks[0][n:]
	} else {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func TestPumpText(t *testing.T) {
	long := strings.Repeat("x", 2500)
	for _, tc := range []struct {
		name   string
		chunks []string
		prefix string
		want   []string
	}{
		{"utf8 split", []string{"ab\xe2\x82", "\xacc"}, "", []string{"ab", "€c"}},
		{"only partial", []string{"\xf0\x9f", "\x98", "\x80!"}, "", []string{"😀!"}},
		{"partial at end", []string{"a\xe2\x82"}, "", []string{"a", "\xe2\x82"}},
		{"invalid bytes pass", []string{"\xff\xfeab"}, "", []string{"\xff\xfeab"}},
		{"1024-byte reads", []string{long}, "", []string{long[:1024], long[:1024], long[:452]}},
		{"prefix per read", []string{"l1\n", "l2", "x\n", "y"}, "P:", []string{"P:l1\n", "P:l2", "x\n", "P:y"}},
		{"prefix shortens reads", []string{long[:1500]}, "OUT:", []string{"OUT:" + long[:1020], long[:480]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agentEnd, clientEnd := newStreamPair(t)
			err := pumpText(agentEnd, &chunkReader{chunks: append([]string(nil), tc.chunks...)}, protocol.PayloadStdErr, tc.prefix, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			agentEnd.Close()
			var got []string
			for {
				pt, p, err := clientEnd.Recv()
				if err != nil {
					break
				}
				if pt != protocol.PayloadStdErr {
					t.Errorf("payload type %v", pt)
				}
				got = append(got, string(p))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("payloads %q, want %q", got, tc.want)
			}
		})
	}
}
