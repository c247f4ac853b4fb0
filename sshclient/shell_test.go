//go:build linux

package sshclient

import (
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/ssmssh/ssmssh/internal/tty"
)

// ptyUser is the user's side of a pseudo-terminal: the test types into
// the master and reads what the terminal shows; tty is the slave that
// Shell gets as its terminal.
type ptyUser struct {
	t    *testing.T
	ptmx *os.File
	tty  *os.File

	mu     sync.Mutex
	cond   *sync.Cond
	screen strings.Builder
	err    error
	read   chan struct{}
}

func newPtyUser(t *testing.T, rows, cols uint16) *ptyUser {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	u := &ptyUser{t: t, ptmx: ptmx, tty: tty, read: make(chan struct{})}
	u.cond = sync.NewCond(&u.mu)
	go func() {
		defer close(u.read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			u.mu.Lock()
			u.screen.Write(buf[:n])
			if err != nil {
				u.err = err
			}
			u.cond.Broadcast()
			u.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		tty.Close()
		ptmx.Close()
		<-u.read
	})
	return u
}

func (u *ptyUser) typ(s string) {
	u.t.Helper()
	if _, err := u.ptmx.Write([]byte(s)); err != nil {
		u.t.Fatalf("typing %q: %v", s, err)
	}
}

// sizeOutput is the line `echo "SZ$(stty size)Z"` prints.
var sizeOutput = regexp.MustCompile(`SZ(\d+ \d+)Z\r\n$`)

// waitFor waits until the screen shows want (after offset bytes) and
// returns the offset just past it.
func (u *ptyUser) waitFor(want string, offset int) int {
	u.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	stop := time.AfterFunc(20*time.Second, func() {
		u.mu.Lock()
		u.cond.Broadcast()
		u.mu.Unlock()
	})
	defer stop.Stop()
	u.mu.Lock()
	defer u.mu.Unlock()
	for {
		s := u.screen.String()
		if offset <= len(s) {
			if i := strings.Index(s[offset:], want); i >= 0 {
				return offset + i + len(want)
			}
		}
		if u.err != nil || time.Now().After(deadline) {
			u.t.Fatalf("waiting for %q (err %v); screen:\n%q", want, u.err, s)
		}
		u.cond.Wait()
	}
}

func (u *ptyUser) text() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.screen.String()
}

func mustFD(t *testing.T, f *os.File) int {
	fd, ok := tty.FD(f)
	if !ok {
		t.Fatal("no descriptor")
	}
	return fd
}

type shellResult struct {
	code int
	err  error
}

func startShell(t *testing.T, client *ssh.Client, term *Terminal) chan shellResult {
	done := make(chan shellResult, 1)
	go func() {
		code, err := Shell(t.Context(), client, term)
		done <- shellResult{code, err}
	}()
	return done
}

func waitShell(t *testing.T, done chan shellResult) shellResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("Shell did not return")
		return shellResult{}
	}
}

// TestShell drives an interactive session through a pseudo-terminal:
// TERM and the window size arrive, a resize (SIGWINCH) is forwarded,
// ~? and ~~ work, the exit status comes back and the terminal's settings
// are restored.
func TestShell(t *testing.T) {
	key := newSigner(t)
	for _, srv := range servers(t, key.PublicKey()) {
		t.Run(srv.name, func(t *testing.T) {
			client := srv.mustDial(t, srv.testConfig(t, key))
			u := newPtyUser(t, 30, 100)
			before, err := unix.IoctlGetTermios(mustFD(t, u.tty), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			done := startShell(t, client, &Terminal{
				In: u.tty, Out: u.tty, Term: "xterm-ssmssh",
				Env: map[string]string{"LC_SSMTEST": "from-client"},
			})

			u.typ("echo \"T:$TERM E:$LC_SSMTEST\"; echo \"SZ:$(stty size)\"\r")
			off := u.waitFor("T:xterm-ssmssh E:from-client", 0)
			off = u.waitFor("SZ:30 100", off)

			// Resize the terminal and tell the process, as the kernel
			// would tell the foreground process group.
			if err := pty.Setsize(u.ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
				t.Fatal(err)
			}
			// The window-change request and the typed line travel
			// separately; ask until the new size shows.
			for i := 0; ; i++ {
				u.typ("echo \"SZ$(stty size)Z\"\r")
				// The output may follow a prompt on the same line (the
				// line was typed ahead), and the echoed command has
				// Z" where the output has Z and a line end.
				end := u.waitFor("Z\r\n", off)
				m := sizeOutput.FindStringSubmatch(u.text()[off:end])
				off = end
				if m != nil && m[1] == "40 120" {
					break
				}
				if i == 50 {
					t.Fatalf("size after resize: %q", m)
				}
				time.Sleep(20 * time.Millisecond)
			}

			// ~? lists the escapes; ~~ sends a single ~.
			u.typ("\r~?")
			off = u.waitFor("Supported escape sequences:", off)
			// Type only once cat runs: the shell would keep typeahead.
			u.typ("echo cat-$((1+1)); cat\r")
			off = u.waitFor("cat-2\r\n", off)
			u.typ("~~tilde\r")
			u.waitFor("~tilde\r\n~tilde", off)
			if strings.Contains(u.text(), "~~tilde") {
				t.Error("~~ was sent as two tildes")
			}
			u.typ("\x04") // EOF to cat
			u.typ("exit 7\r")
			r := waitShell(t, done)
			var exit *ssh.ExitError
			if r.code != 7 || !errors.As(r.err, &exit) {
				t.Errorf("Shell = %d, %v; want 7 and an *ssh.ExitError", r.code, r.err)
			}
			after, err := unix.IoctlGetTermios(mustFD(t, u.tty), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if *after != *before {
				t.Errorf("terminal settings not restored:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// TestShellEscapeDisconnect: ~. after a newline closes the connection.
func TestShellEscapeDisconnect(t *testing.T) {
	key := newSigner(t)
	for _, srv := range servers(t, key.PublicKey()) {
		t.Run(srv.name, func(t *testing.T) {
			client := srv.mustDial(t, srv.testConfig(t, key))
			u := newPtyUser(t, 24, 80)
			done := startShell(t, client, &Terminal{In: u.tty, Out: u.tty})
			u.typ("echo ready-$((6*7))\r")
			off := u.waitFor("ready-42", 0)
			u.typ("\r~.")
			r := waitShell(t, done)
			if r.code != ExitConnectionError || !errors.Is(r.err, ErrEscapeDisconnect) {
				t.Errorf("Shell = %d, %v; want 255, ErrEscapeDisconnect", r.code, r.err)
			}
			u.waitFor("~.\r\n", off)
			if _, _, err := client.SendRequest("x", true, nil); err == nil {
				t.Error("the connection is still open")
			}
		})
	}
}

// TestShellNotATerminal: input that is not a terminal gets 80x24, no raw
// mode, and its EOF ends the shell.
func TestShellNotATerminal(t *testing.T) {
	key := newSigner(t)
	srv := startBuiltin(t)
	srv.authorize(t, key.PublicKey())
	client := srv.mustDial(t, srv.testConfig(t, key))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := &lockedBuffer{}
	go func() {
		io.WriteString(w, "echo \"SZ:$(stty size)\"\rexit 3\r")
		w.Close()
	}()
	code, err := Shell(t.Context(), client, &Terminal{In: r, Out: out, EscapeChar: -1})
	if code != 3 || !strings.Contains(out.String(), "SZ:24 80") {
		t.Errorf("Shell = %d, %v; output %q", code, err, out.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
