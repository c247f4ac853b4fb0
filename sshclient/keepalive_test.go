package sshclient

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestServerAliveTimeout: a server that stops answering is given up
// after ServerAliveCountMax unanswered intervals, as OpenSSH does
// (interval × (count+1) after the last answer).
func TestServerAliveTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		user := newSigner(t)
		srv, _ := recordingServer(t, user.PublicKey(), nil)
		srv.globalRequests = make(chan *ssh.Request, 100) // never answered
		cfg := knownPipeConfig(t, srv)
		cfg.ExtraSigners = []ssh.Signer{user}
		cfg.ServerAliveInterval, cfg.ServerAliveCountMax = 15*time.Second, 3
		var mu sync.Mutex
		var warnings []string
		cfg.Warnf = func(f string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			warnings = append(warnings, fmt.Sprintf(f, a...))
		}
		c, err := Dial(context.Background(), srv.connect(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.Wait()
		if d := time.Since(start); d != 60*time.Second {
			t.Errorf("closed after %v, want 60s", d)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(warnings) != 1 || warnings[0] != "Timeout, server pipe-host not responding." {
			t.Errorf("warnings %q", warnings)
		}
		r := <-srv.globalRequests
		if r.Type != "keepalive@openssh.com" || !r.WantReply {
			t.Errorf("request %q want-reply %v", r.Type, r.WantReply)
		}
	})
}

// TestServerAliveAnswered: a server that answers (even with a failure,
// as OpenSSH's sshd does) keeps the connection up.
func TestServerAliveAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		user := newSigner(t)
		srv, _ := recordingServer(t, user.PublicKey(), nil)
		srv.globalRequests = make(chan *ssh.Request)
		var answered int
		done := make(chan struct{})
		go func() {
			defer close(done)
			for r := range srv.globalRequests {
				answered++
				r.Reply(false, nil)
			}
		}()
		defer func() {
			if t.Failed() {
				close(srv.globalRequests)
			}
		}()
		cfg := knownPipeConfig(t, srv)
		cfg.ExtraSigners = []ssh.Signer{user}
		cfg.ServerAliveInterval, cfg.ServerAliveCountMax = 10*time.Second, 1
		cfg.Warnf = func(f string, a ...any) { t.Errorf("warning: "+f, a...) }
		c, err := Dial(context.Background(), srv.connect(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if _, _, err := c.SendRequest("still-there", true, nil); err != nil {
			t.Errorf("connection closed: %v", err)
		}
		c.Close()
		c.Wait()
		synctest.Wait() // the server has seen the end too
		close(srv.globalRequests)
		<-done
		if answered < 30 {
			t.Errorf("%d keepalives answered in 5 minutes at 10 s intervals", answered)
		}
	})
}
