package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/sftpshell"
	"github.com/ssmssh/ssmssh/sshclient"
	sshcli "github.com/ssmssh/ssmssh/sshclient/cli"
)

// Exit statuses of Main besides 0.
const (
	// ExitFailed: a command failed in a batch, or the initial path did.
	ExitFailed = 1
	// ExitUsage: the command line is wrong.
	ExitUsage = 2
	// ExitConnection: the connection could not be made or was lost.
	ExitConnection = sshclient.ExitConnectionError
)

// SFTP is the ssmsftp command line; Main runs it.
type SFTP struct {
	// Stdin gives the commands when there is no batch file (-b) or the
	// batch file is "-"; a terminal gets a prompt and line editing. Nil:
	// no commands.
	Stdin *os.File
	// Stdout receives the echoed commands, listings and progress;
	// Stderr errors and, with -v, diagnostics.
	Stdout, Stderr io.Writer
	// Env looks up environment variables (nil: os.Getenv); HOME locates
	// ~/.ssh and is the local "~".
	Env func(string) string
}

// options are the parsed command line.
type options struct {
	settings        []string
	configFile      string
	batchFile       string
	batch           bool
	verbose, quiet  bool
	noisy           bool
	recursive       bool
	preserve        bool
	profile, region string
	instanceConnect bool
	sessions        int
	destination     string // [user@]target
	path            string // the initial remote path, if any
}

const usage = `usage: ssmsftp [-Npqrv] [-b batchfile] [-F configfile] [-i identity]...
               [-o Option=value]... [-P port] [--profile P] [--region R]
               [--instance-connect] [--sessions N] [user@]target[:path]

sftp to an EC2 instance (instance id, Name tag, private DNS name or IP)
over AWS Systems Manager Session Manager. With :path, start in that
remote directory, or download that file and exit.

options:
`

// flags are ssmsftp's OpenSSH-style flags, for ShortFlags.Split.
var flags = sshcli.ShortFlags{
	Bool: "Npqrv", Value: "bFiPo",
	Long:      []string{"profile", "region", "instance-connect", "sessions", "help", "h"},
	LongValue: []string{"profile", "region", "sessions"},
}

func (c *SFTP) getenv(k string) string {
	if c.Env != nil {
		return c.Env(k)
	}
	return os.Getenv(k)
}

func (c *SFTP) stdout() io.Writer {
	if c.Stdout == nil {
		return io.Discard
	}
	return c.Stdout
}

func (c *SFTP) stderr() io.Writer {
	if c.Stderr == nil {
		return io.Discard
	}
	return c.Stderr
}

func (c *SFTP) parse(args []string) (options, int, bool) {
	var o options
	fs := flag.NewFlagSet("ssmsftp", flag.ContinueOnError)
	fs.SetOutput(c.stderr())
	fs.Usage = func() {
		_, _ = io.WriteString(c.stderr(), usage)
		fs.PrintDefaults()
	}
	fs.Var(sshcli.SettingFlag("i", &o.settings), "i", "identity `file` (repeatable)")
	fs.Var(sshcli.SettingFlag("p", &o.settings), "P", "remote `port`")
	fs.Var(sshcli.SettingFlag("o", &o.settings), "o", "ssh_config `Option=value` (repeatable)")
	fs.Func("b", "read commands from `batchfile` (\"-\": standard input); stop at the first failing one", func(v string) error {
		o.batchFile, o.batch = v, true
		return nil
	})
	fs.StringVar(&o.configFile, "F", "", "ssh_config `file` (\"none\": none)")
	fs.BoolVar(&o.preserve, "p", false, "keep modes and times in every get and put")
	fs.BoolVar(&o.recursive, "r", false, "copy directories in every get and put")
	fs.BoolVar(&o.quiet, "q", false, "quiet: no progress, no warnings")
	fs.BoolVar(&o.noisy, "N", false, "with -b: say what each command does (\"Fetching …\"), as without -b")
	fs.BoolVar(&o.verbose, "v", false, "print diagnostics")
	fs.StringVar(&o.profile, "profile", "", "AWS shared-config `profile`")
	fs.StringVar(&o.region, "region", "", "AWS `region`")
	fs.BoolVar(&o.instanceConnect, "instance-connect", false, "log in with a key pushed through EC2 Instance Connect")
	fs.Func("sessions", fmt.Sprintf("get and put over up to `N` Session Manager sessions at once (ssh_config: SSMSessions; default %d)", DefaultSessions), func(v string) error {
		n, err := sshcli.ParseSessions(v)
		o.sessions = n
		return err
	})
	if err := fs.Parse(flags.Split(args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0, false
		}
		return o, ExitUsage, false
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return o, ExitUsage, false
	}
	var err error
	o.destination, o.path, err = splitDestination(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(c.stderr(), "ssmsftp: %v\n", err)
		return o, ExitUsage, false
	}
	if o.batch {
		// No questions in a batch: as sftp -b does.
		o.settings = append(o.settings, "BatchMode=yes")
	}
	return o, 0, true
}

