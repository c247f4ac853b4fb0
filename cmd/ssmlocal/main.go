// Command ssmlocal runs an offline emulator of the AWS side of Session
// Manager, so that every ssmssh tool can be tried with no AWS account.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssmssh/ssmssh/internal/ssmlocal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := ssmlocal.Main(ctx, os.Args[1:], ssmlocal.IO{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
