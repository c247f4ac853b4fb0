package ssmclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

const echoPort = "7007"

// resumeEnv is an emulator with an echo server behind InstanceAmazonLinux
// and a client whose credentials come from creds.
type resumeEnv struct {
	s      *ssmtest.Server
	client *ssmclient.Client
	log    *e2etest.Log
}

func newResumeEnv(t *testing.T, faults ssmtest.FaultSet, creds func(s *ssmtest.Server) aws.CredentialsProvider) *resumeEnv {
	t.Helper()
	log := e2etest.NewLog(t)
	f := &ssmtest.Faults{}
	f.Set(func(s *ssmtest.FaultSet) { *s = faults })
	s, err := ssmtest.NewServer(ssmtest.Options{Faults: f, Logf: log.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.Fleet().SetPort(ssmtest.InstanceAmazonLinux, echoPort, e2etest.EchoServer(t)); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.AWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg.RetryMaxAttempts = 1
	if creds != nil {
		cfg.Credentials = creds(s)
	}
	return &resumeEnv{s: s, client: ssmclient.NewClientFromConfig(cfg), log: log}
}

func (e *resumeEnv) start(t *testing.T) *ssmclient.Session {
	t.Helper()
	sess, err := e.client.StartSession(t.Context(), ssmclient.StartInput{
		Target: ssmtest.InstanceAmazonLinux, DocumentName: ssmclient.DocumentSSH,
		Parameters: map[string][]string{"portNumber": {echoPort}}, Logf: e.log.Logf,
	})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	return sess
}

// echo sends n random bytes through the session and reads them back,
// returning the error of either side; the SHA-256 of what came back must
// equal that of what was sent.
func echo(t *testing.T, sess *ssmclient.Session, n int) error {
	t.Helper()
	data := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(data)
	_ = sess.SetDeadline(time.Now().Add(60 * time.Second))
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() { _, werr = sess.Write(data) })
	got := make([]byte, n)
	_, rerr := io.ReadFull(sess, got)
	wg.Wait()
	if rerr != nil {
		return rerr
	}
	if werr != nil {
		return werr
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("echoed %d bytes differ from those sent", n)
	}
	return nil
}

// rotating hands out new temporary credentials at every Retrieve; with
// expirePrevious, the ones it handed out before expire at once, so that
// only a request signed with what was retrieved last passes.
type rotating struct {
	s              *ssmtest.Server
	expirePrevious bool
	mu             sync.Mutex
	keys           []string
}

func (p *rotating) Retrieve(context.Context) (aws.Credentials, error) {
	c := p.s.TemporaryCredentials(time.Hour)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.expirePrevious {
		for _, k := range p.keys {
			p.s.Faults().ExpireCredentials(k, true)
		}
	}
	p.keys = append(p.keys, c.AccessKeyID)
	return c, nil
}

func (p *rotating) retrieved() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.keys...)
}

// TestResumeSignsWithCurrentCredentials: every resume signs ResumeSession
// and the new websocket with the credentials current at that moment (a
// provider that is not cached is asked again), so a session outlives the
// credentials it was opened with. Those are expired each time new ones
// are handed out: a resume with anything older would be refused.
func TestResumeSignsWithCurrentCredentials(t *testing.T) {
	p := &rotating{expirePrevious: true}
	e := newResumeEnv(t, ssmtest.FaultSet{KillClientWebsocketAfterBytes: 200 << 10, KillClientWebsocketTimes: 2},
		func(s *ssmtest.Server) aws.CredentialsProvider { p.s = s; return p })
	sess := e.start(t)
	defer sess.Close()
	before := len(p.retrieved())
	if err := echo(t, sess, 1<<20); err != nil {
		t.Fatalf("echo across two resumes: %v", err)
	}
	// The second drop may come with the last echoed bytes, its resume
	// still running when the echo is complete: wait for it, bounded.
	for deadline := time.Now().Add(10 * time.Second); sess.Stats().Reconnects < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := sess.Stats().Reconnects; n != 2 {
		t.Errorf("%d reconnects, want 2", n)
	}
	// Each resume retrieves for ResumeSession and again for the upgrade.
	if n := len(p.retrieved()) - before; n < 4 {
		t.Errorf("credentials retrieved %d times over two resumes, want at least 4", n)
	}
	for _, bad := range []string{"refused", "credentials have expired"} {
		if n := e.log.Count(bad); n != 0 {
			t.Errorf("log has %d lines with %q", n, bad)
		}
	}
}

// TestResumeRefreshesExpiredCredentials: the cached credentials expire
// early (the service says so before the cache thinks so): ResumeSession
// is refused with ExpiredTokenException, the client drops its cache,
// retrieves new credentials once, and resumes with them; nothing is lost.
func TestResumeRefreshesExpiredCredentials(t *testing.T) {
	p := &rotating{}
	e := newResumeEnv(t, ssmtest.FaultSet{KillClientWebsocketAfterBytes: 200 << 10, KillClientWebsocketTimes: 1},
		func(s *ssmtest.Server) aws.CredentialsProvider { p.s = s; return aws.NewCredentialsCache(p) })
	sess := e.start(t)
	defer sess.Close()
	keys := p.retrieved()
	if len(keys) != 1 {
		t.Fatalf("credentials retrieved %d times to start, want 1 (cached)", len(keys))
	}
	e.s.Faults().ExpireCredentials(keys[0], true)
	if err := echo(t, sess, 1<<20); err != nil {
		t.Fatalf("echo across a resume with expired credentials: %v", err)
	}
	if n := sess.Stats().Reconnects; n != 1 {
		t.Errorf("%d reconnects, want 1", n)
	}
	if n := len(p.retrieved()); n != 2 {
		t.Errorf("credentials retrieved %d times, want 2 (the start, the refresh)", n)
	}
	if n := e.log.Count("ssm ResumeSession: refused: ExpiredTokenException"); n != 1 {
		t.Errorf("ResumeSession refused %d times, want 1", n)
	}
	if n := e.log.Count("the AWS credentials have expired; retrieving them again"); n != 1 {
		t.Errorf("client refreshed its credentials %d times, want 1", n)
	}
}

