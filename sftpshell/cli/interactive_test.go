package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestCommandsFromPipe: commands piped in (no -b) are echoed after the
// prompt, a failing one is reported without ending the session, and exit
// ends it with status 0.
func TestCommandsFromPipe(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	go func() {
		_, _ = w.WriteString("pwd\ncd nowhere\nmkdir made\nexit\nmkdir never\n")
		w.Close()
	}()
	res := e.run(t, r, e.args(e.target())...)
	if res.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	want := "sftp> pwd\nRemote working directory: " + e.remote + "\nsftp> cd nowhere\nsftp> mkdir made\nsftp> exit\n"
	if res.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, want)
	}
	if want := `cd: remote path "` + filepath.Join(e.remote, "nowhere") + "\": no such file\n"; res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(e.remote, "made")); err != nil {
		t.Errorf("mkdir after the failure did not run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.remote, "never")); !os.IsNotExist(err) {
		t.Errorf("a command after exit ran (%v)", err)
	}
}

// TestInteractiveTerminal drives the shell through a pseudo-terminal: the
// prompt appears, a typed command runs (line editing: a backspace), and
// exit ends the session with status 0.
func TestInteractiveTerminal(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	var screen e2etest.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	t.Chdir(e.local)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var errb e2etest.Buffer
	done := make(chan int, 1)
	go func() {
		c := &SFTP{Stdin: tty, Stdout: tty, Stderr: &errb}
		done <- c.Main(ctx, e.args(e.target()))
	}()
	t.Cleanup(func() { cancel(); <-done }) // before the emulator stops
	waitFor(t, &screen, "sftp> ", 30*time.Second)
	// "mkdir madX", a backspace, "e": line editing makes it "made".
	if _, err := ptmx.WriteString("mkdir madX\x7fe\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := ptmx.WriteString("pwd\r"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &screen, "Remote working directory: "+e.remote, 10*time.Second)
	if _, err := ptmx.WriteString("exit\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		done <- code // for the cleanup
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s\nscreen:\n%s", code, errb.String(), screen.String())
		}
	case <-ctx.Done():
		t.Fatalf("no exit; screen:\n%s", screen.String())
	}
	if _, err := os.Stat(filepath.Join(e.remote, "made")); err != nil {
		t.Errorf("the edited mkdir did not make \"made\": %v\nscreen:\n%s", err, screen.String())
	}
	if strings.Count(screen.String(), "sftp> ") < 3 {
		t.Errorf("fewer than 3 prompts:\n%s", screen.String())
	}
}

// TestCtxEndsBlockedSession: with commands from a pipe, ctx ending
// (SIGTERM in ssmsftp) ends a session blocked reading its input, 255.
func TestCtxEndsBlockedSession(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if _, err := w.WriteString("pwd\n"); err != nil {
		t.Fatal(err)
	}
	t.Chdir(e.local)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb e2etest.Buffer
	done := make(chan int, 1)
	go func() {
		c := &SFTP{Stdin: r, Stdout: &out, Stderr: &errb}
		done <- c.Main(ctx, e.args(e.target()))
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	waitFor(t, &out, "Remote working directory", 30*time.Second)
	cancel()
	select {
	case code := <-done:
		stopped = true
		if code != ExitConnection || !strings.Contains(errb.String(), "ssmsftp: interrupted") {
			t.Errorf("exit %d, stderr %q; want 255, interrupted", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not return after ctx ended")
	}
}

// TestInterruptAtTerminal: SIGINT during a transfer at the terminal ends
// that transfer (no partial file left) and returns to the prompt, and the
// session goes on, as with OpenSSH's sftp.
func TestInterruptAtTerminal(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	e2etest.RandomFile(t, filepath.Join(e.remote, "big.bin"), 8<<20, 3)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	var screen e2etest.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	t.Chdir(e.local)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var errb e2etest.Buffer
	done := make(chan int, 1)
	go func() {
		c := &SFTP{Stdin: tty, Stdout: tty, Stderr: &errb}
		done <- c.Main(ctx, e.args(e.target()))
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, &screen, "sftp> ", 30*time.Second)
	// Slow enough that the get is still running when the signal comes.
	e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.BandwidthBytesPerSec = 1 << 20 })
	if _, err := ptmx.WriteString("get big.bin\r"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &screen, "Fetching ", 10*time.Second)
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The in-flight reads drain through the slow link first.
	waitFor(t, &errb, "interrupted", 30*time.Second)
	e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.BandwidthBytesPerSec = 0 })
	if _, err := ptmx.WriteString("pwd\r"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &screen, "Remote working directory: "+e.remote, 10*time.Second)
	if _, err := os.Stat(filepath.Join(e.local, "big.bin")); !os.IsNotExist(err) {
		t.Errorf("the interrupted get left big.bin (%v)", err)
	}
	if _, err := ptmx.WriteString("bye\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		done <- code
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
		}
	case <-ctx.Done():
		t.Fatalf("no exit; screen:\n%s", screen.String())
	}
}

// TestSessionTerminated: the Session Manager session ending under a
// session waiting for commands ends ssmsftp with 255 and one line.
func TestSessionTerminated(t *testing.T) {
	e := newEnv(t, e2etest.Options{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if _, err := w.WriteString("pwd\n"); err != nil {
		t.Fatal(err)
	}
	t.Chdir(e.local)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb e2etest.Buffer
	done := make(chan int, 1)
	go func() {
		c := &SFTP{Stdin: r, Stdout: &out, Stderr: &errb}
		done <- c.Main(ctx, e.args(e.target()))
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	waitFor(t, &out, "Remote working directory", 30*time.Second)
	sessions := e.Server.Sessions().All()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	if err := e.Server.Sessions().Terminate(sessions[0].ID, "terminated by the test"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		stopped = true
		want := "ssmsftp: connection lost: the session ended: terminated by the test\n"
		if code != ExitConnection || errb.String() != want {
			t.Errorf("exit %d, stderr %q; want 255, %q", code, errb.String(), want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not return after the session ended")
	}
}
