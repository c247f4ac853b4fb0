package ssmtest_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// echoPort is the instance port the data-channel tests map to a loopback
// echo server.
const echoPort = "7007"

// echoSession starts an emulator with the given data-channel faults and a
// basic port session (AWS-StartSSHSession) to an echo server behind
// InstanceAmazonLinux.
func echoSession(t *testing.T, faults ssmtest.FaultSet) (*env, *ssmclient.Session) {
	t.Helper()
	f := &ssmtest.Faults{}
	f.Set(func(s *ssmtest.FaultSet) { *s = faults })
	e := newEnv(t, ssmtest.Options{Faults: f})
	if err := e.s.Fleet().SetPort(ssmtest.InstanceAmazonLinux, echoPort, e2etest.EchoServer(t)); err != nil {
		t.Fatal(err)
	}
	return e, e.startPort(t, ssmtest.InstanceAmazonLinux, echoPort)
}

// TestFaultKillClientWebsocket: the gateway kills the client's websocket
// twice during a transfer; the client resumes through ResumeSession each
// time and the transfer completes intact, in the same session.
func TestFaultKillClientWebsocket(t *testing.T) {
	e, s := echoSession(t, ssmtest.FaultSet{KillClientWebsocketAfterBytes: 300 << 10, KillClientWebsocketTimes: 2})
	echoRoundTrip(t, s, 1<<20, 1)
	if n := s.Stats().Reconnects; n != 2 {
		t.Errorf("client reconnected %d times, want 2 (one per killed websocket)", n)
	}
	if got := e.log.Count("fault: killing the client websocket"); got != 2 {
		t.Errorf("gateway killed the websocket %d times, want 2", got)
	}
	if got := e.log.Count("data channel dropped; resuming"); got != 2 {
		t.Errorf("client resumed %d times, want 2", got)
	}
	// Still the same session, still usable.
	echoRoundTrip(t, s, 1000, 2)
	if st := e.session(t, s.ID).State(); st != ssmtest.SessionConnected {
		t.Errorf("session state %s after resuming", st)
	}
}

