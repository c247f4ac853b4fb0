package ssmtest_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
	"github.com/ssmssh/ssmssh/ssmtest/agent"
)

// startErr starts a session that must fail and returns the error.
func (e *env) startErr(t *testing.T, in ssmclient.StartInput) error {
	t.Helper()
	if in.Logf == nil {
		in.Logf = e.log.Logf
	}
	sess, err := e.client.StartSession(t.Context(), in)
	if err == nil {
		sess.Close()
		t.Fatalf("StartSession(%q on %s) succeeded, want an error", in.DocumentName, in.Target)
	}
	t.Logf("the user sees: %v", err)
	return err
}

// onlySession returns the one session the registry knows.
func (e *env) onlySession(t *testing.T) *ssmtest.Session {
	t.Helper()
	all := e.s.Sessions().All()
	if len(all) != 1 {
		t.Fatalf("registry has %d sessions, want 1", len(all))
	}
	return all[0]
}

// sshInput is the StartInput of an AWS-StartSSHSession to port 22.
func sshInput(target string) ssmclient.StartInput {
	return ssmclient.StartInput{Target: target, DocumentName: ssmclient.DocumentSSH,
		Parameters: map[string][]string{"portNumber": {"22"}}}
}

// TestFaultHandshakeNeverAnswered: the client's HandshakeResponse never
// reaches the agent, which fails the session after its handshake timeout
// with the text users of an old plugin see; StartSession returns it.
func TestFaultHandshakeNeverAnswered(t *testing.T) {
	const timeout = 500 * time.Millisecond
	f := &ssmtest.Faults{}
	f.Set(func(s *ssmtest.FaultSet) { s.HandshakeNeverAnswered = true })
	e := newEnv(t, ssmtest.Options{Faults: f, AgentHandshakeTimeout: timeout})
	start := time.Now()
	err := e.startErr(t, sshInput(ssmtest.InstanceAmazonLinux))
	took := time.Since(start)
	const want = "Handshake timed out. Please ensure that you have the latest version of the session manager plugin."
	if se := sessionEnded(t, err); se.Output != want {
		t.Errorf("session ended with %q, want %q", se.Output, want)
	}
	if took < timeout {
		t.Errorf("StartSession failed after %v, before the agent's %v handshake timeout", took, timeout)
	}
	rec := e.onlySession(t)
	if st := e.waitEnded(t, rec.ID); st != ssmtest.SessionFailed || rec.Output() != want {
		t.Errorf("registry: %s with %q, want Failed with the agent's text", st, rec.Output())
	}
}

// TestFaultRunAsUserMissing: a shell session whose Run As user does not
// exist on the instance ends before it starts, with the agent's text in
// channel_closed.
func TestFaultRunAsUserMissing(t *testing.T) {
	f := &ssmtest.Faults{}
	f.Set(func(s *ssmtest.FaultSet) { s.RunAsUserMissing = true })
	e := newEnv(t, ssmtest.Options{Faults: f})
	// The agent checks that it runs as root before it looks the user up,
	// as amazon-ssm-agent does; an emulator run by another user reports
	// that instead.
	want := "Unable to start command: failed to start pty since RunAs user " + ssmtest.MissingRunAsUser + " does not exist\n"
	if os.Geteuid() != 0 {
		want = agent.StartFailure(agent.ErrRunAsNotRoot)
	}
	for _, doc := range []string{"", "SSM-SessionManagerRunShell"} {
		err := e.startErr(t, ssmclient.StartInput{Target: ssmtest.InstanceDebian, DocumentName: doc})
		if se := sessionEnded(t, err); se.Output != want {
			t.Errorf("document %q: session ended with %q, want %q", doc, se.Output, want)
		}
	}
	for _, rec := range e.s.Sessions().All() {
		if st := e.waitEnded(t, rec.ID); st != ssmtest.SessionFailed || rec.Output() != want {
			t.Errorf("registry: %s with %q, want Failed with the agent's text", st, rec.Output())
		}
	}
	// Port sessions do not run as a user: they still work.
	f.Set(func(s *ssmtest.FaultSet) { s.RunAsUserMissing = true })
	if err := e.s.Fleet().SetPort(ssmtest.InstanceDebian, echoPort, e2etest.EchoServer(t)); err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, e.startPort(t, ssmtest.InstanceDebian, echoPort), 1000, 1)
}

