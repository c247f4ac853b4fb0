package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/ssmssh/ssmssh/sftpshell"
)

// interactive runs the commands typed at the terminal c.Stdin: a prompt
// and line editing with history while a line is typed (the terminal in
// raw mode), the terminal as it was while a command runs, so that Ctrl-C
// interrupts that command (through intr) and nothing else.
func (c *SFTP) interactive(ctx context.Context, sh *sftpshell.Shell, intr *interrupter) error {
	fd, ok := fileFd(c.Stdin)
	if !ok {
		return errors.New("sftpshell: no terminal")
	}
	rw := struct {
		io.Reader
		io.Writer
	}{noInterrupt{c.Stdin}, c.stdout()}
	lines := &termLines{t: term.NewTerminal(rw, sftpshell.Prompt), fd: fd}
	for {
		line, err := lines.ReadLine()
		if errors.Is(err, io.EOF) {
			fmt.Fprintln(c.stdout())
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("sftpshell: read commands: %w", err)
		}
		text := strings.TrimPrefix(strings.TrimLeft(line, " \t"), "-")
		cmdCtx, cancel := context.WithCancel(ctx)
		intr.set(cancel)
		err = sh.Exec(cmdCtx, text)
		intr.set(nil)
		interrupted := cmdCtx.Err() != nil
		cancel()
		switch {
		case errors.Is(err, sftpshell.ErrExit):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case interrupted:
			fmt.Fprintln(c.stderr(), "interrupted")
		case err != nil:
			fmt.Fprintln(c.stderr(), err)
		}
	}
}

// termLines reads lines through an x/term Terminal, the terminal in raw
// mode only while it does.
type termLines struct {
	t  *term.Terminal
	fd int
}

func (l *termLines) ReadLine() (string, error) {
	// A terminal that does not know its size says 0 (x/term would then
	// wrap after every character): keep x/term's 80 columns.
	if w, h, err := term.GetSize(l.fd); err == nil && w > 0 && h > 0 {
		_ = l.t.SetSize(w, h)
	}
	if old, err := term.MakeRaw(l.fd); err == nil {
		defer func() { _ = term.Restore(l.fd, old) }()
	}
	line, err := l.t.ReadLine()
	if errors.Is(err, term.ErrPasteIndicator) {
		err = nil // a pasted line is a line
	}
	return line, err
}

// noInterrupt drops Ctrl-C from what is typed at the prompt, which sftp
// ignores there (x/term would take it for the end of input).
type noInterrupt struct{ r io.Reader }

func (n noInterrupt) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		if k > 0 && bytes.IndexByte(p[:k], 3) >= 0 {
			k = copy(p, bytes.ReplaceAll(p[:k], []byte{3}, nil))
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// interrupter passes SIGINT to the command running at the terminal.
type interrupter struct {
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (i *interrupter) set(cancel context.CancelFunc) {
	i.mu.Lock()
	i.cancel = cancel
	i.mu.Unlock()
}

// watch passes SIGINT to the running command, or to end when none is
// running, until ctx ends or the returned stop is called.
func (i *interrupter) watch(ctx context.Context, end func()) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sigs:
				if !i.interrupt() {
					end()
				}
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}

// interrupt cancels the running command and reports whether there was
// one.
func (i *interrupter) interrupt() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cancel == nil {
		return false
	}
	i.cancel()
	return true
}

// fileFd returns f's descriptor without calling f.Fd, which would put f
// in blocking mode and make its reads deaf to SetReadDeadline.
func fileFd(f *os.File) (int, bool) {
	if f == nil {
		return 0, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if rc.Control(func(d uintptr) { fd = int(d) }) != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	fd, ok := fileFd(f)
	return ok && term.IsTerminal(fd)
}

// terminalWidth is f's width in columns (0 if unknown).
func terminalWidth(f *os.File) int {
	fd, ok := fileFd(f)
	if !ok {
		return 0
	}
	w, _, err := term.GetSize(fd)
	if err != nil {
		return 0
	}
	return w
}
