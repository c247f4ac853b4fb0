// Command ssmsession starts AWS Systems Manager Session Manager sessions
// natively: a shell (ssmsession i-0123…), a command (ssmsession i-0123…
// -- uptime; with -T its exit status is ours), or any session document.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssmssh/ssmssh/shell"
	"github.com/ssmssh/ssmssh/shell/cli"
)

func main() {
	// SIGHUP and SIGTERM end the session (TerminateSession) and exit.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGHUP, syscall.SIGTERM)
	// Ctrl-C, Ctrl-\ and Ctrl-Z outside raw mode (-T, or input that is
	// no terminal) go to the remote command, as the plugin sends them.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, shell.ControlSignals...)
	c := &cli.CLI{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Signals: sigs}
	code := c.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
