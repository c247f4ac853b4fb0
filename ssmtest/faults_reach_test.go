package ssmtest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestKMSUnreachable: with KMS encryption on, an instance that cannot
// reach KMS fails shell sessions with the agent's handshake timeout text
// (the troubleshooting guide's famous cause), once its deadline passes;
// unencrypted Port sessions still work, and restoring the route heals it.
func TestKMSUnreachable(t *testing.T) {
	const timeout = 500 * time.Millisecond
	e := newEnv(t, ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias, AgentHandshakeTimeout: timeout})
	id := ssmtest.InstanceDebian
	if err := e.s.Fleet().Update(id, func(in *ssmtest.Instance) { in.KMSUnreachable = true }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := e.startErr(t, ssmclient.StartInput{Target: id})
	if se := sessionEnded(t, err); !strings.HasPrefix(se.Output, "Handshake timed out. Please ensure that you have the latest version of the session manager plugin.") {
		t.Errorf("session ended with %q, want the handshake timeout", se.Output)
	}
	if took := time.Since(start); took < timeout {
		t.Errorf("failed after %v, before the agent's %v deadline", took, timeout)
	}
	sess := e.start(t, ssmclient.StartInput{Target: id, DocumentName: ssmclient.DocumentSSH})
	sess.Close()
	if err := e.s.Fleet().Update(id, func(in *ssmtest.Instance) { in.KMSUnreachable = false }); err != nil {
		t.Fatal(err)
	}
	e.start(t, ssmclient.StartInput{Target: id}).Close()
}

// TestAgentTooOld: an agent older than a document's minimum version fails
// the session with the agent's "not supported by this version" text;
// shell sessions still run on it.
func TestAgentTooOld(t *testing.T) {
	fleet := ssmtest.DefaultFleet()
	id := ssmtest.InstanceDebian
	if err := fleet.Update(id, func(in *ssmtest.Instance) { in.AgentVersion = "2.3.612.0" }); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, ssmtest.Options{Fleet: fleet})
	err := e.startErr(t, sshInput(id))
	if se := sessionEnded(t, err); !strings.Contains(se.Output, "Plugin with name Port is not supported by this version of ssm agent") {
		t.Errorf("session ended with %q", se.Output)
	}
	e.start(t, ssmclient.StartInput{Target: id}).Close()
}