// splitDestination splits "[user@]target[:path]" into "[user@]target"
// and path. A target in brackets ([fe80::1]) may hold colons.
func splitDestination(arg string) (dest, path string, err error) {
	at := strings.LastIndex(arg, "@")
	host := arg[at+1:]
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return "", "", fmt.Errorf("%q: no ] after [", arg)
		}
		rest := host[end+1:]
		host = host[1:end]
		if rest != "" {
			if rest[0] != ':' {
				return "", "", fmt.Errorf("%q: want :path after ]", arg)
			}
			path = rest[1:]
		}
	} else if i := strings.Index(host, ":"); i >= 0 {
		host, path = host[:i], host[i+1:]
	}
	if host == "" {
		return "", "", fmt.Errorf("%q: no target", arg)
	}
	return arg[:at+1] + host, path, nil
}

// Main runs ssmsftp with args (without the program name) and returns the
// exit status: 0, 1 when a batch command failed (or the initial path
// did), 2 for usage errors, 255 when the connection failed or was lost,
// or ctx ended the session.
//
// Main handles SIGINT (os.Interrupt) itself while it runs: at a terminal
// it interrupts the command running and returns to the prompt, as sftp
// does; otherwise it ends the session as ctx would. A program calling
// Main should therefore not cancel ctx on SIGINT.
func (c *SFTP) Main(ctx context.Context, args []string) int {
	o, code, ok := c.parse(args)
	if !ok {
		return code
	}
	var in io.Reader
	inName := ""
	switch {
	case o.batch && o.batchFile != "-":
		f, err := os.Open(o.batchFile)
		if err != nil {
			fmt.Fprintf(c.stderr(), "ssmsftp: batch file: %v\n", err)
			return ExitFailed
		}
		defer f.Close()
		in, inName = f, o.batchFile
	case c.Stdin != nil:
		in, inName = c.Stdin, "standard input"
	}

	conn := sshcli.Connect{
		Program: "ssmsftp", Destination: o.destination, ConfigFile: o.configFile, Settings: o.settings,
		Profile: o.profile, Region: o.region, InstanceConnect: o.instanceConnect,
		Verbose: o.verbose, Quiet: o.quiet, Stderr: c.stderr(), Env: c.Env,
	}
	sc, cfg, err := conn.Dial(ctx)
	if err != nil {
		sshcli.Report(c.stderr(), "ssmsftp", err)
		return ExitConnection
	}
	defer sc.Close()
	client, err := sftp.NewClient(sc, sftpOptions...)
	if err != nil {
		fmt.Fprintf(c.stderr(), "ssmsftp: start the sftp subsystem on %s: %s\n", cfg.HostName, sshcli.UserMessage(err))
		return ExitConnection
	}
	defer client.Close()
	dial := sshcli.SFTPDialer(&conn, sftpOptions...)
	return c.session(ctx, o, sc, client, cfg, in, inName, dial)
}

// sftpOptions are the SFTP client's options, on every connection.
var sftpOptions = []sftp.ClientOption{sftp.UseConcurrentWrites(true)}

// DefaultSessions is how many Session Manager sessions a get or put uses
// at most when neither --sessions nor SSMSessions says (as ssmscp).
const DefaultSessions = 4

