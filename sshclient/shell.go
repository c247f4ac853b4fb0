package sshclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/ssmssh/ssmssh/internal/tty"
)

// ErrEscapeDisconnect is returned by Shell when the user typed the ~.
// escape; the connection has been closed.
var ErrEscapeDisconnect = errors.New("sshclient: connection closed by the ~. escape")

// Terminal is the local side of an interactive session.
type Terminal struct {
	// In is the terminal the user types on (required). When it is a
	// terminal it is put in raw mode for the session and its size and
	// settings are sent; otherwise 80x24 is used. If In supports read
	// deadlines (a terminal opened with os.OpenFile, such as /dev/tty, or
	// a pipe), Shell stops reading it before returning; otherwise (a
	// blocking os.Stdin) a read may still be pending and will take the
	// next input.
	In *os.File
	// Out receives the session's output (a PTY merges stderr into it).
	Out io.Writer
	// Err receives the session's stderr stream, if the server sends one,
	// and the escape sequences' messages (nil: Out).
	Err io.Writer
	// Term is the TERM value for the remote side (default $TERM, else
	// "dumb").
	Term string
	// Command is run with the PTY instead of the login shell (ssh -t host
	// command) when not empty.
	Command string
	// EscapeChar is the escape character (0: '~'; -1: none).
	EscapeChar rune
	// Env asks the server to set these variables ("env" requests, which
	// servers accept only for names in their AcceptEnv).
	Env map[string]string
}

// defaultSize is the window size when In is not a terminal.
const defaultWidth, defaultHeight = 80, 24

// Shell starts an interactive session with a PTY on client: the login
// shell, or t.Command. The local terminal is in raw mode until Shell
// returns; TERM, the terminal's settings and size are sent, and size
// changes (SIGWINCH) are forwarded. Typing the escape character after a
// newline starts an escape: "~." closes the connection (returning
// ErrEscapeDisconnect), "~?" lists the escapes, "~B" sends a BREAK and
// "~~" sends a single '~'. End of input on t.In is passed on as EOF.
//
// The exit status and error follow Run's rules, cancelling ctx too.
func Shell(ctx context.Context, client *ssh.Client, t *Terminal) (int, error) {
	if t == nil || t.In == nil || t.Out == nil {
		return ExitConnectionError, errors.New("sshclient: Shell needs a Terminal with In and Out")
	}
	errOut := t.Err
	if errOut == nil {
		errOut = t.Out
	}
	fd, ok := tty.FD(t.In)
	var modes ssh.TerminalModes
	isTerm := false
	if ok {
		modes, isTerm = terminalModes(fd)
	}
	width, height := defaultWidth, defaultHeight
	if isTerm {
		if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
			width, height = w, h
		}
	} else {
		modes = ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	}
	termName := t.Term
	if termName == "" {
		termName = os.Getenv("TERM")
	}
	if termName == "" {
		termName = "dumb"
	}

	sess, err := client.NewSession()
	if err != nil {
		return ExitConnectionError, fmt.Errorf("sshclient: open session: %w", err)
	}
	defer sess.Close()
	for k, v := range t.Env {
		if err := sess.Setenv(k, v); err != nil {
			// Refused names are no reason to stop, as with ssh's SendEnv.
			continue
		}
	}
	if err := sess.RequestPty(termName, height, width, modes); err != nil {
		return ExitConnectionError, fmt.Errorf("sshclient: PTY request: %w", err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		return ExitConnectionError, fmt.Errorf("sshclient: %w", err)
	}
	sess.Stdout, sess.Stderr = t.Out, errOut

	if isTerm {
		state, err := term.MakeRaw(fd)
		if err != nil {
			return ExitConnectionError, fmt.Errorf("sshclient: raw mode: %w", err)
		}
		defer term.Restore(fd, state)
	}
	if t.Command != "" {
		err = sess.Start(t.Command)
	} else {
		err = sess.Shell()
	}
	if err != nil {
		return ExitConnectionError, fmt.Errorf("sshclient: start shell: %w", err)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	if isTerm {
		wg.Go(func() {
			tty.NotifyResize(done, func() {
				w, h, err := term.GetSize(fd)
				if err != nil || w <= 0 || h <= 0 || (w == width && h == height) {
					return
				}
				width, height = w, h
				sess.WindowChange(h, w)
			})
		})
	}
	in := &shellInput{
		sess:   sess,
		client: client,
		stdin:  stdin,
		errOut: errOut,
	}
	if t.EscapeChar == 0 {
		in.escape = tty.NewEscape('~')
	} else if t.EscapeChar > 0 && t.EscapeChar < 128 {
		in.escape = tty.NewEscape(byte(t.EscapeChar))
	}
	if in.escape != nil {
		in.escape.Break = true
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		in.copy(t.In)
	}()

	code, err := waitSession(ctx, sess)
	close(done)
	wg.Wait()
	// Stop reading the terminal, if it can be interrupted, so that no
	// keystroke meant for whatever comes next is swallowed.
	if t.In.SetReadDeadline(aLongTimeAgo) == nil {
		<-readerDone
		t.In.SetReadDeadline(time.Time{})
	}
	if in.disconnected() {
		return ExitConnectionError, ErrEscapeDisconnect
	}
	return code, err
}

// shellInput copies the user's typing to the session through the escape
// filter.
type shellInput struct {
	sess   *ssh.Session
	client *ssh.Client
	stdin  io.WriteCloser
	errOut io.Writer
	escape *tty.Escape // nil: no escapes

	mu   sync.Mutex
	quit bool
}

func (s *shellInput) disconnected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quit
}

func (s *shellInput) copy(r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 && !s.handle(buf[:n]) {
			return
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				s.stdin.Close()
			}
			return
		}
	}
}

// handle sends p, acting on escapes; it returns false once the
// connection is closed.
func (s *shellInput) handle(p []byte) bool {
	if s.escape == nil {
		_, err := s.stdin.Write(p)
		return err == nil
	}
	for len(p) > 0 {
		out, act, rest := s.escape.Filter(p)
		if len(out) > 0 {
			if _, err := s.stdin.Write(out); err != nil {
				return false
			}
		}
		switch act {
		case tty.Disconnect:
			fmt.Fprintf(s.errOut, "%c.\r\n", s.escape.Char())
			s.mu.Lock()
			s.quit = true
			s.mu.Unlock()
			s.client.Close()
			return false
		case tty.Help:
			io.WriteString(s.errOut, tty.EscapeHelp(s.escape.Char(), true))
		case tty.Break:
			// RFC 4335: break length in milliseconds.
			s.sess.SendRequest("break", false, ssh.Marshal(struct{ Length uint32 }{1000}))
		}
		p = rest
	}
	return true
}
