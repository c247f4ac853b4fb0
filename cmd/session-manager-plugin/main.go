// Command session-manager-plugin is a drop-in replacement for AWS's
// Session Manager plugin: put it first on PATH and "aws ssm
// start-session", "aws ecs execute-command" and every tool that runs the
// plugin use ssmssh's protocol stack.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssmssh/ssmssh/plugin/cli"
	"github.com/ssmssh/ssmssh/proxy"
	"github.com/ssmssh/ssmssh/shell"
)

func main() {
	// SIGHUP (what OpenSSH sends a ProxyCommand) and SIGTERM end the
	// session cleanly (TerminateSession) before exiting. SIGINT, SIGQUIT
	// and SIGTSTP, which the AWS CLI ignores while the plugin runs, go to
	// a shell as Ctrl-C, Ctrl-\ and Ctrl-Z; other sessions end on SIGINT
	// and SIGQUIT.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGHUP, syscall.SIGTERM)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, shell.ControlSignals...)
	// A write to a closed stdout must fail, not kill the process before it
	// terminates the session.
	signal.Ignore(syscall.SIGPIPE)
	in, out := proxy.PollableStdio()
	c := &cli.CLI{Stdin: in, Stdout: out, Stderr: os.Stderr, Signals: sigs}
	code := c.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
