package ssmtest_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// startUnattached starts a session through the API only: no client
// attaches to it yet.
func (e *env) startUnattached(t *testing.T, in *ssm.StartSessionInput) *ssm.StartSessionOutput {
	t.Helper()
	out, err := e.client.SSM.StartSession(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// portInput is the StartSession input of a basic port session to the
// echo port of InstanceAmazonLinux.
func portInput() *ssm.StartSessionInput {
	return &ssm.StartSessionInput{
		Target: aws.String(ssmtest.InstanceAmazonLinux), DocumentName: aws.String(ssmclient.DocumentSSH),
		Parameters: map[string][]string{"portNumber": {echoPort}},
	}
}

// dialRaw opens a session's data channel as a client, without a reliable
// session on top, to see exactly what the gateway relays.
func (e *env) dialRaw(t *testing.T, out *ssm.StartSessionOutput) protocol.Transport {
	t.Helper()
	tr, err := protocol.DialDataChannel(t.Context(), *out.StreamUrl, *out.TokenValue, protocol.DialOptions{
		ClientVersion: protocol.ClientVersion, TLSConfig: e.client.TLSConfig(), Logf: e.log.Logf,
		Credentials: e.client.Config.Credentials, Region: e.client.Config.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// readUntilHandshake reads raw frames until the agent's HandshakeRequest
// and returns the types of the frames read before it.
func readUntilHandshake(t *testing.T, tr protocol.Transport) []string {
	t.Helper()
	var before []string
	for {
		frame, err := tr.ReadFrame()
		if err != nil {
			t.Fatalf("no handshake request: %v (after %v)", err, before)
		}
		m, err := protocol.ParseMessage(frame)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == protocol.TypeOutputStreamData && m.PayloadType == protocol.PayloadHandshakeRequest {
			return before
		}
		before = append(before, m.Type)
	}
}

// TestRelayAgentSessionStateNotForwarded: the agent's agent_session_state
// is for the service; the client sees the handshake request first.
func TestRelayAgentSessionStateNotForwarded(t *testing.T) {
	e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{})
	out := e.startUnattached(t, portInput())
	tr := e.dialRaw(t, out)
	if before := readUntilHandshake(t, tr); len(before) != 0 {
		t.Errorf("the client was sent %v before the handshake request, want nothing", before)
	}
	tr.Close()
	if n := e.log.Count(`agent reports session state "Connected"`); n != 1 {
		t.Errorf("gateway took %d agent_session_state Connected, want 1", n)
	}
	if _, err := e.client.SSM.TerminateSession(t.Context(), &ssm.TerminateSessionInput{SessionId: out.SessionId}); err != nil {
		t.Fatal(err)
	}
	e.waitEnded(t, *out.SessionId)
	waitSessionGoroutinesGone(t)
	closeAndCheck()
}

// TestRelayAgentEndsWhileClientAway: the agent ends a session (here: its
// handshake times out) while the client that had attached is away; the
// session ends at once with the agent's output instead of staying Active
// for the client reconnect window.
func TestRelayAgentEndsWhileClientAway(t *testing.T) {
	const handshake = 300 * time.Millisecond
	e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{AgentHandshakeTimeout: handshake, ClientReconnectWindow: time.Minute})
	out := e.startUnattached(t, portInput())
	tr := e.dialRaw(t, out)
	readUntilHandshake(t, tr)
	tr.Close() // gone without answering
	gone := time.Now()
	rec := e.session(t, *out.SessionId)
	st := e.waitEnded(t, rec.ID)
	took := time.Since(gone)
	if st != ssmtest.SessionFailed || !strings.HasPrefix(rec.Output(), "Handshake timed out") {
		t.Errorf("registry: %s with %q, want Failed with the agent's handshake timeout", st, rec.Output())
	}
	if took > 20*time.Second {
		t.Errorf("session ended %v after its client left, want at once after the agent's %v handshake timeout", took, handshake)
	}
	waitSessionGoroutinesGone(t)
	closeAndCheck()
}

// TestRelayClientNeverAttaches: a session whose client never opens its
// data channel ends when its token expires unused; when the agent had
// already ended it, the final word it kept is the session's end. A
// ResumeSession in between postpones the end to the new token's expiry.
func TestRelayClientNeverAttaches(t *testing.T) {
	t.Run("agent still running", func(t *testing.T) {
		fc := ssmtest.NewFakeClock(time.Now())
		e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{Timers: fc})
		out := e.startUnattached(t, portInput())
		rec := e.session(t, *out.SessionId)
		fc.Advance(ssmtest.ClientTokenTTL / 2)
		if _, err := e.client.SSM.ResumeSession(t.Context(), &ssm.ResumeSessionInput{SessionId: out.SessionId}); err != nil {
			t.Fatal(err)
		}
		fc.Advance(ssmtest.ClientTokenTTL / 2)
		if st := rec.State(); st.Ended() {
			t.Fatalf("session %s when the first of its tokens expired, with a resumed one still valid", st)
		}
		fc.Advance(ssmtest.ClientTokenTTL / 2)
		if st := rec.State(); st != ssmtest.SessionTerminated || rec.Output() != ssmtest.ReasonNeverConnected {
			t.Errorf("registry: %s with %q once every token expired unused, want Terminated with %q",
				st, rec.Output(), ssmtest.ReasonNeverConnected)
		}
		waitSessionGoroutinesGone(t)
		closeAndCheck()
	})
	t.Run("agent ended it", func(t *testing.T) {
		fc := ssmtest.NewFakeClock(time.Now())
		f := &ssmtest.Faults{}
		f.Set(func(s *ssmtest.FaultSet) { s.RunAsUserMissing = true })
		e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{Timers: fc, Faults: f})
		out := e.startUnattached(t, &ssm.StartSessionInput{Target: aws.String(ssmtest.InstanceDebian)})
		rec := e.session(t, *out.SessionId)
		deadline := time.Now().Add(e2eTimeout)
		for e.log.Count("the agent ended it before its client attached") == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the agent never ended the session")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st := rec.State(); st.Ended() {
			t.Fatalf("session %s before its client came to hear the agent", st)
		}
		fc.Advance(ssmtest.ClientTokenTTL)
		if st := rec.State(); st != ssmtest.SessionFailed || !strings.Contains(rec.Output(), "Unable to start") {
			t.Errorf("registry: %s with %q, want Failed with the agent's text", st, rec.Output())
		}
		waitSessionGoroutinesGone(t)
		closeAndCheck()
	})
}

