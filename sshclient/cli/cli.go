package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/doctor"
	doctorcli "github.com/ssmssh/ssmssh/doctor/cli"
	"github.com/ssmssh/ssmssh/internal/tty"
	"github.com/ssmssh/ssmssh/sshclient"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// SSH is the ssmssh command line; Main runs it.
type SSH struct {
	// Stdin is the local input: a command's stdin, or the terminal of an
	// interactive session (nil: no input).
	Stdin *os.File
	// Stdout and Stderr receive the remote output; Stderr also gets
	// ssmssh's own errors, warnings and, with -v, diagnostics.
	Stdout, Stderr io.Writer
	// Env looks up environment variables (nil: os.Getenv); HOME locates
	// ~/.ssh.
	Env func(string) string
}

// options are the parsed command line.
type options struct {
	settings        []string
	configFile      string
	noCommand       bool
	forceTTY        bool
	noTTY           bool
	verbose         bool
	quiet           bool
	profile, region string
	instanceConnect bool
	destination     string
	command         string
}

// Main runs ssmssh with args (without the program name) and returns the
// exit status: the remote command's, 255 when there is none (connection
// errors), 2 for usage errors.
func (c *SSH) Main(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "doctor" {
		d := doctorcli.Doctor{Program: "ssmssh", Stdout: c.Stdout, Stderr: c.Stderr, SSHByDefault: true}
		return d.Main(ctx, args[1:])
	}
	o, code, ok := c.parse(args)
	if !ok {
		return code
	}
	conn := Connect{
		Program: "ssmssh", Destination: o.destination, ConfigFile: o.configFile, Settings: o.settings,
		Profile: o.profile, Region: o.region, InstanceConnect: o.instanceConnect,
		Verbose: o.verbose, Quiet: o.quiet, Stderr: c.Stderr, Env: c.Env,
	}
	client, cfg, err := conn.Dial(ctx)
	if err != nil {
		ReportTarget(c.Stderr, "ssmssh", doctorTarget(o.destination), err)
		return sshclient.ExitConnectionError
	}
	defer client.Close()
	code, err = c.session(ctx, o, client, cfg)
	var exit *ssh.ExitError
	switch {
	case err == nil, errors.Is(err, sshclient.ErrEscapeDisconnect):
	case errors.As(err, &exit) && exit.Signal() == "":
		// The remote command's own status: nothing to say.
	default:
		ReportTarget(c.Stderr, "ssmssh", doctorTarget(o.destination), err)
	}
	return code
}

func (c *SSH) parse(args []string) (options, int, bool) {
	var o options
	fs := flag.NewFlagSet("ssmssh", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(c.Stderr, usage)
		fs.PrintDefaults()
	}
	for _, f := range []struct{ name, usage string }{
		{"i", "identity `file` (repeatable)"},
		{"l", "login `user`"},
		{"p", "remote `port`"},
		{"L", "local forwarding `[bind:]port:host:hostport` (repeatable)"},
		{"o", "ssh_config `Option=value` (repeatable)"},
	} {
		fs.Var(settingFlag{name: f.name, settings: &o.settings}, f.name, f.usage)
	}
	fs.StringVar(&o.configFile, "F", "", "ssh_config `file` (\"none\": none)")
	fs.BoolVar(&o.noCommand, "N", false, "run no command (forwarding only)")
	fs.BoolVar(&o.forceTTY, "t", false, "force a PTY")
	fs.BoolVar(&o.noTTY, "T", false, "disable the PTY")
	fs.BoolVar(&o.verbose, "v", false, "print diagnostics")
	fs.BoolVar(&o.quiet, "q", false, "quiet: no warnings")
	fs.StringVar(&o.profile, "profile", "", "AWS shared-config `profile`")
	fs.StringVar(&o.region, "region", "", "AWS `region`")
	fs.BoolVar(&o.instanceConnect, "instance-connect", false, "log in with a key pushed through EC2 Instance Connect")
	if err := fs.Parse(splitShort(args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0, false
		}
		return o, 2, false
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return o, 2, false
	}
	o.destination = rest[0]
	o.command = strings.Join(rest[1:], " ")
	if o.noCommand && o.command != "" {
		fmt.Fprintln(c.Stderr, "ssmssh: -N with a command")
		return o, 2, false
	}
	return o, 0, true
}

// Report prints err to w as the one line a user sees, prefixed with the
// program's name, or a changed host key's full warning.
func Report(w io.Writer, program string, err error) {
	var changed *sshclient.HostKeyChangedError
	if errors.As(err, &changed) {
		_, _ = io.WriteString(w, changed.Warning())
		return
	}
	fmt.Fprintf(w, "%s: %s\n", program, UserMessage(err))
}

