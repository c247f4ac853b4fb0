package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/doctor"
	doctorcli "github.com/ssmssh/ssmssh/doctor/cli"
	"github.com/ssmssh/ssmssh/internal/version"
	"github.com/ssmssh/ssmssh/shell"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// ExitFailure is the exit status of a failure before or during a
// session: 255, as ssh's.
const ExitFailure = shell.ExitFailure

// exitUsage is the exit status of a command line that does not parse.
const exitUsage = 2

const usage = `usage: ssmsession [options] target [-- command ...]
       ssmsession version

Starts a Session Manager session on target natively (no AWS CLI, no
session-manager-plugin):

    ssmsession i-0123456789abcdef0                  a shell
    ssmsession web-1 -- sudo systemctl status nginx an interactive command (PTY)
    ssmsession -T web-1 -- test -f /etc/motd        a command without PTY; its exit status is ours
    ssmsession -L 8080:80 web-1                     localhost:8080 to the instance's port 80
    ssmsession -L 5432:db.internal:5432 web-1       to a host the instance reaches
    ssmsession -D 1080 web-1                        a SOCKS5 proxy; names resolved by the instance

target is an instance id (i-…, mi-…), an ECS container (ecs:<cluster>/<task>[/<container>]
or ecs:<cluster>_<task>_<container-runtime-id>; shells (/bin/sh) and commands go
through ECS ExecuteCommand, other documents through StartSession), or a Name tag, private DNS name or private IP that EC2 resolves. The command
words are joined with spaces, as ssh joins them; the agent splits the command
shell-style and runs it without a shell, so  -- 'sh -c "a; b"'  gets a shell.

options:
`

// CLI is the ssmsession command line; Main runs it.
type CLI struct {
	// Stdin is the user's terminal or input (nil: none).
	Stdin *os.File
	// Stdout receives the session's output only.
	Stdout io.Writer
	// Stderr receives the command's stderr (with -T), the plugin-style
	// lines, errors and -v diagnostics.
	Stderr io.Writer
	// Signals are passed to the remote side as control characters (see
	// shell.Options.Signals); nil: none.
	Signals <-chan os.Signal
	// Kinds replaces the registered kinds (tests); nil: the registered
	// ones, then the built-in shell and command kinds.
	Kinds []NewKind
	// Client, when set, is used instead of loading AWS configuration.
	Client *ssmclient.Client
}

// common are the options every kind shares.
type common struct {
	profile, region, endpointURL string
	suffix                       string
	document                     string
	parameters                   string
	reason                       string
	quiet, verbose               bool
}

