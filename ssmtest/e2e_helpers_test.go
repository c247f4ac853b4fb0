package ssmtest_test

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// e2eTimeout bounds each blocking step of the end-to-end tests (I/O
// deadlines, waits for the emulator to notice something).
const e2eTimeout = 60 * time.Second

// env is an emulator with its built-in agents and a client for it.
type env struct {
	s      *ssmtest.Server
	client *ssmclient.Client
	log    *e2etest.Log // emulator, agents and client; printed when the test fails (see e2etest.NewLog)
}

// newEnv starts an emulator (Logf is set to the test's log) and a client
// made from its AWSConfig. Close runs in t.Cleanup and must report no
// leaked sessions: every test ends its sessions.
func newEnv(t *testing.T, opts ssmtest.Options) *env {
	t.Helper()
	log := e2etest.NewLog(t)
	s, client := e2etest.Emulator(t, log, opts)
	return &env{s: s, client: client, log: log}
}

// start starts a session with the client and closes it in t.Cleanup.
func (e *env) start(t *testing.T, in ssmclient.StartInput) *ssmclient.Session {
	t.Helper()
	if in.Logf == nil {
		in.Logf = e.log.Logf
	}
	sess, err := e.client.StartSession(t.Context(), in)
	if err != nil {
		t.Fatalf("StartSession(%s on %s): %v", in.DocumentName, in.Target, err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// startPort starts an AWS-StartSSHSession (basic port session) to a port
// of the instance that the test mapped with Fleet.SetPort.
func (e *env) startPort(t *testing.T, target, port string) *ssmclient.Session {
	t.Helper()
	return e.start(t, ssmclient.StartInput{
		Target: target, DocumentName: ssmclient.DocumentSSH,
		Parameters: map[string][]string{"portNumber": {port}},
	})
}

// session returns the emulator's record of a session.
func (e *env) session(t *testing.T, id string) *ssmtest.Session {
	t.Helper()
	rec, ok := e.s.Sessions().Get(id)
	if !ok {
		t.Fatalf("session %s unknown to the registry", id)
	}
	return rec
}

// waitEnded waits until a session has ended and returns its final state.
func (e *env) waitEnded(t *testing.T, id string) ssmtest.SessionState {
	t.Helper()
	rec := e.session(t, id)
	deadline := time.Now().Add(e2eTimeout)
	for {
		switch st := rec.State(); st {
		case ssmtest.SessionTerminated, ssmtest.SessionFailed:
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s still %s after %v", id, rec.State(), e2eTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// randomData returns n bytes from a seeded generator (fast, and the same
// in a rerun).
func randomData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1})
	_, _ = r.Read(b)
	return b
}

// echoRoundTrip writes n bytes to c while reading the echo, and fails the
// test unless the echo has the same SHA-256. It returns the time taken.
func echoRoundTrip(t *testing.T, c net.Conn, n int, seed uint64) time.Duration {
	t.Helper()
	start := time.Now()
	if err := echoCheck(c, n, seed); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// deadliner is a connection with I/O deadlines (net.Conn, smux.Stream).
type deadliner interface {
	io.ReadWriter
	SetDeadline(time.Time) error
}

// echoCheck writes n bytes to c while reading the echo, and reports an
// echo that differs.
func echoCheck(c deadliner, n int, seed uint64) error {
	if err := c.SetDeadline(time.Now().Add(e2eTimeout)); err != nil {
		return err
	}
	defer c.SetDeadline(time.Time{})
	return e2etest.EchoCheck(c, n, seed)
}

// sessionEnded returns the SessionEndedError in err's chain, failing the
// test when there is none.
func sessionEnded(t *testing.T, err error) *ssmclient.SessionEndedError {
	t.Helper()
	var se *ssmclient.SessionEndedError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want a SessionEndedError", err, err)
	}
	return se
}

// goroutineBaseline returns a function that fails the test when, within a
// bounded wait, the process does not return to the number of goroutines it
// has now. Call the returned function after everything was closed.
func goroutineBaseline(t *testing.T) func() {
	t.Helper()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines, %d before the test:\n%s",
					runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