// ReportTarget is Report for a connection to target: for the causes
// ssmssh doctor names (doctor.Diagnose) the line ends with "run `ssmssh
// doctor <target>` for details".
func ReportTarget(w io.Writer, program, target string, err error) {
	var changed *sshclient.HostKeyChangedError
	if errors.As(err, &changed) {
		Report(w, program, err)
		return
	}
	fmt.Fprintf(w, "%s: %s\n", program, doctor.WithSuffix(UserMessage(err), err, target))
}

// doctorTarget is the host of an ssh destination ([user@]host).
func doctorTarget(destination string) string {
	return destination[strings.LastIndex(destination, "@")+1:]
}

// UserMessage is err on one line without the layers' package prefixes.
func UserMessage(err error) string {
	var ended *ssmclient.SessionEndedError
	if errors.As(err, &ended) {
		return "the session ended: " + strings.TrimSpace(ended.Output)
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	msg := err.Error()
	for _, p := range []string{"sshclient: ", "ssmclient: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return strings.Join(strings.Fields(msg), " ")
}

// isTerminal reports whether f is a terminal (see [tty.IsTerminal]).
func isTerminal(f *os.File) bool { return tty.IsTerminal(f) }

// session runs what the command line asks for over client.
func (c *SSH) session(ctx context.Context, o options, client *ssh.Client, cfg *sshclient.Config) (int, error) {
	warnf := cfg.Warnf
	var fwds []*sshclient.Forwarder
	defer func() {
		for _, f := range fwds {
			f.Close()
		}
	}()
	for _, f := range cfg.LocalForwards {
		fw, err := sshclient.LocalForward(ctx, client, f.Bind(), f.Remote(), warnf)
		if err != nil {
			if cfg.ExitOnForwardFailure || o.noCommand {
				return sshclient.ExitConnectionError, err
			}
			warnf("ssmssh: %s", UserMessage(err))
			continue
		}
		cfg.Logf("ssmssh: forwarding %s to %s", fw.Addr(), f.Remote())
		fwds = append(fwds, fw)
	}
	if o.noCommand {
		done := make(chan error, 1)
		go func() { done <- client.Wait() }()
		select {
		case <-ctx.Done():
			return 0, nil
		case err := <-done:
			return sshclient.ExitConnectionError, fmt.Errorf("connection to %s closed: %v", cfg.HostName, err)
		}
	}
	tty := o.command == "" && isTerminal(c.Stdin)
	switch {
	case o.noTTY || cfg.RequestTTY == "no":
		tty = false
	case o.forceTTY || cfg.RequestTTY == "force":
		tty = true
	case cfg.RequestTTY == "yes":
		tty = isTerminal(c.Stdin)
	}
	if tty && c.Stdin != nil {
		return sshclient.Shell(ctx, client, &sshclient.Terminal{
			In: c.Stdin, Out: c.Stdout, Err: c.Stderr,
			Command: o.command, EscapeChar: cfg.EscapeChar,
		})
	}
	var stdin io.Reader
	if c.Stdin != nil {
		stdin = c.Stdin
	}
	if o.command == "" {
		return runShell(ctx, client, stdin, c.Stdout, c.Stderr)
	}
	return sshclient.Run(ctx, client, o.command, stdin, c.Stdout, c.Stderr)
}

// runShell runs the remote login shell without a PTY, stdin piped, as
// "ssh -T host" does.
func runShell(ctx context.Context, client *ssh.Client, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	sess, err := client.NewSession()
	if err != nil {
		return sshclient.ExitConnectionError, fmt.Errorf("open session: %w", err)
	}
	defer sess.Close()
	sess.Stdout, sess.Stderr = stdout, stderr
	if stdin != nil {
		w, err := sess.StdinPipe()
		if err != nil {
			return sshclient.ExitConnectionError, err
		}
		go func() {
			_, _ = io.Copy(w, stdin)
			w.Close()
		}()
	}
	if err := sess.Shell(); err != nil {
		return sshclient.ExitConnectionError, fmt.Errorf("start shell: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGTERM)
		return sshclient.ExitConnectionError, ctx.Err()
	case err := <-done:
		var ee *ssh.ExitError
		switch {
		case err == nil:
			return 0, nil
		case errors.As(err, &ee) && ee.Signal() == "":
			return ee.ExitStatus(), nil
		}
		return sshclient.ExitConnectionError, err
	}
}
