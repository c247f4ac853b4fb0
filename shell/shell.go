package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/ssmssh/ssmssh/internal/tty"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// ExitFailure is the exit status of a session that failed or was left
// with the ~. escape: 255, as ssh's.
const ExitFailure = 255

// ErrEscapeDisconnect is Run's error when the user typed the ~. escape.
var ErrEscapeDisconnect = errors.New("shell: session left with the ~. escape")

// Conn is a session's data stream as Run uses it; *protocol.Conn and
// *ssmclient.Session (whose read errors name why the service ended the
// session) both are one.
type Conn interface {
	io.Reader
	io.Writer
	// SetWindowSize sends the terminal size.
	SetWindowSize(cols, rows int) error
	// ExitCode is the command's exit status, once the stream has ended,
	// if the agent sent one.
	ExitCode() (int, bool)
}

var (
	_ Conn = (*protocol.Conn)(nil)
	_ Conn = (*ssmclient.Session)(nil)
)

// Options are the local side of a session.
type Options struct {
	// Stdin is what the user types (nil: nothing). See Terminal.
	Stdin io.Reader
	// Stdout receives the session's output (required).
	Stdout io.Writer
	// Stderr receives Run's own messages (the escapes' "~." and help);
	// nil: Stdout.
	Stderr io.Writer
	// Terminal says the remote side is a pseudo-terminal (shells and
	// interactive commands): Stdin is sent to it, through the escapes,
	// and, when Stdin is an *os.File that is a terminal, that terminal is
	// in raw mode until Run returns and its size is sent (80x24 when
	// Stdin is no terminal). Without Terminal, Stdin is not read unless
	// Input is set.
	Terminal bool
	// Input, without Terminal, sends Stdin to a command as it is read: no
	// escapes, and its end sends nothing (the agent's non-interactive
	// commands scan their input for Ctrl-C and Ctrl-\ themselves).
	Input bool
	// EscapeChar is the escape character: 0 means '~', a negative value
	// none (escapes need Terminal).
	EscapeChar int
	// Signals are local signals to pass on as the control characters a
	// terminal would send (SIGINT ^C, SIGQUIT ^\, SIGTSTP ^Z); others are
	// ignored. nil: none.
	Signals <-chan os.Signal
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// Default terminal size when Stdin is not a terminal.
const defaultCols, defaultRows = 80, 24

// eofChar is the terminal's end-of-file character (VEOF, Ctrl-D).
const eofChar = 0x04

// Run joins the user's terminal to a shell or command session's stream
// until the session ends, ctx is cancelled or the user leaves with ~.,
// and returns the exit status (see the package documentation). It does
// not close conn: the caller closes the session, which also stops a
// stream Run is still reading after ctx was cancelled.
//
// A goroutine reading Stdin may outlive Run when Stdin cannot be
// interrupted (a blocking os.Stdin): its next read's bytes are dropped.
// An *os.File that supports read deadlines (a terminal opened with
// os.OpenFile, a pipe) is interrupted before Run returns.
func Run(ctx context.Context, conn Conn, opts Options) (int, error) {
	if conn == nil || opts.Stdout == nil {
		return ExitFailure, errors.New("shell: Run needs a Conn and Options.Stdout")
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	errOut := opts.Stderr
	if errOut == nil {
		errOut = opts.Stdout
	}
	inFile, _ := opts.Stdin.(*os.File)
	fd, isTerm := -1, false
	if opts.Terminal && inFile != nil {
		if d, ok := tty.FD(inFile); ok && term.IsTerminal(d) {
			fd, isTerm = d, true
		}
	}

	if opts.Terminal {
		cols, rows := defaultCols, defaultRows
		if isTerm {
			if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
				cols, rows = w, h
			}
			state, err := term.MakeRaw(fd)
			if err != nil {
				return ExitFailure, fmt.Errorf("shell: raw mode: %w", err)
			}
			defer term.Restore(fd, state)
		}
		if err := conn.SetWindowSize(cols, rows); err != nil {
			return ExitFailure, fmt.Errorf("shell: send the terminal size: %w", err)
		}
		logf("shell: terminal %dx%d", cols, rows)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)

	if isTerm {
		wg.Go(func() {
			lastW, lastH, _ := term.GetSize(fd)
			tty.NotifyResize(done, func() {
				w, h, err := term.GetSize(fd)
				if err != nil || w <= 0 || h <= 0 || (w == lastW && h == lastH) {
					return
				}
				lastW, lastH = w, h
				if err := conn.SetWindowSize(w, h); err != nil {
					logf("shell: send the terminal size: %v", err)
					return
				}
				logf("shell: terminal resized to %dx%d", w, h)
			})
		})
	}
	if opts.Signals != nil {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				case sig := <-opts.Signals:
					if b, ok := signalChars[sig]; ok {
						logf("shell: passing %v on as %q", sig, b)
						if _, err := conn.Write([]byte{b}); err != nil {
							logf("shell: send %v: %v", sig, err)
						}
					}
				}
			}
		})
	}

	escaped := make(chan struct{})
	var readerDone chan struct{}
	if opts.Terminal && opts.Stdin != nil {
		in := &input{conn: conn, errOut: errOut, escaped: escaped, logf: logf}
		switch {
		case opts.EscapeChar == 0:
			in.escape = tty.NewEscape('~')
		case opts.EscapeChar > 0 && opts.EscapeChar < 128:
			in.escape = tty.NewEscape(byte(opts.EscapeChar))
		}
		readerDone = make(chan struct{})
		go func() {
			defer close(readerDone)
			in.copy(opts.Stdin)
		}()
	} else if opts.Input && opts.Stdin != nil {
		readerDone = make(chan struct{})
		go func() {
			defer close(readerDone)
			if _, err := io.Copy(conn, opts.Stdin); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				logf("shell: send input: %v", err)
			}
		}()
	}

	outDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(opts.Stdout, conn)
		outDone <- err
	}()

	var code int
	var err error
	select {
	case err = <-outDone:
		code, err = result(conn, err)
	case <-escaped:
		code, err = ExitFailure, ErrEscapeDisconnect
	case <-ctx.Done():
		code, err = ExitFailure, ctx.Err()
	}
	// Stop reading the terminal, if it can be interrupted, so that no
	// keystroke meant for whatever comes next is swallowed.
	if readerDone != nil && inFile != nil && inFile.SetReadDeadline(time.Unix(1, 0)) == nil {
		<-readerDone
		_ = inFile.SetReadDeadline(time.Time{})
	}
	return code, err
}