// TestFaultAgentOffline: an instance whose agent is unreachable, whether
// the fault says so or its agent stopped, answers StartSession with
// TargetNotConnected, and no session is left behind.
func TestFaultAgentOffline(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	e.s.Faults().AgentOffline(ssmtest.InstanceAmazonLinux, true)
	e.s.StopAgent(ssmtest.InstanceUbuntu)
	for _, id := range []string{ssmtest.InstanceAmazonLinux, ssmtest.InstanceUbuntu} {
		err := e.startErr(t, sshInput(id))
		var ce *ssmclient.Error
		var api smithy.APIError
		if !errors.As(err, &ce) || ce.Code != ssmclient.CodeTargetNotConnected ||
			!errors.As(err, &api) || api.ErrorCode() != "TargetNotConnected" {
			t.Errorf("%s: StartSession: %v, want TargetNotConnected", id, err)
		}
	}
	if n := len(e.s.Sessions().All()); n != 0 {
		t.Errorf("%d sessions registered for unreachable agents", n)
	}
	// Back online, the same instance works again.
	e.s.Faults().AgentOffline(ssmtest.InstanceAmazonLinux, false)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceAmazonLinux, echoPort, e2etest.EchoServer(t)); err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, e.startPort(t, ssmtest.InstanceAmazonLinux, echoPort), 1000, 1)
}

// readUntil reads r until what was read contains want, and returns it.
func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), want) {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("read %q, then %v; waiting for %q", got.String(), err, want)
		}
	}
	return got.String()
}

// TestKMSEncryptedShell: with a KMS key in the session preferences a shell
// session negotiates encryption (the agent's data key is decrypted by the
// emulator's KMS) and works end to end.
func TestKMSEncryptedShell(t *testing.T) {
	e := newEnv(t, ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias})
	sess := e.start(t, ssmclient.StartInput{Target: ssmtest.InstanceAmazonLinux})
	if sess.Handshake.Cipher == nil || sess.Handshake.CustomerMessage != "This session is encrypted using AWS KMS." {
		t.Fatalf("handshake: cipher %v, customer message %q; want KMS encryption", sess.Handshake.Cipher, sess.Handshake.CustomerMessage)
	}
	if err := sess.SetDeadline(time.Now().Add(e2eTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Write([]byte("echo $((6*7))\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, sess, "42")
	if _, err := sess.Write([]byte("exit\n")); err != nil {
		t.Fatal(err)
	}
	// The shell's exit ends the session; the client sees the end.
	if se := readEnd(t, sess); se.Output != "" {
		t.Errorf("session ended with %q after the shell exited", se.Output)
	}
	if st := e.waitEnded(t, sess.ID); st != ssmtest.SessionTerminated {
		t.Errorf("session %s after the shell exited", st)
	}
}

// TestFaultKMS: the KMS failures of an encrypted shell session, each as the
// user meets it.
func TestFaultKMS(t *testing.T) {
	t.Run("GenerateDataKeyDenied", func(t *testing.T) {
		// The client lacks kms:GenerateDataKey: it fails the handshake and
		// says which permission is missing.
		e := newEnv(t, ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias})
		e.s.Faults().KMSDenyGenerateDataKey(true)
		err := e.startErr(t, ssmclient.StartInput{Target: ssmtest.InstanceAmazonLinux})
		var ce *ssmclient.Error
		if !errors.As(err, &ce) || ce.Code != ssmclient.CodeAccessDenied || !strings.Contains(err.Error(), "kms:GenerateDataKey") {
			t.Errorf("StartSession: %v; want an access-denied error naming kms:GenerateDataKey", err)
		}
		e.waitEnded(t, e.onlySession(t).ID)
	})
	t.Run("DecryptDenied", func(t *testing.T) {
		// The instance profile lacks kms:Decrypt: the agent fails the
		// session and the client reads why in channel_closed.
		e := newEnv(t, ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias})
		e.s.Faults().KMSDenyDecrypt(true)
		err := e.startErr(t, ssmclient.StartInput{Target: ssmtest.InstanceAmazonLinux})
		se := sessionEnded(t, err)
		role := "assumed-role/" + ssmtest.InstanceRoleName + "/" + ssmtest.InstanceAmazonLinux
		if !strings.HasPrefix(se.Output, "Fetching data key failed: Unable to retrieve data key, Error when decrypting data key") ||
			!strings.Contains(se.Output, "AccessDeniedException") || !strings.Contains(se.Output, role) {
			t.Errorf("session ended with %q; want the agent's failure to decrypt the data key, naming its role %s", se.Output, role)
		}
		rec := e.onlySession(t)
		if st := e.waitEnded(t, rec.ID); st != ssmtest.SessionFailed || rec.Output() != se.Output {
			t.Errorf("registry: %s with %q, want Failed with the agent's text", st, rec.Output())
		}
	})
	t.Run("InvalidKey", func(t *testing.T) {
		// The key in the preferences does not exist.
		e := newEnv(t, ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias})
		e.s.Faults().KMSInvalidKey(true)
		err := e.startErr(t, ssmclient.StartInput{Target: ssmtest.InstanceAmazonLinux})
		var ce *ssmclient.Error
		if !errors.As(err, &ce) || ce.Code != ssmclient.CodeKMSKeyNotFound {
			t.Errorf("StartSession: %v; want KMSKeyNotFound", err)
		}
		e.waitEnded(t, e.onlySession(t).ID)
	})
}
