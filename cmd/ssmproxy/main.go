// Command ssmproxy is an OpenSSH ProxyCommand over AWS Systems Manager
// Session Manager: ssh -o ProxyCommand='ssmproxy %h %p' ec2-user@i-0123….
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/ssmssh/ssmssh/proxy"
)

func main() {
	// A ProxyCommand runs once per ssh connection, often many at once:
	// trade a little CPU for a smaller heap (about 3 MiB less resident in
	// a bulk transfer), unless GOGC says otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	// SIGHUP is what OpenSSH sends its ProxyCommand; every signal ends the
	// session cleanly (TerminateSession) before exiting.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	// When ssh dies, writes to stdout fail with EPIPE. Unless SIGPIPE is
	// ignored, Go kills the process on such a write to fd 1, before it can
	// terminate the session.
	signal.Ignore(syscall.SIGPIPE)
	in, out := proxy.PollableStdio()
	cli := &proxy.CLI{Stdin: in, Stdout: out, Stderr: os.Stderr}
	code := cli.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
