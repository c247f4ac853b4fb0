package ssmtest_test

import (
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// realAgentBound is the most the real agent can send a client: one
// 1024-byte read of its target per millisecond of sleep.
const realAgentBound = 1024 * 1000 // bytes per second

// checkPacedRate fails the test when n bytes that came back through the
// paced agent in elapsed beat the real agent's bound (which cannot happen
// when every read of at most 1 KiB is followed by a 1 ms sleep: n bytes
// take at least n/1024 - 1 pauses), or crawled below a loose floor that
// even a loaded 2-core CI with the race detector clears.
func checkPacedRate(t *testing.T, n int, elapsed time.Duration) {
	t.Helper()
	rate := float64(n) / elapsed.Seconds()
	t.Logf("%d KiB back through the paced agent in %v: %.0f KiB/s (the real agent's bound: %d KiB/s)",
		n>>10, elapsed.Round(time.Millisecond), rate/1024, realAgentBound/1024)
	if minimum := time.Duration(n/1024-1) * time.Millisecond; elapsed < minimum {
		t.Errorf("%d bytes in %v, faster than the real agent's 1024 bytes per ms allows (at least %v)", n, elapsed, minimum)
	}
	if rate < 64<<10 {
		t.Errorf("%.0f KiB/s, below even a loaded machine's floor of 64 KiB/s", rate/1024)
	}
}

// TestAgentPaceBound: with RealAgentPace, a 4 MiB download through a basic
// Port session (AWS-StartSSHSession, what ssmproxy runs) and 512 KiB through
// an smux stream of port forwarding come back no faster than the real
// agent can send (about 1 MB/s), with equal SHA-256. The upload half of
// each echo is not paced, as the real agent does not pace what it writes
// to its target.
func TestAgentPaceBound(t *testing.T) {
	e := newEnv(t, ssmtest.Options{AgentPace: ssmtest.RealAgentPace})
	if got := e.s.AgentPace(); got != ssmtest.RealAgentPace {
		t.Fatalf("AgentPace() = %+v, want %+v", got, ssmtest.RealAgentPace)
	}
	addr := e2etest.EchoServer(t)
	for _, id := range []string{ssmtest.InstanceAmazonLinux, ssmtest.InstanceUbuntu} {
		if err := e.s.Fleet().SetPort(id, "7000", addr); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("basic", func(t *testing.T) {
		const size = 4 << 20
		sess := e.startPort(t, ssmtest.InstanceAmazonLinux, "7000")
		checkPacedRate(t, size, echoRoundTrip(t, sess, size, 1))
	})
	t.Run("mux", func(t *testing.T) {
		const size = 512 << 10
		_, mux := e.startForwarding(t, ssmtest.InstanceUbuntu, ssmclient.DocumentPortForwarding,
			map[string][]string{"portNumber": {"7000"}, "localPortNumber": {"0"}})
		st, err := mux.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		start := time.Now()
		if err := echoCheck(st, size, 2); err != nil {
			t.Fatal(err)
		}
		checkPacedRate(t, size, time.Since(start))
	})
}
