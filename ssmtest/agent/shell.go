package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/ssmssh/ssmssh/protocol"
)

// DefaultShell is the shell of Standard_Stream sessions and the
// interpreter of InteractiveCommands sessions when ShellOptions.Shell is
// empty. The real agent runs "sh" from its PATH.
const DefaultShell = "/bin/sh"

// ShellOptions configures a shell or command session (Standard_Stream,
// InteractiveCommands and NonInteractiveCommands).
type ShellOptions struct {
	// Shell is the program of Standard_Stream sessions and runs
	// InteractiveCommands as Shell -c <commands> (default DefaultShell).
	Shell string
	// Profile is the document's shellProfile for Linux: commands written
	// to the terminal, followed by a newline, right after the shell starts
	// (Standard_Stream only).
	Profile string
	// RunAs selects the OS user.
	RunAs RunAs
	// SeparateOutputStream, StdOutPrefix and StdErrPrefix are the
	// NonInteractiveCommands properties separateOutputStream,
	// stdOutSeparatorPrefix and stdErrSeparatorPrefix; see RunCommand.
	SeparateOutputStream bool
	StdOutPrefix         string
	StdErrPrefix         string
	// Pacer paces terminal and command output (nil: unpaced); see Pace.
	// Separate output streams of NonInteractiveCommands are never paced,
	// as in the real agent.
	Pacer *Pacer
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

func (o *ShellOptions) shell() string {
	if o.Shell == "" {
		return DefaultShell
	}
	return o.Shell
}

// RunShell runs a Standard_Stream session: the shell on a new
// pseudo-terminal, as opts.RunAs says. Client Output payloads are written to
// the terminal and Size payloads resize it; Flag payloads are ignored, as
// by the agent's shell plugin (the client ends a shell session through the
// service, which cancels ctx here). Terminal output is sent as Output
// payloads. The shell's exit ends the session successfully; its exit
// status is not reported, by the real agent either.
//
// A shell that cannot start (RunAs checks, pty errors) fails the session
// with StartFailure's text and sends nothing. ctx or the end of the
// stream kill the shell and end the session successfully.
func RunShell(ctx context.Context, ms protocol.MessageStream, opts ShellOptions) (Result, error) {
	return runTerminal(ctx, ms, []string{opts.shell()}, opts.Profile, opts)
}

// RunInteractiveCommand runs an InteractiveCommands session: like
// RunShell, but the pseudo-terminal runs Shell -c command and no shell
// profile. An empty command fails the session as the agent does.
func RunInteractiveCommand(ctx context.Context, ms protocol.MessageStream, command string, opts ShellOptions) (Result, error) {
	if strings.TrimSpace(command) == "" {
		return failed("Commands cannot be empty for session type InteractiveCommands"), nil
	}
	return runTerminal(ctx, ms, []string{opts.shell(), "-c", command}, "", opts)
}

// runTerminal runs args on a pseudo-terminal for the session.
func runTerminal(ctx context.Context, ms protocol.MessageStream, args []string, profile string, opts ShellOptions) (Result, error) {
	log := logger(opts.Logf)
	id, err := opts.RunAs.Resolve()
	if err != nil {
		return failed(StartFailure(err)), nil
	}
	cmd := exec.Command(args[0], args[1:]...)
	opts.RunAs.prepare(cmd, id)
	tty, err := pty.Start(cmd)
	if err != nil {
		// The agent's wording, its newline included.
		return failed(startFailure(fmt.Sprintf("Failed to start pty: %s\n", err))), nil
	}
	// The terminal is closed while the input goroutine may be resizing
	// it: the two take turns.
	var ttyMu sync.Mutex
	ttyClosed := false
	closeTTY := func() {
		ttyMu.Lock()
		defer ttyMu.Unlock()
		if !ttyClosed {
			ttyClosed = true
			tty.Close()
		}
	}
	resize := func(size *pty.Winsize) error {
		ttyMu.Lock()
		defer ttyMu.Unlock()
		if ttyClosed {
			return os.ErrClosed
		}
		return pty.Setsize(tty, size)
	}
	defer closeTTY()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			closeTTY()
			_ = cmd.Wait()
		}
	}
	defer stop()

	pumped := make(chan error, 1)
	go func() { pumped <- pumpText(ms, tty, protocol.PayloadOutput, "", opts.Pacer, log) }()

	// The profile goes in before any client input. (The real agent writes
	// it just after it starts accepting input, so early input may precede
	// it there.)
	if strings.TrimSpace(profile) != "" {
		if _, err := tty.Write([]byte(profile + "\n")); err != nil {
			return failed(fmt.Sprintf("Encountered an error while executing shell profile: %s", err)), nil
		}
	}
	ended := make(chan error, 1)
	go func() { ended <- readTerminalInput(ms, tty, resize, log) }()

	select {
	case err := <-pumped:
		if err != nil {
			// When the stream ends, sending fails as receiving reports the
			// end: that is the stream's orderly end, not a pump failure.
			select {
			case inErr := <-ended:
				return succeeded(), inErr
			case <-time.After(100 * time.Millisecond):
			}
			return failed(""), err
		}
		stopped = true
		if err := cmd.Wait(); err != nil {
			log.printf("agent: shell session: %v", err)
		}
		res := succeeded()
		res.Terminating = true
		return res, nil
	case err := <-ended:
		return succeeded(), err
	case <-ctx.Done():
		return succeeded(), nil
	}
}