// TestFaultLossyLink: with 5% of the relayed frames dropped, duplicated or
// reordered (in both directions), the end-to-end retransmission and
// reordering of the protocol deliver every byte, in order.
func TestFaultLossyLink(t *testing.T) {
	const size = 512 << 10
	cases := []struct {
		name  string
		fs    ssmtest.FaultSet
		check func(t *testing.T, s *ssmclient.Session)
	}{
		{"drop", ssmtest.FaultSet{DropRate: 0.05, Seed: 1}, func(t *testing.T, s *ssmclient.Session) {
			if st := s.Stats(); st.Resent == 0 {
				t.Errorf("no retransmissions with 5%% of the frames dropped: %+v", st)
			}
		}},
		{"duplicate", ssmtest.FaultSet{DuplicateRate: 0.05, Seed: 2}, func(t *testing.T, s *ssmclient.Session) {
			if st := s.Stats(); st.Duplicates == 0 {
				t.Errorf("no duplicates seen with 5%% of the frames sent twice: %+v", st)
			}
		}},
		{"reorder", ssmtest.FaultSet{ReorderRate: 0.05, Seed: 3}, func(t *testing.T, s *ssmclient.Session) {
			if st := s.Stats(); st.OutOfOrder == 0 {
				t.Errorf("nothing out of order with 5%% of the frames held back: %+v", st)
			}
		}},
		{"all", ssmtest.FaultSet{DropRate: 0.05, DuplicateRate: 0.05, ReorderRate: 0.05, Seed: 4}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, s := echoSession(t, c.fs)
			took := echoRoundTrip(t, s, size, 3)
			st := s.Stats()
			t.Logf("%d KiB echoed in %v; client: sent %d, resent %d, received %d, duplicates %d, out of order %d",
				size>>10, took.Round(time.Millisecond), st.Sent, st.Resent, st.Received, st.Duplicates, st.OutOfOrder)
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

// TestFaultLatency: with 200 ms of added round-trip time the session works
// and every exchange takes at least that long.
func TestFaultLatency(t *testing.T) {
	const rtt = 200 * time.Millisecond
	e, s := echoSession(t, ssmtest.FaultSet{})
	fast := echoRoundTrip(t, s, 1, 1)
	e.s.Faults().Set(func(f *ssmtest.FaultSet) { f.Latency = rtt })
	// Set while the session runs: it applies to the frames relayed from
	// now on.
	for i := range 3 {
		if took := echoRoundTrip(t, s, 1, uint64(i)); took < rtt {
			t.Errorf("echo %d took %v with %v of added round trip (%v without)", i, took, rtt, fast)
		}
	}
	echoRoundTrip(t, s, 256<<10, 9)
}

// TestFaultBandwidth: a 512 KiB/s cap bounds the rate of a transfer, also
// after the session was idle (idle time is not banked as a burst).
func TestFaultBandwidth(t *testing.T) {
	const bps, size = 512 << 10, 512 << 10
	_, s := echoSession(t, ssmtest.FaultSet{BandwidthBytesPerSec: bps})
	// An interactive session idles between bursts; a cap that saved the
	// unused allowance would let the next burst through at full speed.
	time.Sleep(time.Second)
	took := echoRoundTrip(t, s, size, 1)
	if min := time.Duration(float64(size) / bps * float64(time.Second)); took < min {
		t.Errorf("%d KiB echoed in %v under a %d KiB/s cap, want at least %v", size>>10, took, bps>>10, min)
	}
	t.Logf("%d KiB each way in %v under a %d KiB/s cap", size>>10, took.Round(time.Millisecond), bps>>10)
}

// TestFaultPausePublication: the service pauses the client's publication;
// the client stops sending, then continues when the service starts it
// again, and the transfer completes intact.
func TestFaultPausePublication(t *testing.T) {
	e, s := echoSession(t, ssmtest.FaultSet{})
	e.s.Faults().Set(func(f *ssmtest.FaultSet) { f.PausePublication = true })
	took := echoRoundTrip(t, s, 256<<10, 1)
	if e.log.Count("fault: pausing the client's publication") == 0 {
		t.Fatal("the gateway never paused the client")
	}
	if e.log.Count("session (client): publication paused") == 0 {
		t.Error("the client never heard pause_publication")
	}
	// start_publication follows each pause after a while; the client may
	// have resumed earlier, on an acknowledgement.
	deadline := time.Now().Add(e2eTimeout)
	for e.log.Count("session (client): publication started") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the client never heard start_publication")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Paused again on the next data, and it still gets through.
	echoRoundTrip(t, s, 1000, 2)
	t.Logf("256 KiB echoed in %v with publication paused by the service", took.Round(time.Millisecond))
}

// TestFaultKillAgentWebsocket: the gateway kills the agent's websocket
// twice during a transfer; the agent reconnects with a new data-channel
// token each time, and the transfer completes intact.
func TestFaultKillAgentWebsocket(t *testing.T) {
	e, s := echoSession(t, ssmtest.FaultSet{KillAgentWebsocketAfterBytes: 300 << 10, KillAgentWebsocketTimes: 2})
	echoRoundTrip(t, s, 1<<20, 1)
	if got := e.log.Count("fault: killing the agent websocket"); got != 2 {
		t.Errorf("gateway killed the agent's websocket %d times, want 2", got)
	}
	if got := e.log.Count("session (agent): reconnected"); got != 2 {
		t.Errorf("agent reconnected %d times, want 2", got)
	}
	if n := s.Stats().Reconnects; n != 0 {
		t.Errorf("client reconnected %d times; only the agent's websocket dropped", n)
	}
	echoRoundTrip(t, s, 1000, 2)
}

// duplicatingProxy forwards one connection at a time to addr, writing the
// first chunk it reads after skip bytes from its client to addr twice: what
// the real agent does to its target when the acknowledgement of a client
// message fails to send as its websocket drops (PROTOCOL.md section 11).
func duplicatingProxy(t *testing.T, addr string, skip int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(c, up) }()
				buf := make([]byte, 32<<10)
				var seen int64
				dup := false
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := up.Write(buf[:n]); werr != nil {
							return
						}
						seen += int64(n)
						if !dup && seen > skip {
							dup = true
							_, _ = up.Write(buf[:n])
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestFaultAgentDuplicatesClientMessage documents what our client does
// when a real agent writes one of its messages to the target twice: it
// cannot tell. The reliable session below it is sound (every message is
// delivered once, in order), so it relays the target's answer to the
// duplicate as any other data, and only a protocol above the stream
// notices (an SSH peer fails with "Bad packet length" or a MAC error, as
// sshd does); with an echo, the copy comes back longer than what was sent.
func TestFaultAgentDuplicatesClientMessage(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	if err := e.s.Fleet().SetPort(ssmtest.InstanceAmazonLinux, echoPort, duplicatingProxy(t, e2etest.EchoServer(t), 64<<10)); err != nil {
		t.Fatal(err)
	}
	s := e.startPort(t, ssmtest.InstanceAmazonLinux, echoPort)
	const size = 256 << 10
	err := echoCheck(s, size, 3)
	if err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("echo through a target that saw a message twice: %v, want a checksum mismatch", err)
	}
	t.Logf("what the user of the stream sees: %v", err)
	// The session itself carries on: the extra bytes are just more data.
	if err := s.SetReadDeadline(time.Now().Add(e2eTimeout)); err != nil {
		t.Fatal(err)
	}
	extra := make([]byte, 1)
	if _, err := io.ReadFull(s, extra); err != nil {
		t.Errorf("the duplicate's echo did not follow: %v", err)
	}
	if st := e.session(t, s.ID).State(); st != ssmtest.SessionConnected {
		t.Errorf("session %s after the duplicate", st)
	}
}
