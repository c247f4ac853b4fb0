// Command ssmssh is an ssh client that reaches EC2 instances over AWS
// Systems Manager Session Manager by itself: ssmssh ec2-user@i-0123….
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssmssh/ssmssh/sshclient/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	c := &cli.SSH{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	code := c.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
