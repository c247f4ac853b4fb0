// Command ssmscp copies files to and from EC2 instances over AWS Systems
// Manager Session Manager, as scp does: ssmscp file ec2-user@i-0123…:dir.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssmssh/ssmssh/scp/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	c := &cli.SCP{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	code := c.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
