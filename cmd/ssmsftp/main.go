// Command ssmsftp is an sftp client that reaches EC2 instances over AWS
// Systems Manager Session Manager by itself: ssmsftp ec2-user@i-0123….
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssmssh/ssmssh/sftpshell/cli"
)

func main() {
	// SIGINT is Main's own: it interrupts the command at the prompt.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGHUP, syscall.SIGTERM)
	c := &cli.SFTP{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	code := c.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
