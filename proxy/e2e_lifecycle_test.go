package proxy_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// endKind is a way an ssh invocation through ssmproxy ends.
type endKind int

const (
	endNormal        endKind = iota // the remote command exits
	endSSHKilled                    // ssh is killed with SIGKILL: ssmproxy sees stdin EOF
	endSSHKilledBusy                // the same while the remote side floods stdout
	endSIGHUP                       // ssmproxy gets SIGHUP, as from OpenSSH
	endRemoteClose                  // sshd's side of the connection dies
	endTerminated                   // someone else calls TerminateSession
	endProxyKilled                  // ssmproxy is killed with SIGKILL: the service reaps the session
	endKinds
)

func (k endKind) String() string {
	return [...]string{"normal-exit", "ssh-killed", "ssh-killed-busy", "sighup", "remote-close", "terminated", "ssmproxy-killed"}[k]
}

// reasonClientGone is the emulator's reason for a session whose client
// vanished and did not come back within the reconnect window.
const reasonClientGone = "The client disconnected and did not reconnect."

// reconnectWindow is the emulator's client reconnect window in
// TestSessionsNeverLinger: short, so that vanished clients are reaped
// within the test, and long beside ssmproxy's own cleanup.
const reconnectWindow = 2 * time.Second

// stepTimeout bounds each wait for one invocation's next step.
const stepTimeout = 30 * time.Second

var sessionOpenRe = regexp.MustCompile(`ssmproxy: session (\S+) open to `)

// TestSessionsNeverLinger runs 50 ssh invocations through ssmproxy that
// end in every way, and then requires every session to have ended: those
// ssmproxy saw end by its TerminateSession or by the agent, not by the
// service reaping a vanished client; only a killed ssmproxy leaves its
// session to the reaper.
func TestSessionsNeverLinger(t *testing.T) {
	const invocations = 50
	e := e2etest.Start(t, e2etest.Options{
		Emulator:  ssmtest.Options{ClientReconnectWindow: reconnectWindow},
		ProxyArgs: []string{"-v"},
	})
	var (
		mu    sync.Mutex
		kinds = map[string]endKind{} // by session id
	)
	t.Run("invocations", func(t *testing.T) {
		for i := range invocations {
			kind := endKind(i % int(endKinds))
			t.Run(fmt.Sprintf("%02d-%s", i, kind), func(t *testing.T) {
				t.Parallel()
				id := invokeAndEnd(t, e, kind)
				mu.Lock()
				kinds[id] = kind
				mu.Unlock()
			})
		}
	})
	all := waitSessionsEnded(t, e.Server, invocations)
	counts := map[endKind]int{}
	for _, sess := range all {
		kind, ok := kinds[sess.ID]
		if !ok {
			t.Errorf("session %s was started by no invocation", sess.ID)
			continue
		}
		counts[kind]++
		reaped := sess.Output() == reasonClientGone
		if reaped != (kind == endProxyKilled) {
			t.Errorf("%s session %s ended %s with %q", kind, sess.ID, sess.State(), sess.Output())
		}
	}
	t.Logf("sessions by end: %v", counts)
}

// invokeAndEnd runs one ssh through ssmproxy, ends it the way kind says,
// checks what ssh and ssmproxy did, and returns the session id.
func invokeAndEnd(t *testing.T, e *e2etest.Env, kind endKind) string {
	remote := "echo ready; exec sleep 300"
	switch kind {
	case endNormal:
		remote = "echo ready"
	case endSSHKilledBusy:
		// Output keeps coming: ssmproxy's writes to the dead ssh's pipe
		// fail with EPIPE (which must not kill it before it terminates the
		// session).
		remote = "echo ready; exec cat /dev/zero"
	case endRemoteClose:
		// The command's parent is sshd's process for the connection; it
		// dies when the test says so, after "ready" has come through.
		remote = "echo ready; read go; kill -9 $PPID; sleep 300"
	}
	cmd := sshCmd(e, nil, e.Instance, remote)
	cmd.Stdout = &e2etest.Buffer{Max: 64 << 10}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	p := e2etest.StartProc(t, cmd)
	p.WaitOutput(t, "ready\n", stepTimeout)
	m := sessionOpenRe.FindStringSubmatch(p.Stderr())
	if m == nil {
		t.Fatalf("ssmproxy -v did not report the session: %q", p.Stderr())
	}
	id := m[1]
	var proxyPID int
	if kind != endNormal && kind != endRemoteClose {
		proxyPID = e2etest.FindDescendant(t, p.Cmd.Process.Pid, "ssmproxy", stepTimeout)
	}

	wantCode := 255 // ssh's status when the connection is lost
	switch kind {
	case endNormal:
		wantCode = 0
	case endSSHKilled, endSSHKilledBusy:
		if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		wantCode = -1
	case endSIGHUP:
		if err := syscall.Kill(proxyPID, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	case endRemoteClose:
		if _, err := stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
	case endTerminated:
		if err := e.Server.Sessions().Terminate(id, ssmtest.ReasonTerminated); err != nil {
			t.Fatal(err)
		}
	case endProxyKilled:
		if err := syscall.Kill(proxyPID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	if code := p.Wait(t, stepTimeout); code != wantCode {
		t.Errorf("ssh exited %d, want %d; stderr:\n%s", code, wantCode, p.Stderr())
	}
	if kind == endSSHKilled || kind == endSSHKilledBusy {
		// Orphaned, ssmproxy must notice stdin's EOF and end by itself.
		waitGone(t, proxyPID, stepTimeout)
	}
	stderr := p.Stderr()
	switch kind {
	case endTerminated:
		// The user reads the service's reason. (The emulator's gateway
		// tells the agent to end the session before it tells the client
		// why, and the agent's ordinary end sometimes reaches the client
		// first: then there is no reason to print, and none may be made
		// up.)
		want := "ssmproxy: the session ended: " + ssmtest.ReasonTerminated + "\n"
		if strings.Contains(stderr, "ssmproxy: the session ended") && !strings.Contains(stderr, want) {
			t.Errorf("ssh's stderr lacks %q:\n%s", want, stderr)
		}
	case endNormal, endSIGHUP, endRemoteClose:
		if !strings.Contains(stderr, "ssmproxy: session "+id+" closed: ") {
			t.Errorf("ssmproxy did not report closing the session:\n%s", stderr)
		}
		if strings.Contains(stderr, "ssmproxy: the session ended") {
			t.Errorf("an ordinary end reported as a failure:\n%s", stderr)
		}
	}
	return id
}

// waitGone waits until process pid has exited (a zombie counts as gone).
func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running %v after ssh was killed", pid, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
