package ssmtest_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestLimitPublicationRate: a client sending more stream messages a second
// than the service allows is paused and started again; ours stops sending
// while paused, resends nothing for it, and loses nothing.
func TestLimitPublicationRate(t *testing.T) {
	// 500 messages of 1 KiB written at up to a thousand a second, against
	// a limit of 100 in each half second: even under the race detector
	// the client goes over it, and each pause finds it with data to send.
	const rate, window, n = 200, 500 * time.Millisecond, 500
	e, s := echoSession(t, ssmtest.FaultSet{PublicationRateLimit: rate, PublicationRateWindow: window})
	data := randomData(n<<10, 1)
	if err := s.SetDeadline(time.Now().Add(e2eTimeout)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	written := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := s.Write(data[i<<10 : (i+1)<<10]); err != nil {
				written <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
		written <- nil
	}()
	h := sha256.New()
	if _, err := io.CopyN(h, s, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("echo under pauses has SHA-256 %x, want %x", h.Sum(nil), want)
	}
	pauses := e.log.Count("pausing its publication")
	starts := e.log.Count("starting the client's publication again")
	st := s.Stats()
	t.Logf("%d KiB echoed in %v: %d pauses, %d starts; client sent %d, resent %d",
		n, took.Round(time.Millisecond), pauses, starts, st.Sent, st.Resent)
	if pauses < 2 || starts < 1 {
		t.Errorf("%d pauses and %d starts for %d messages at a limit of %d a second", pauses, starts, n, rate)
	}
	if k := e.log.Count("messages while paused"); k != 0 {
		t.Errorf("the client sent while paused (%d windows)", k)
	}
	if st.Resent > st.Sent/10 {
		t.Errorf("the client resent %d of %d messages around its pauses", st.Resent, st.Sent)
	}
	// Held to about the limit, the transfer takes about two and a half
	// seconds; written at its own pace, about half a second.
	if min := time.Duration(float64(n)/rate*float64(time.Second)) / 2; took < min {
		t.Errorf("%d messages went in %v, faster than half the limit allows (%v)", n, took, min)
	}
}

// TestLimitWebsocketLifetime: the service closes the client's websocket
// after its hour (close 1000) in the middle of a transfer; the client
// resumes and the transfer arrives whole.
func TestLimitWebsocketLifetime(t *testing.T) {
	const size = 2 << 20
	fc := ssmtest.NewFakeClock(time.Now())
	f := &ssmtest.Faults{}
	f.Set(func(s *ssmtest.FaultSet) { s.WebsocketLifetime = ssmtest.ServiceWebsocketLifetime })
	// Signatures are checked against the real time; only the timers are
	// fake.
	e := newEnv(t, ssmtest.Options{Timers: fc, Clock: time.Now, Faults: f})
	if err := e.s.Fleet().SetPort(ssmtest.InstanceAmazonLinux, echoPort, e2etest.EchoServer(t)); err != nil {
		t.Fatal(err)
	}
	s := e.startPort(t, ssmtest.InstanceAmazonLinux, echoPort)
	data := randomData(size, 7)
	if err := s.SetDeadline(time.Now().Add(e2eTimeout)); err != nil {
		t.Fatal(err)
	}
	written := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		written <- err
	}()
	h := sha256.New()
	if _, err := io.CopyN(h, s, size/4); err != nil {
		t.Fatal(err)
	}
	fc.Advance(ssmtest.ServiceWebsocketLifetime - time.Second)
	if n := e.log.Count("at the end of its"); n != 0 {
		t.Fatalf("websocket closed before its lifetime")
	}
	fc.Advance(time.Second)
	if _, err := io.CopyN(h, s, size-size/4); err != nil {
		t.Fatalf("after the websocket's lifetime: %v", err)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Errorf("echo across the hourly close has SHA-256 %x, want %x", h.Sum(nil), want)
	}
	if n := e.log.Count("at the end of its 1h0m0s lifetime"); n != 1 {
		t.Errorf("gateway closed the websocket %d times, want 1", n)
	}
	if n := s.Stats().Reconnects; n != 1 {
		t.Errorf("client reconnected %d times, want 1", n)
	}
}

