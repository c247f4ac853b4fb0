package ssmtest

import (
	"errors"
	"regexp"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// newTestRegistry runs a registry with its sweeper inside the current
// synctest bubble and records what OnTerminate is told.
func newTestRegistry(t *testing.T, idle, maxDur time.Duration) (*Sessions, func() []string) {
	r := newSessions(time.Now, idle, maxDur, t.Logf)
	var mu sync.Mutex
	var ends []string
	r.setHooks(Hooks{OnTerminate: func(s *Session, reason string) {
		mu.Lock()
		defer mu.Unlock()
		ends = append(ends, s.ID+": "+reason)
	}})
	r.run()
	t.Cleanup(r.close)
	return r, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ends...)
	}
}

func startTestSession(t *testing.T, r *Sessions) (*Session, string) {
	t.Helper()
	s := &Session{Target: InstanceUbuntu, DocumentName: DocRunShell}
	tok, err := r.start(s, "tester")
	if err != nil {
		t.Fatal(err)
	}
	return s, tok
}

func TestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, ends := newTestRegistry(t, 20*time.Minute, 0)
		s, _ := startTestSession(t, r)

		time.Sleep(15 * time.Minute)
		r.Touch(s.ID) // activity postpones the timeout to 35 min
		time.Sleep(19 * time.Minute)
		synctest.Wait()
		if st := s.State(); st != SessionConnecting {
			t.Fatalf("after 34 min with activity at 15: %s", st)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := s.State(); st != SessionTerminated || s.Output() != ReasonIdleTimeout {
			t.Fatalf("after 35 min: %s (%q)", st, s.Output())
		}
		if got := ends(); len(got) != 1 || got[0] != s.ID+": "+ReasonIdleTimeout {
			t.Fatalf("OnTerminate got %q", got)
		}
		if want := time.Date(2000, 1, 1, 0, 35, 0, 0, time.UTC); !s.EndDate().Equal(want) {
			t.Errorf("end date %v, want %v", s.EndDate(), want)
		}
	})
}

func TestMaxSessionDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, ends := newTestRegistry(t, 20*time.Minute, time.Hour)
		s, _ := startTestSession(t, r)
		for range 59 { // busy all the time: the idle timeout never fires
			time.Sleep(time.Minute)
			r.Touch(s.ID)
		}
		synctest.Wait()
		if st := s.State(); st != SessionConnecting {
			t.Fatalf("after 59 busy minutes: %s", st)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := s.State(); st != SessionTerminated || s.Output() != ReasonMaxDuration {
			t.Fatalf("after an hour: %s (%q)", st, s.Output())
		}
		if len(ends()) != 1 {
			t.Fatalf("OnTerminate got %q", ends())
		}
	})
}

func TestNoTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, ends := newTestRegistry(t, 0, 0)
		s, _ := startTestSession(t, r)
		time.Sleep(100 * time.Hour)
		synctest.Wait()
		if s.State() != SessionConnecting || len(ends()) != 0 {
			t.Fatalf("a session without limits ended: %s %q", s.State(), ends())
		}
		if err := r.Terminate(s.ID, "done"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestClientTokenExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _ := newTestRegistry(t, 0, 0)
		s, tok := startTestSession(t, r)
		time.Sleep(ClientTokenTTL)
		if _, err := r.ClaimClientToken(s.ID, tok); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("claim after %v: %v, want ErrTokenExpired", ClientTokenTTL, err)
		}
		_, fresh, err := r.resume(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(ClientTokenTTL - time.Second)
		if _, err := r.ClaimClientToken(s.ID, fresh); err != nil {
			t.Fatalf("claim of a fresh token within its lifetime: %v", err)
		}
	})
}

// TestTerminateHookEndsSession: a hook that reports the end itself (as
// the gateway does when the agent answers) decides the final state.
func TestTerminateHookEndsSession(t *testing.T) {
	r := newSessions(time.Now, 0, 0, t.Logf)
	r.setHooks(Hooks{OnTerminate: func(s *Session, reason string) {
		if s.State() != SessionTerminating {
			t.Errorf("state during OnTerminate = %s", s.State())
		}
		r.End(s.ID, "agent said: bye", true)
	}})
	s, _ := startTestSession(t, r)
	if err := r.Terminate(s.ID, "stop"); err != nil {
		t.Fatal(err)
	}
	if s.State() != SessionFailed || s.Output() != "agent said: bye" {
		t.Fatalf("state %s output %q", s.State(), s.Output())
	}
	if err := r.Terminate("tester-00000000000000000", "stop"); !errors.Is(err, ErrNoSuchSession) {
		t.Fatalf("terminate unknown: %v", err)
	}
}

func TestSessionIDsAreUnique(t *testing.T) {
	r := newSessions(time.Now, 0, 0, t.Logf)
	re := regexp.MustCompile(`^tester-[0-9a-f]{17}$`)
	seen := map[string]bool{}
	for range 1000 {
		s, _ := startTestSession(t, r)
		if seen[s.ID] || !re.MatchString(s.ID) {
			t.Fatalf("id %q repeated or malformed", s.ID)
		}
		seen[s.ID] = true
	}
}