// result turns the end of the output stream into the exit status.
func result(conn Conn, err error) (int, error) {
	var ended *ssmclient.SessionEndedError
	var closed *protocol.ChannelClosedError
	switch {
	case err == nil, errors.As(err, &ended) && ended.Output == "",
		errors.As(err, &closed) && closed.Output == "":
		if code, ok := conn.ExitCode(); ok {
			if code < 0 || code > 255 {
				// Killed by a signal (the agent says -1): as a shell
				// reports it, without knowing which.
				code = 128 + 1
			}
			return code, nil
		}
		return 0, nil
	case errors.As(err, &ended), errors.As(err, &closed):
		return ExitFailure, err
	}
	return ExitFailure, fmt.Errorf("shell: %w", err)
}

// input copies the user's typing to the session through the escapes.
type input struct {
	conn    Conn
	errOut  io.Writer
	escape  *tty.Escape // nil: no escapes
	escaped chan struct{}
	logf    func(string, ...any)
}

func (in *input) copy(r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 && !in.handle(buf[:n]) {
			return
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// The terminal's end of file, for a shell fed from a pipe.
				if _, werr := in.conn.Write([]byte{eofChar}); werr != nil {
					in.logf("shell: send end of file: %v", werr)
				}
			} else if !errors.Is(err, os.ErrDeadlineExceeded) {
				in.logf("shell: read input: %v", err)
			}
			return
		}
	}
}

// handle sends p, acting on escapes; it returns false once the session
// is to be left or the stream is broken.
func (in *input) handle(p []byte) bool {
	if in.escape == nil {
		_, err := in.conn.Write(p)
		return err == nil
	}
	for len(p) > 0 {
		out, act, rest := in.escape.Filter(p)
		if len(out) > 0 {
			if _, err := in.conn.Write(out); err != nil {
				return false
			}
		}
		switch act {
		case tty.Disconnect:
			fmt.Fprintf(in.errOut, "%c.\r\n", in.escape.Char())
			close(in.escaped)
			return false
		case tty.Help:
			_, _ = io.WriteString(in.errOut, tty.EscapeHelp(in.escape.Char(), false))
		}
		p = rest
	}
	return true
}
