package ssmtest_test

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// sessionGoroutines are the functions of the goroutines that run a session:
// the built-in agent's session and port plugin, the reliable sessions and
// Conns of either end, and the gateway's relay and shapers.
var sessionGoroutines = []string{
	"ssmtest/agent.(*Agent).startSession",
	"ssmtest/agent.(*Agent).runSession",
	"ssmtest/agent.Run",
	"ssmtest/agent.(*basicPort)",
	"ssmssh/protocol.(*Session).",
	"ssmssh/protocol.(*Conn).",
	"ssmssh/ssmtest.(*relay).",
	"ssmssh/ssmtest.(*shaper).",
}

// waitSessionGoroutinesGone waits, boundedly, until no goroutine runs a
// session, and fails the test with their stacks otherwise.
func waitSessionGoroutinesGone(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		stacks := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
		var left []string
		for _, g := range stacks {
			for _, f := range sessionGoroutines {
				if strings.Contains(g, f) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d session goroutines still running:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lifecycleEnv starts an emulator with an echo server behind
// InstanceAmazonLinux for a lifecycle test, and returns, with it, a
// function that closes it and checks that the process is back to the
// goroutines it had before.
func lifecycleEnv(t *testing.T, opts ssmtest.Options) (*env, func()) {
	t.Helper()
	addr := e2etest.EchoServer(t)
	check := goroutineBaseline(t)
	e := newEnv(t, opts)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceAmazonLinux, echoPort, addr); err != nil {
		t.Fatal(err)
	}
	return e, func() {
		t.Helper()
		if err := e.s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		e.client.Config.HTTPClient.(interface{ CloseIdleConnections() }).CloseIdleConnections()
		check()
	}
}

// readEnd reads a session until it ends and returns how it ended.
func readEnd(t *testing.T, sess *ssmclient.Session) *ssmclient.SessionEndedError {
	t.Helper()
	if err := sess.SetReadDeadline(time.Now().Add(e2eTimeout)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, sess)
	return sessionEnded(t, err)
}

// TestLifecycleTerminate: TerminateSession ends a running session: the
// client reads the reason, the registry says Terminated, the agent's
// session goroutines end, and Close finds nothing left.
func TestLifecycleTerminate(t *testing.T) {
	e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{})
	sess := e.startPort(t, ssmtest.InstanceAmazonLinux, echoPort)
	echoRoundTrip(t, sess, 64<<10, 1)
	if st := e.session(t, sess.ID).State(); st != ssmtest.SessionConnected {
		t.Errorf("running session is %s, want Connected", st)
	}
	if _, err := e.client.SSM.TerminateSession(t.Context(), &ssm.TerminateSessionInput{SessionId: aws.String(sess.ID)}); err != nil {
		t.Fatal(err)
	}
	if se := readEnd(t, sess); se.Output != ssmtest.ReasonTerminated {
		t.Errorf("client read %q at the end, want %q", se.Output, ssmtest.ReasonTerminated)
	}
	if st := e.waitEnded(t, sess.ID); st != ssmtest.SessionTerminated {
		t.Errorf("terminated session is %s", st)
	}
	sess.Close()
	waitSessionGoroutinesGone(t)
	closeAndCheck()
}

// TestLifecycleIdleTimeout: a session with no data for the idle timeout is
// terminated by the service; data keeps it alive.
func TestLifecycleIdleTimeout(t *testing.T) {
	const idle = time.Second
	e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{IdleSessionTimeout: idle})
	sess := e.startPort(t, ssmtest.InstanceAmazonLinux, echoPort)
	// Activity every fifth of the timeout, for twice the timeout.
	start := time.Now()
	var quiet time.Time
	for i := 0; time.Since(start) < 2*idle; i++ {
		if i > 0 {
			time.Sleep(idle / 5)
		}
		echoRoundTrip(t, sess, 100, uint64(i))
		quiet = time.Now()
	}
	if st := e.session(t, sess.ID).State(); st != ssmtest.SessionConnected {
		t.Fatalf("session with data flowing is %s after %v", st, time.Since(start))
	}
	if se := readEnd(t, sess); se.Output != ssmtest.ReasonIdleTimeout {
		t.Errorf("client read %q at the end, want %q", se.Output, ssmtest.ReasonIdleTimeout)
	}
	if took := time.Since(quiet); took < idle*9/10 {
		t.Errorf("idle session ended %v after the last data, before the %v timeout", took, idle)
	}
	rec := e.session(t, sess.ID)
	if st := e.waitEnded(t, sess.ID); st != ssmtest.SessionTerminated || rec.Output() != ssmtest.ReasonIdleTimeout {
		t.Errorf("registry: %s with %q", st, rec.Output())
	}
	sess.Close()
	waitSessionGoroutinesGone(t)
	closeAndCheck()
}

// TestLifecycleClientVanished: a client whose websocket closes and that
// does not resume within the reconnect window has its session terminated,
// and the agent's side of it ends.
func TestLifecycleClientVanished(t *testing.T) {
	const window = 300 * time.Millisecond
	e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{ClientReconnectWindow: window})
	out, err := e.client.SSM.StartSession(t.Context(), &ssm.StartSessionInput{
		Target: aws.String(ssmtest.InstanceAmazonLinux), DocumentName: aws.String(ssmclient.DocumentSSH),
		Parameters: map[string][]string{"portNumber": {echoPort}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.SessionId
	tr, err := protocol.DialDataChannel(t.Context(), *out.StreamUrl, *out.TokenValue, protocol.DialOptions{
		ClientVersion: protocol.ClientVersion, TLSConfig: e.client.TLSConfig(), Logf: e.log.Logf,
		Credentials: e.client.Config.Credentials, Region: e.client.Config.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The agent's handshake request shows that the session runs end to end.
	frame, err := tr.ReadFrame()
	for err == nil && !bytes.Contains(frame, []byte("HandshakeRequest")) && !bytes.Contains(frame, []byte(`"RequestedClientActions"`)) {
		frame, err = tr.ReadFrame()
	}
	if err != nil {
		t.Fatalf("no handshake request: %v", err)
	}
	rec := e.session(t, id)
	if st := rec.State(); st != ssmtest.SessionConnected {
		t.Errorf("session with its client attached is %s", st)
	}
	// The client goes away without a word.
	tr.Close()
	gone := time.Now()
	if st := e.waitEnded(t, id); st != ssmtest.SessionTerminated || !strings.Contains(rec.Output(), "did not reconnect") {
		t.Errorf("registry: %s with %q, want Terminated because the client did not reconnect", st, rec.Output())
	}
	if took := time.Since(gone); took < window {
		t.Errorf("session ended %v after its client left, within the %v reconnect window", took, window)
	}
	waitSessionGoroutinesGone(t)
	closeAndCheck()
}