// TestResumeExpiredCredentialsNamesCause: credentials that stay expired
// after a refresh end the session at once (one retry, not the five
// reconnect attempts), with one line that says the credentials expired.
func TestResumeExpiredCredentialsNamesCause(t *testing.T) {
	e := newResumeEnv(t, ssmtest.FaultSet{KillClientWebsocketAfterBytes: 200 << 10, KillClientWebsocketTimes: 1}, nil)
	sess := e.start(t)
	defer sess.Close()
	e.s.Faults().ExpireCredentials(ssmtest.FakeAccessKeyID, true)
	start := time.Now()
	err := echo(t, sess, 1<<20)
	if err == nil {
		t.Fatal("echo succeeded with credentials expired for good")
	}
	t.Logf("the session ended after %v: %v", time.Since(start).Round(time.Millisecond), err)
	var ce *ssmclient.Error
	if !errors.As(err, &ce) || ce.Code != ssmclient.CodeExpiredToken || !errors.Is(err, protocol.ErrReconnectRefused) {
		t.Fatalf("error %v, want an ssmclient.Error %s wrapping protocol.ErrReconnectRefused", err, ssmclient.CodeExpiredToken)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "credentials expired while the session was open") || strings.Contains(msg, "attempts") {
		t.Errorf("error is not one line naming the cause: %q", msg)
	}
	if n := e.log.Count("ssm ResumeSession: refused: ExpiredTokenException"); n != 2 {
		t.Errorf("ResumeSession tried %d times, want 2 (once, once more after the refresh)", n)
	}
	if n := e.log.Count("data channel dropped; resuming"); n != 1 {
		t.Errorf("%d reconnect attempts, want 1", n)
	}
	e.s.Faults().ExpireCredentials(ssmtest.FakeAccessKeyID, false) // so Close can terminate the session
}

// TestOpenSessionSignatureRefused: credentials the gateway does not take
// (the API calls of the emulator do not check signatures; its gateway
// does) fail the start with one typed line, and the session is
// terminated.
func TestOpenSessionSignatureRefused(t *testing.T) {
	e := newResumeEnv(t, ssmtest.FaultSet{}, func(*ssmtest.Server) aws.CredentialsProvider {
		return credentials.NewStaticCredentialsProvider(ssmtest.FakeAccessKeyID, "not-the-secret", "")
	})
	_, err := e.client.StartSession(t.Context(), ssmclient.StartInput{
		Target: ssmtest.InstanceAmazonLinux, DocumentName: ssmclient.DocumentSSH,
		Parameters: map[string][]string{"portNumber": {echoPort}}, Logf: e.log.Logf,
	})
	var ce *ssmclient.Error
	if !errors.As(err, &ce) || ce.Code != ssmclient.CodeSignatureRefused {
		t.Fatalf("StartSession error %v, want an ssmclient.Error %s", err, ssmclient.CodeSignatureRefused)
	}
	msg := err.Error()
	for _, want := range []string{"ssmmessages OpenDataChannel", "refused the signature", "403 InvalidSignatureException", "signature we calculated does not match"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %q", want, msg)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	var de *protocol.DialError
	if !errors.As(err, &de) || !de.Refused() {
		t.Errorf("error does not wrap the refused *protocol.DialError: %v", err)
	}
	all := e.s.Sessions().All()
	if len(all) != 1 || all[0].State() != ssmtest.SessionTerminated {
		t.Errorf("sessions after the refusal: %v", all)
	}
	if bytes.Contains([]byte(msg), []byte("not-the-secret")) {
		t.Errorf("error shows the secret: %q", msg)
	}
}

// TestResumeDeniedStopsAtOnce: a resume that IAM denies ends the session
// after one attempt, naming the denial, instead of after every reconnect
// attempt with backoff.
func TestResumeDeniedStopsAtOnce(t *testing.T) {
	e := newResumeEnv(t, ssmtest.FaultSet{KillClientWebsocketAfterBytes: 200 << 10, KillClientWebsocketTimes: 1}, nil)
	sess := e.start(t)
	defer sess.Close()
	e.s.Faults().APIAccessDenied("ResumeSession", true)
	err := echo(t, sess, 1<<20)
	var ce *ssmclient.Error
	if !errors.As(err, &ce) || ce.Code != ssmclient.CodeAccessDenied || !errors.Is(err, protocol.ErrReconnectRefused) {
		t.Fatalf("error %v, want an ssmclient.Error %s wrapping protocol.ErrReconnectRefused", err, ssmclient.CodeAccessDenied)
	}
	if !strings.Contains(err.Error(), "ssm:ResumeSession") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line naming the denied action: %q", err)
	}
	if n := e.log.Count("data channel dropped; resuming"); n != 1 {
		t.Errorf("%d reconnect attempts, want 1", n)
	}
}
