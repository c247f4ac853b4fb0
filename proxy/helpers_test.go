package proxy_test

import (
	"net"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// sessionsTimeout bounds the wait for the emulator to see sessions end.
const sessionsTimeout = 30 * time.Second

// waitSessionsEnded waits until the emulator has registered want sessions
// (want < 0: any number) and every one of them has ended, and fails the
// test with the ones still live after sessionsTimeout.
func waitSessionsEnded(t testing.TB, s *ssmtest.Server, want int) []*ssmtest.Session {
	t.Helper()
	deadline := time.Now().Add(sessionsTimeout)
	for {
		all := s.Sessions().All()
		var live []string
		for _, sess := range all {
			if st := sess.State(); st != ssmtest.SessionTerminated && st != ssmtest.SessionFailed {
				live = append(live, sess.ID+" "+string(st))
			}
		}
		if len(live) == 0 && (want < 0 || len(all) == want) {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d sessions (want %d), still live: %v", sessionsTimeout, len(all), want, live)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