// TestRelayCreateDataChannelEnded: an agent asking for a data channel of
// a session that has ended is told "Session is already terminated", the
// one answer on which amazon-ssm-agent stops retrying.
func TestRelayCreateDataChannelEnded(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	out := e.startUnattached(t, portInput())
	if _, err := e.client.SSM.TerminateSession(t.Context(), &ssm.TerminateSessionInput{SessionId: out.SessionId}); err != nil {
		t.Fatal(err)
	}
	e.waitEnded(t, *out.SessionId)
	post := func(id string) (int, string) {
		body := []byte(`{"MessageSchemaVersion":"1.0","RequestId":"5e1f0d4c-3b2a-4c1d-9e8f-7a6b5c4d3e2f","ClientId":"c"}`)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.s.URL()+"/v1/data-channel/"+id, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if err := protocol.SignRequest(t.Context(), req, body, e.client.Config.Credentials, e.s.Region(), nil); err != nil {
			t.Fatal(err)
		}
		resp, err := e.client.Config.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	if code, body := post(*out.SessionId); code == http.StatusCreated || !strings.Contains(body, "Session is already terminated") {
		t.Errorf("CreateDataChannel for an ended session: %d %s", code, body)
	}
	if code, body := post("tester-0123456789abcdef0"); code != http.StatusNotFound || strings.Contains(body, "terminated") {
		t.Errorf("CreateDataChannel for an unknown session: %d %s, want 404", code, body)
	}
}

// TestRelayHoldsAgentFramesForClient: the agent's HandshakeRequest, sent
// before the client's websocket is open, is held by the gateway and is the
// first thing the client reads when it attaches, instead of waiting for
// the agent's retransmission.
func TestRelayHoldsAgentFramesForClient(t *testing.T) {
	e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{})
	out := e.startUnattached(t, portInput())
	deadline := time.Now().Add(e2eTimeout)
	for e.log.Count("holding agent frames until the client attaches") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the gateway held nothing for the client")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr := e.dialRaw(t, out)
	start := time.Now()
	if before := readUntilHandshake(t, tr); len(before) != 0 {
		t.Errorf("the client was sent %v before the handshake request", before)
	}
	t.Logf("handshake request read %v after attaching", time.Since(start))
	tr.Close()
	if n := e.log.Count("agent frames held for the client"); n != 1 {
		t.Errorf("held frames delivered %d times, want once", n)
	}
	if _, err := e.client.SSM.TerminateSession(t.Context(), &ssm.TerminateSessionInput{SessionId: out.SessionId}); err != nil {
		t.Fatal(err)
	}
	e.waitEnded(t, *out.SessionId)
	waitSessionGoroutinesGone(t)
	closeAndCheck()
}
