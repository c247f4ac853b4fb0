package forward_test

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/forward"
	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// timeout bounds every blocking step of these tests.
const timeout = 60 * time.Second

// env is an emulator (unpaced: these tests move bulk data) with a client
// for it, and the lines forwarders print.
type env struct {
	s      *ssmtest.Server
	client *ssmclient.Client
	log    *e2etest.Log
	out    *lines
}

func newEnv(t testing.TB, opts ssmtest.Options) *env {
	t.Helper()
	log := e2etest.NewLog(t)
	s, client := e2etest.Emulator(t, log, opts)
	return &env{s: s, client: client, log: log, out: &lines{}}
}

// forward starts a forwarder for spec (ParseLocal, or ParseDynamic when
// it starts with "D ") to target; it closes in t.Cleanup.
func (e *env) forward(t testing.TB, target, spec string) *forward.Forwarder {
	t.Helper()
	var s forward.Spec
	var err error
	if d, ok := strings.CutPrefix(spec, "D "); ok {
		s, err = forward.ParseDynamic(d)
	} else {
		s, err = forward.ParseLocal(spec)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := forward.Listen(t.Context(), forward.Config{
		Client: e.client, Target: target, Out: forward.NewPrinter(e.out), Logf: e.log.Logf,
	}, s)
	if err != nil {
		t.Fatalf("Listen(%s): %v", spec, err)
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve() }()
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("forwarder Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return f
}

// dial connects to a forwarder, with a deadline.
func dial(t *testing.T, f *forward.Forwarder) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", f.Addr().String(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

// sessions returns the emulator's sessions of a document, oldest first.
func (e *env) sessions(document string) []*ssmtest.Session {
	var out []*ssmtest.Session
	for _, s := range e.s.Sessions().All() {
		if s.DocumentName == document {
			out = append(out, s)
		}
	}
	return out
}

// lines is a concurrency-safe record of what a Printer wrote.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits until the output contains want.
func (l *lines) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(l.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q; it is:\n%s", want, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func seedBytes(n uint64) (s [32]byte) {
	for i := range 8 {
		s[i] = byte(n >> (8 * i))
	}
	return s
}

// parallelEcho dials n connections at once and echoes size+i bytes on
// connection i.
func parallelEcho(t *testing.T, f *forward.Forwarder, n, size int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", f.Addr().String(), timeout)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(timeout))
			if err := e2etest.EchoCheck(c, size+i, uint64(i)); err != nil {
				errs <- fmt.Errorf("connection %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
