package proxy_test

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestVerboseShowsNoSecrets runs ssh through ssmproxy -v with temporary
// credentials (a session token) while the gateway drops the websocket
// once: ssmproxy signs the first upgrade and the resumed one, the bytes
// arrive intact, and nothing of the credentials or of a signature is in
// what -v printed.
func TestVerboseShowsNoSecrets(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{})
	e.Server.Faults().Set(func(f *ssmtest.FaultSet) {
		f.KillClientWebsocketAfterBytes = 256 << 10
		f.KillClientWebsocketTimes = 1
	})
	creds := e.Server.TemporaryCredentials(time.Hour)
	const size = 1 << 20
	cmd := sshCmd(e, []string{"-v"}, e.Instance, "head -c 1048576 /dev/zero")
	for i, kv := range cmd.Env {
		switch {
		case strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID="):
			cmd.Env[i] = "AWS_ACCESS_KEY_ID=" + creds.AccessKeyID
		case strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY="):
			cmd.Env[i] = "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey
		}
	}
	cmd.Env = append(cmd.Env, "AWS_SESSION_TOKEN="+creds.SessionToken)
	p := e2etest.RunProc(t, cmd)
	p.MustSucceed(t)
	if got, want := sha256.Sum256([]byte(p.Stdout())), sha256.Sum256(make([]byte, size)); got != want || len(p.Stdout()) != size {
		t.Errorf("received %d bytes with SHA-256 %x, want %d zero bytes (%x)", len(p.Stdout()), got, size, want)
	}
	stderr := p.Stderr()
	if n := strings.Count(stderr, "upgrade signed with SigV4 (ssmmessages, "+e.Server.Region()+")"); n != 2 {
		t.Errorf("-v reports %d signed upgrades, want 2 (the open and the resume):\n%s", n, stderr)
	}
	if n := strings.Count(stderr, "data channel dropped; resuming"); n != 1 {
		t.Errorf("-v reports %d resumes, want 1:\n%s", n, stderr)
	}
	for _, secret := range []string{
		creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken,
		"Authorization", "AWS4-HMAC-SHA256", "Signature=", "Credential=", "X-Amz-Security-Token", "X-Amz-Date",
	} {
		if i := strings.Index(stderr, secret); i >= 0 {
			t.Errorf("-v printed %q:\n%s", secret, stderr[max(0, i-200):min(len(stderr), i+200)])
		}
	}
	if bytes.Contains([]byte(stderr), []byte(creds.SessionToken[:16])) {
		t.Errorf("-v printed the start of the session token")
	}
	waitSessionsEnded(t, e.Server, 1)
}
