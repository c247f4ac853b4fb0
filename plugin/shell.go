package plugin

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/ssmssh/ssmssh/forward"
	"github.com/ssmssh/ssmssh/shell"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// runShell runs a Standard_Stream or InteractiveCommands session on the
// local terminal through shell.Run, as AWS's plugin does: raw mode while
// it runs when stdin is a terminal, its size sent and kept up to date, no
// escape character (AWS's plugin has none: every byte typed goes to the
// shell), Ctrl-C, Ctrl-\ and Ctrl-Z that arrive as signals (input that is
// no terminal, or a terminal not in raw mode) passed on as those
// characters, and AWS's "Starting session" and "Exiting session" lines on
// stdout. The exit status is the remote shell's when the agent sends one.
func runShell(ctx context.Context, sess *ssmclient.Session, cfg Config, signals <-chan os.Signal, res Result) (Result, error) {
	defer sess.Close()
	out := forward.NewPrinter(cfg.Stdout)
	out.Printf("\nStarting session with SessionId: %s", sess.ID)
	opts := shell.Options{Stdout: cfg.Stdout, Stderr: cfg.Stderr, Terminal: true, EscapeChar: -1,
		Signals: signals, Logf: cfg.Logf}
	if cfg.Stdin != nil {
		opts.Stdin = cfg.Stdin
	}
	code, err := shell.Run(ctx, sess, opts)
	res.ExitCode, res.HasExitCode = sess.ExitCode()
	if res.HasExitCode {
		res.ExitCode = code
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return res, err
	}
	sess.Close()
	out.Printf("\n\nExiting session with sessionId: %s.\n", sess.ID)
	return res, nil
}

// relaySignals passes the user's signals to a shell once one runs
// (shellOn); before that, and for the other kinds, SIGINT and SIGQUIT end
// the session (cancel) and SIGTSTP is ignored, as the AWS CLI, which
// ignores all three while the plugin runs, leaves them to it.
func relaySignals(ctx context.Context, in <-chan os.Signal, toShell chan<- os.Signal, shellOn *atomic.Bool, cancel func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-in:
			switch {
			case shellOn.Load():
				select {
				case toShell <- sig:
				default: // the shell is not taking them
				}
			case sig == os.Interrupt || sig == syscall.SIGQUIT:
				cancel()
			}
		}
	}
}
