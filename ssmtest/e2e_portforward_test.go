package ssmtest_test

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/xtaci/smux"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// startForwarding starts a port forwarding session (smux mode, as the
// plugin runs it) and returns it with its smux client; both close in
// t.Cleanup.
func (e *env) startForwarding(t *testing.T, target, document string, params map[string][]string) (*ssmclient.Session, *smux.Session) {
	t.Helper()
	sess := e.start(t, ssmclient.StartInput{
		Target: target, DocumentName: document, Parameters: params,
		OnFlag: protocol.MuxFlagHandler(e.log.Logf), CloseFlag: protocol.FlagTerminateSession,
	})
	if p := sess.Handshake.Port; p == nil || p.Type != "LocalPortForwarding" {
		t.Fatalf("handshake port properties %+v, want type LocalPortForwarding", p)
	}
	mux, err := protocol.NewMuxClient(sess, sess.Handshake.AgentVersion)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mux.Close() })
	return sess, mux
}

// parallelEcho opens n smux streams at once and echoes size+i bytes on
// stream i, checking each echo's SHA-256.
func parallelEcho(t *testing.T, mux *smux.Session, n, size int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := mux.OpenStream()
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			errs[i] = echoCheck(st, size+i, uint64(100+i))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestPortForwardingMux: AWS-StartPortForwardingSession runs smux over the
// session; 20 streams at once each reach the instance's port through a
// connection of their own and echo intact.
func TestPortForwardingMux(t *testing.T) {
	const streams, size = 20, 128 << 10
	e := newEnv(t, ssmtest.Options{})
	addr, accepted := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", addr); err != nil {
		t.Fatal(err)
	}
	_, mux := e.startForwarding(t, ssmtest.InstanceUbuntu, ssmclient.DocumentPortForwarding,
		map[string][]string{"portNumber": {"8080"}, "localPortNumber": {"0"}})
	parallelEcho(t, mux, streams, size)
	if n := accepted.Load(); n != streams {
		t.Errorf("the instance's port saw %d connections for %d streams", n, streams)
	}
	// A port nothing listens on fails its stream, not the session.
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", ""); err != nil {
		t.Fatal(err)
	}
	st, err := mux.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetDeadline(time.Now().Add(e2eTimeout)); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("stream to a closed port: Read = %d, %v; want EOF", n, err)
	}
	st.Close()
	if err := e.s.Fleet().SetPort(ssmtest.InstanceUbuntu, "8080", addr); err != nil {
		t.Fatal(err)
	}
	parallelEcho(t, mux, 2, 1000)
}

// TestPortForwardingRemoteHost: AWS-StartPortForwardingSessionToRemoteHost
// reaches a host the instance can see (mapped with Fleet.SetRemoteHost),
// and the agent refuses the instance metadata service.
func TestPortForwardingRemoteHost(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	addr, accepted := e2etest.CountingEchoServer(t)
	if err := e.s.Fleet().SetRemoteHost(ssmtest.InstanceAmazonLinux, "db.internal:5432", addr); err != nil {
		t.Fatal(err)
	}
	sess, mux := e.startForwarding(t, ssmtest.InstanceAmazonLinux, ssmclient.DocumentPortForwardingRemote,
		map[string][]string{"host": {"db.internal"}, "portNumber": {"5432"}, "localPortNumber": {"0"}})
	if h := sess.Handshake.Port.Host; h != "db.internal" {
		t.Errorf("handshake host %q, want db.internal", h)
	}
	parallelEcho(t, mux, 4, 64<<10)
	if n := accepted.Load(); n != 4 {
		t.Errorf("the remote host saw %d connections for 4 streams", n)
	}

	for _, host := range []string{"169.254.169.254", "fd00:ec2::254"} {
		t.Run(host, func(t *testing.T) {
			sess := e.start(t, ssmclient.StartInput{
				Target: ssmtest.InstanceAmazonLinux, DocumentName: ssmclient.DocumentPortForwardingRemote,
				Parameters: map[string][]string{"host": {host}, "portNumber": {"80"}, "localPortNumber": {"0"}},
				OnFlag:     protocol.MuxFlagHandler(e.log.Logf),
			})
			// The handshake succeeds; then the agent refuses the
			// destination and ends the session.
			want := fmt.Sprintf("Forwarding to IP address %s is forbidden.", host)
			if se := readEnd(t, sess); se.Output != want {
				t.Errorf("session ended with %q, want %q", se.Output, want)
			}
			rec := e.session(t, sess.ID)
			if st := e.waitEnded(t, sess.ID); st != ssmtest.SessionFailed || rec.Output() != want {
				t.Errorf("registry: %s with %q, want Failed with the agent's text", st, rec.Output())
			}
		})
	}
}
