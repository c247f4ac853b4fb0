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
)

func main() {
	// Every signal ends the session cleanly (TerminateSession) before
	// exiting; SIGHUP is what OpenSSH sends a ProxyCommand.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	// A write to a closed stdout must fail, not kill the process before it
	// terminates the session.
	signal.Ignore(syscall.SIGPIPE)
	in, out := proxy.PollableStdio()
	c := &cli.CLI{Stdin: in, Stdout: out, Stderr: os.Stderr}
	code := c.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