// readTerminalInput applies the client's payloads to the terminal until
// the stream ends, returning nil when it ended cleanly.
func readTerminalInput(ms protocol.MessageStream, tty *os.File, resize func(*pty.Winsize) error, log logger) error {
	for {
		pt, payload, err := ms.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("agent: shell session: receive: %w", err)
		}
		switch pt {
		case protocol.PayloadOutput:
			if _, err := tty.Write(payload); err != nil {
				log.printf("agent: shell session: write to pty: %v", err)
			}
		case protocol.PayloadSize:
			var size protocol.SizeData
			if err := json.Unmarshal(payload, &size); err != nil {
				log.printf("agent: shell session: invalid size message: %v", err)
				continue
			}
			if err := resize(&pty.Winsize{Rows: uint16(size.Rows), Cols: uint16(size.Cols)}); err != nil {
				log.printf("agent: shell session: set pty size: %v", err)
			}
		}
	}
}

// pumpText sends what r yields as pt payloads until r ends, as the agent
// sends terminal and command output: reads of up to 1024 bytes (less the
// prefix), each followed by pacer's pause, cut on UTF-8 boundaries, an incomplete character at the end of
// a read being sent with the next one. With a prefix, a payload starts
// with it when the previous read ended with a newline (or there was none);
// this is the agent's separateOutputStream labelling, per read rather than
// per line. The end of r, whatever the error, ends the pump successfully:
// for a pseudo-terminal it is EIO once the program has exited. Only a send
// failure is returned.
//
// The agent sends every read, even one that left only an incomplete
// character (an empty payload), and drops an incomplete character at the
// end; the pump skips empty payloads and sends such a tail as it is.
func pumpText(ms protocol.MessageStream, r io.Reader, pt protocol.PayloadType, prefix string, pacer *Pacer, log logger) error {
	buf := make([]byte, chunkSize-len(prefix))
	var pending []byte
	needPrefix := true
	send := func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		if err := ms.Send(pt, b); err != nil {
			return fmt.Errorf("agent: send %v: %w", pt, err)
		}
		return nil
	}
	for {
		n, err := r.Read(buf[:pacer.readSize(len(buf))])
		if n > 0 {
			if needPrefix {
				pending = append(pending, prefix...)
			}
			needPrefix = buf[n-1] == '\n'
			pending = append(pending, buf[:n]...)
			cut := completeUTF8(pending)
			if serr := send(pending[:cut]); serr != nil {
				return serr
			}
			pending = append(pending[:0], pending[cut:]...)
			if err == nil {
				pacer.pause()
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.printf("agent: read %v: %v", pt, err)
			}
			return send(pending)
		}
	}
}

// completeUTF8 returns the length of b without an incomplete UTF-8
// sequence at its end.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}