// session runs the commands of in (named inName in messages) over client
// until they end, ctx ends or the connection does.
func (c *SFTP) session(ctx context.Context, o options, sc *ssh.Client, client *sftp.Client, cfg *sshclient.Config, in io.Reader, inName string, dial func(context.Context) (*sftp.Client, func(), error)) int {
	// The session ends with ctx or with the connection; either way a
	// blocked read of the commands must end too.
	run, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		err := sc.Wait()
		cancel(&lostError{err: err})
	}()
	if c.Stdin != nil {
		stop := context.AfterFunc(run, func() { _ = c.Stdin.SetReadDeadline(time.Now()) })
		defer stop()
	}
	intr := &interrupter{}
	defer intr.watch(run, func() { cancel(context.Canceled) })()

	sh := &sftpshell.Shell{
		Client: client, Stdout: c.stdout(), Stderr: c.stderr(),
		LocalHome: c.getenv("HOME"), Recursive: o.recursive, Preserve: o.preserve,
		// As sftp -b, a batch neither says what each command does nor
		// draws progress, unless -N.
		Quiet:    o.quiet || o.batch && !o.noisy,
		Logf:     cfg.Logf,
		Sessions: sshcli.Sessions(o.sessions, cfg, DefaultSessions),
		Dial:     dial,
	}
	if f, ok := c.Stdout.(*os.File); ok && isTerminal(f) {
		sh.Width = terminalWidth(f)
		if !sh.Quiet {
			sh.Progress = c.Stdout
		}
	}

	if o.path != "" {
		done, err := c.startAt(run, sh, client, o.path)
		if err != nil {
			return c.fail(run, err, "")
		}
		if done {
			return 0
		}
	}
	var err error
	switch {
	case in == nil:
		return 0
	case o.batch:
		err = sh.Run(run, sftpshell.Lines(in, c.stdout()), sftpshell.Batch)
	case isTerminal(c.Stdin):
		err = c.interactive(run, sh, intr)
	default:
		err = sh.Run(run, sftpshell.Lines(in, c.stdout()), sftpshell.Interactive)
	}
	if err != nil {
		return c.fail(run, err, inName)
	}
	return 0
}

// startAt goes to the initial remote path: a directory becomes the
// working directory; anything else is downloaded to the local directory,
// and the session is done.
func (c *SFTP) startAt(ctx context.Context, sh *sftpshell.Shell, client *sftp.Client, path string) (done bool, err error) {
	if fi, serr := client.Stat(path); serr == nil && !fi.IsDir() {
		return true, sh.Exec(ctx, "get -- "+sftpshell.Quote(path))
	}
	return false, sh.Chdir(path)
}

// fail reports err, a failed session, and returns the exit status: 255
// when the connection was lost or ctx ended, 1 otherwise.
func (c *SFTP) fail(run context.Context, err error, inName string) int {
	if connectionLost(err) {
		// The command noticed first; the connection's own end says why.
		select {
		case <-run.Done():
		case <-time.After(lostGrace):
		}
	}
	var lost *lostError
	if cause := context.Cause(run); errors.As(cause, &lost) {
		fmt.Fprintf(c.stderr(), "ssmsftp: %v\n", lost)
		return ExitConnection
	}
	if run.Err() != nil {
		sshcli.Report(c.stderr(), "ssmsftp", run.Err())
		return ExitConnection
	}
	if connectionLost(err) {
		fmt.Fprintf(c.stderr(), "ssmsftp: %v\n", &lostError{err: err})
		return ExitConnection
	}
	var le *sftpshell.LineError
	if errors.As(err, &le) && inName != "" {
		fmt.Fprintf(c.stderr(), "ssmsftp: %s: %v\n", inName, err)
		return ExitFailed
	}
	fmt.Fprintf(c.stderr(), "ssmsftp: %v\n", err)
	return ExitFailed
}

// lostGrace bounds the wait for the reason of a lost connection.
const lostGrace = 2 * time.Second

// lostError is the end of the SSH connection during the session.
type lostError struct{ err error }

func (e *lostError) Error() string {
	if e.err == nil || errors.Is(e.err, io.EOF) {
		return "connection closed"
	}
	return "connection lost: " + sshcli.UserMessage(e.err)
}

// connectionLost reports whether err is a command's view of the
// connection ending under it.
func connectionLost(err error) bool {
	var st *sftp.StatusError
	if errors.As(err, &st) {
		code := st.FxCode()
		return code == sftp.ErrSSHFxConnectionLost || code == sftp.ErrSSHFxNoConnection
	}
	return errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, sftp.ErrSSHFxNoConnection) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
