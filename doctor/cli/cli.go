// Package cli is the `doctor` subcommand of ssmssh and ssmsession:
// flag parsing and output around package doctor.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/ssmssh/ssmssh/doctor"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// Doctor is the command line `<program> doctor [flags] target`.
type Doctor struct {
	// Program names the command in messages ("ssmssh").
	Program string
	// Stdout receives the report, Stderr usage and errors.
	Stdout, Stderr io.Writer
	// NewClient makes the AWS client (nil: ssmclient.NewClient).
	NewClient func(ctx context.Context, opts ssmclient.AWSOptions) (*ssmclient.Client, error)
	// SSHByDefault adds the SSH check when --document-name is not given
	// (ssmssh's default).
	SSHByDefault bool
	// StartTimeout and ShellWait override doctor's defaults (tests).
	StartTimeout, ShellWait time.Duration
}

const usage = `usage: %s doctor [--profile P] [--region R] [--document-name D] [--json] [-v] target

Checks, in the order a session needs them, why a Session Manager session to
target fails: credentials, target, EC2 state, SSM agent, IAM permissions,
session preferences, a real session start and, for SSH, port 22. Prints one
line per check (✓ passed, ✗ failed with the fix, ? could not tell) and exits
0 when every check passed, 1 otherwise, 2 for usage errors.

`

// Main runs the command with args (after "doctor") and returns the exit
// status.
func (d *Doctor) Main(ctx context.Context, args []string) int {
	prog := d.Program
	if prog == "" {
		prog = "ssmssh"
	}
	fs := flag.NewFlagSet(prog+" doctor", flag.ContinueOnError)
	fs.SetOutput(d.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(d.Stderr, usage, prog)
		fs.PrintDefaults()
	}
	var profile, region, document string
	var asJSON, verbose bool
	fs.StringVar(&profile, "profile", "", "AWS shared-config `profile`")
	fs.StringVar(&region, "region", "", "AWS `region`")
	fs.StringVar(&document, "document-name", "", "session `document` to try (default: the shell, SSM-SessionManagerRunShell)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&verbose, "v", false, "print diagnostics to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	target := fs.Arg(0)
	newClient := d.NewClient
	if newClient == nil {
		newClient = ssmclient.NewClient
	}
	client, err := newClient(ctx, ssmclient.AWSOptions{Profile: profile, Region: region})
	if err != nil {
		fmt.Fprintf(d.Stderr, "%s doctor: %v\n", prog, err)
		return 1
	}
	opts := doctor.Options{Client: client, Target: target, DocumentName: document,
		SSH: d.SSHByDefault && document == "", StartTimeout: d.StartTimeout, ShellWait: d.ShellWait}
	if verbose {
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(d.Stderr, prog+" doctor: "+format+"\n", args...) }
	}
	rep, err := doctor.Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(d.Stderr, "%s doctor: %v\n", prog, err)
		return 2
	}
	if asJSON {
		err = rep.WriteJSON(d.Stdout)
	} else {
		err = rep.WriteText(d.Stdout)
	}
	if err != nil {
		fmt.Fprintf(d.Stderr, "%s doctor: %v\n", prog, err)
		return 1
	}
	if !rep.OK {
		return 1
	}
	return 0
}