// TestLimitIdleTimeout: with the default 20-minute idle timeout of the
// preferences, a session with data every 19 minutes lives on, and one
// quiet for 20 minutes ends with the service's message.
func TestLimitIdleTimeout(t *testing.T) {
	fc := ssmtest.NewFakeClock(time.Now())
	e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{Timers: fc})
	sess := e.startPort(t, ssmtest.InstanceAmazonLinux, echoPort)
	rec := e.session(t, sess.ID)
	for i := range 3 {
		echoRoundTrip(t, sess, 100, uint64(i))
		fc.Advance(19 * time.Minute)
		time.Sleep(50 * time.Millisecond) // the sweeper would act now if it were to
		if st := rec.State(); st != ssmtest.SessionConnected {
			t.Fatalf("session %s %d minutes after its last data", st, 19)
		}
	}
	fc.Advance(time.Minute)
	if se := readEnd(t, sess); se.Output != ssmtest.ReasonIdleTimeout {
		t.Errorf("client read %q at the end, want %q", se.Output, ssmtest.ReasonIdleTimeout)
	}
	if st := e.waitEnded(t, sess.ID); st != ssmtest.SessionTerminated || rec.Output() != ssmtest.ReasonIdleTimeout {
		t.Errorf("registry: %s with %q", st, rec.Output())
	}
	sess.Close()
	waitSessionGoroutinesGone(t)
	closeAndCheck()
}

// TestLimitMaxSessionDuration: a busy session ends at the maximum session
// duration with the service's message.
func TestLimitMaxSessionDuration(t *testing.T) {
	fc := ssmtest.NewFakeClock(time.Now())
	e, closeAndCheck := lifecycleEnv(t, ssmtest.Options{Timers: fc, MaxSessionDuration: time.Hour})
	sess := e.startPort(t, ssmtest.InstanceAmazonLinux, echoPort)
	rec := e.session(t, sess.ID)
	for i := range 5 {
		echoRoundTrip(t, sess, 100, uint64(i))
		fc.Advance(11 * time.Minute)
	}
	time.Sleep(50 * time.Millisecond)
	if st := rec.State(); st != ssmtest.SessionConnected {
		t.Fatalf("busy session %s after 55 of its 60 minutes", st)
	}
	echoRoundTrip(t, sess, 100, 9)
	fc.Advance(5 * time.Minute)
	if se := readEnd(t, sess); se.Output != ssmtest.ReasonMaxDuration {
		t.Errorf("client read %q at the end, want %q", se.Output, ssmtest.ReasonMaxDuration)
	}
	if st := e.waitEnded(t, sess.ID); st != ssmtest.SessionTerminated || rec.Output() != ssmtest.ReasonMaxDuration {
		t.Errorf("registry: %s with %q", st, rec.Output())
	}
	sess.Close()
	waitSessionGoroutinesGone(t)
	closeAndCheck()
}

// TestLimitMessageSize: messages up to the gateway's maximum go through; a
// larger one is refused with a websocket close 1009, and the client ends
// the session naming it instead of resending it forever.
func TestLimitMessageSize(t *testing.T) {
	const limit = 2048
	e, _ := echoSession(t, ssmtest.FaultSet{MaxMessageBytes: protocol.FrameHeaderSize + limit})
	start := func(chunk int) *ssmclient.Session {
		return e.start(t, ssmclient.StartInput{
			Target: ssmtest.InstanceAmazonLinux, DocumentName: ssmclient.DocumentSSH,
			Parameters: map[string][]string{"portNumber": {echoPort}}, MaxChunk: chunk,
		})
	}
	fits := start(limit)
	echoRoundTrip(t, fits, 16<<10, 1)
	fits.Close()

	big := start(2 * limit)
	if err := big.SetDeadline(time.Now().Add(e2eTimeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := big.Write(make([]byte, 2*limit)); err != nil {
		t.Fatal(err)
	}
	_, err := io.ReadFull(big, make([]byte, 2*limit))
	if err == nil {
		t.Fatal("a message larger than the gateway's maximum went through")
	}
	t.Logf("the user sees: %v", err)
	if !errors.Is(err, protocol.ErrMessageTooBig) {
		t.Errorf("error %v does not say the message was too big", err)
	}
	const refused = "larger than 2168 bytes (websocket close 1009)"
	deadline := time.Now().Add(e2eTimeout)
	for e.log.Count(refused) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a resend on a new websocket would come now
	if n := e.log.Count(refused); n != 1 {
		t.Errorf("gateway refused %d messages, want 1 (no resend on a new websocket)", n)
	}
	if n := big.Stats().Reconnects; n != 0 {
		t.Errorf("client reconnected %d times to resend a message refused as too big", n)
	}
}