// Main runs ssmsession with args (without the program name) and returns
// the exit status: the remote command's with -T, 0 for a session that
// ended normally, 255 for a failure (one line names it), 2 for usage
// errors.
func (c *CLI) Main(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "doctor" {
		d := doctorcli.Doctor{Program: "ssmsession", Stdout: c.Stdout, Stderr: c.Stderr}
		return d.Main(ctx, args[1:])
	}
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintf(c.Stderr, "ssmsession %s\n", version.Version)
		return 0
	}
	fs := flag.NewFlagSet("ssmsession", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(c.Stderr, usage)
		fs.PrintDefaults()
	}
	var o common
	fs.StringVar(&o.profile, "profile", "", "AWS shared-config `profile` (default $AWS_PROFILE)")
	fs.StringVar(&o.region, "region", "", "AWS `region` (default $AWS_REGION or the profile's)")
	fs.StringVar(&o.endpointURL, "endpoint-url", "", "base `URL` of every AWS API called (default $AWS_ENDPOINT_URL or the profile's endpoint_url)")
	fs.StringVar(&o.suffix, "suffix", ssmclient.DefaultHostSuffix, "`suffix` stripped from target names before EC2 lookup")
	fs.StringVar(&o.document, "document-name", "", "session `document` (default: a shell, or the command documents)")
	fs.StringVar(&o.parameters, "parameters", "", "document `parameters`: name=value,name=[a,b] or JSON {\"name\":[\"value\"]} or file://path")
	fs.StringVar(&o.reason, "reason", "", "`reason` recorded with the session")
	fs.BoolVar(&o.quiet, "q", false, "quiet: no \"Starting session\" / \"Exiting session\" lines")
	fs.BoolVar(&o.verbose, "v", false, "print diagnostics to stderr")

	news := c.Kinds
	if news == nil {
		news = append(registered(), newShellKind)
	}
	kinds := make([]Kind, len(news))
	for i, nk := range news {
		kinds[i] = nk()
		kinds[i].Flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "--" {
		fs.Usage()
		return exitUsage
	}
	targetName, command := rest[0], rest[1:]
	if len(command) > 0 && command[0] == "--" {
		command = command[1:]
	}
	var kind Kind
	for _, k := range kinds {
		if k.Wants(command) {
			kind = k
			break
		}
	}
	if kind == nil {
		fs.Usage()
		return exitUsage
	}
	params, err := ssmclient.ParseParameters(o.parameters)
	if err != nil {
		fmt.Fprintf(c.Stderr, "ssmsession: --parameters: %s\n", strings.TrimPrefix(err.Error(), "ssmclient: parameters: "))
		return exitUsage
	}

	logf := func(string, ...any) {}
	if o.verbose {
		logf = func(format string, args ...any) { fmt.Fprintf(c.Stderr, "ssmsession: "+format+"\n", args...) }
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &Setup{
		Program: "ssmsession", DocumentName: o.document, Parameters: params, Reason: o.reason,
		Command: command, Quiet: o.quiet, Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr, Logf: logf,
		targetArg: targetName,
	}
	if c.Signals != nil {
		fwd := make(chan os.Signal, 8)
		s.Signals = fwd
		go relaySignals(ctx, c.Signals, fwd, &s.started, cancel)
	}
	client := c.Client
	if client == nil {
		if client, err = ssmclient.NewClient(ctx, ssmclient.AWSOptions{Profile: o.profile, Region: o.region, EndpointURL: o.endpointURL}); err != nil {
			report(c.Stderr, "ssmsession", targetName, o.region, ssmclient.Explain(err))
			return ExitFailure
		}
	}
	s.Client = client
	resolver := ssmclient.Resolver{API: client.EC2, Suffix: o.suffix}
	if client.ECS != nil {
		resolver.ECS = client.ECS
	}
	if s.Target, err = resolver.Resolve(ctx, targetName); err != nil {
		return s.Fail(ssmclient.ExplainResolve(targetName, err))
	}
	if s.Target.Name != "" {
		logf("%s is %s", targetName, s.Target.ID)
	}
	return kind.Run(ctx, s)
}

// relaySignals passes signals on to fwd once a session has started; a
// SIGINT before that cancels the command.
func relaySignals(ctx context.Context, in <-chan os.Signal, fwd chan<- os.Signal, started *atomic.Bool, cancel func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-in:
			switch {
			case started.Load():
				select {
				case fwd <- sig:
				default: // the session is not taking them
				}
			case sig == syscall.SIGINT:
				cancel()
			}
		}
	}
}

// report prints err as program's one failure line for target:
// UserMessage, ended as every command's line for the causes doctor names
// (doctor.WithSuffix).
func report(w io.Writer, program, target, region string, err error) {
	fmt.Fprintf(w, "%s: %s\n", program, doctor.WithSuffix(UserMessage(err, region), err, target))
}

// UserMessage is err on one line, without the layers' package prefixes;
// a session's end reason carries the troubleshooting guide's cause and
// fix when doctor knows it (doctor.ExplainEnded), and so does an AWS error
// that ssmclient left unexplained (a KMS key disabled, say). region names
// the session's region in such hints.
func UserMessage(err error, region string) string {
	var ended *ssmclient.SessionEndedError
	if errors.As(err, &ended) {
		return "the session ended: " + doctor.ExplainEnded(ended.Output, region)
	}
	var api smithy.APIError
	var explained *ssmclient.Error
	if errors.As(err, &api) && !errors.As(err, &explained) {
		if f, ok := doctor.Diagnose(err, region); ok {
			return f.Line()
		}
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	msg := err.Error()
	for _, p := range []string{"shell: ", "ssmclient: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return strings.Join(strings.Fields(msg), " ")
}
