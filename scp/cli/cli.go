package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/ssmssh/ssmssh/scp"
	"github.com/ssmssh/ssmssh/sshclient"
	sshcli "github.com/ssmssh/ssmssh/sshclient/cli"
)

// program names ssmscp in its messages.
const program = "ssmscp"

// Exit statuses besides 0 and sshclient.ExitConnectionError.
const (
	exitFailed = 1 // some file was not copied
	exitUsage  = 2
)

// SCP is the ssmscp command line; Main runs it.
type SCP struct {
	// Stdin is not read: the files are named on the command line, and
	// passphrases and host-key questions go to the controlling terminal,
	// as in ssmssh. It gives SCP the shape of ssmssh's SSH.
	Stdin *os.File
	// Stdout gets the progress meter when it is a terminal; Stderr gets
	// errors, warnings and, with -v, diagnostics.
	Stdout, Stderr io.Writer
	// Env looks up environment variables (nil: os.Getenv); HOME locates
	// ~/.ssh.
	Env func(string) string
}

// options are the parsed command line.
type options struct {
	settings        []string
	configFile      string
	recursive       bool
	preserve        bool
	quiet           bool
	verbose         bool
	legacy          bool
	profile, region string
	instanceConnect bool
	sessions        int // --sessions (0: SSMSessions, else DefaultSessions)
	sources         []operand
	target          operand
}

const usage = `usage: ssmscp [-rpqvO] [-P port] [-i identity] [-F configfile]
              [-o Option=value]... [--profile P] [--region R]
              [--instance-connect] [--sessions N] source ... target

Copy files to and from EC2 instances over AWS Systems Manager Session
Manager. A remote path is [user@]host:path, the host an instance id, a
Name tag, name.ssm or an ssh_config Host.

options:
`

// scpFlags are ssmscp's flags, for sshcli.ShortFlags.Split.
var scpFlags = sshcli.ShortFlags{
	Bool: "rpqvO", Value: "PiFo",
	Long:      []string{"profile", "region", "instance-connect", "sessions", "help", "h"},
	LongValue: []string{"profile", "region", "sessions"},
}

// DefaultSessions is how many Session Manager sessions a copy uses at
// most when neither --sessions nor SSMSessions says: the real agent sends
// about 1 MB/s per session, and the benchmark (BenchmarkParallel) shows
// four sessions copying about four times as fast as one. A copy opens
// more than one only while enough bytes wait (small copies use one).
const DefaultSessions = 4

// Main runs ssmscp with args (without the program name) and returns the
// exit status: 0 when everything was copied, 1 when a file failed, 2 for
// usage errors, 255 when the connection failed.
func (c *SCP) Main(ctx context.Context, args []string) int {
	o, code, ok := c.parse(args)
	if !ok {
		return code
	}
	var jobs []job
	switch {
	case o.target.remote() && anyRemote(o.sources):
		fmt.Fprintf(c.Stderr, "%s: copying between remote hosts is not supported: copy through a local directory\n", program)
		return exitFailed
	case o.target.remote():
		jobs = []job{{host: o.target.host, upload: true, sources: paths(o.sources), dst: o.target.path}}
	case !anyRemote(o.sources):
		fmt.Fprintf(c.Stderr, "%s: no remote path: a remote path is [user@]host:path (use cp for local copies)\n", program)
		return exitUsage
	default:
		var err error
		if jobs, err = downloads(o.sources, o.target.path); err != nil {
			fmt.Fprintf(c.Stderr, "%s: %v\n", program, err)
			return exitFailed
		}
		if fi, err := os.Stat(o.target.path); len(o.sources) > 1 && (err != nil || !fi.IsDir()) {
			fmt.Fprintf(c.Stderr, "%s: %s: %s\n", program, o.target.path, scp.Reason(scp.ErrNotDirectory))
			return exitFailed
		}
	}
	code = 0
	for _, j := range jobs {
		if jc := c.run(ctx, o, j); jc > code {
			code = jc
		}
		if ctx.Err() != nil {
			break
		}
	}
	return code
}

func (c *SCP) parse(args []string) (options, int, bool) {
	var o options
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(c.Stderr, usage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.recursive, "r", false, "copy directories recursively")
	fs.BoolVar(&o.preserve, "p", false, "preserve modes and access and modification times")
	fs.BoolVar(&o.quiet, "q", false, "quiet: no progress meter, no warnings")
	fs.BoolVar(&o.verbose, "v", false, "print diagnostics")
	fs.BoolVar(&o.legacy, "O", false, "use the legacy scp protocol instead of SFTP")
	fs.Var(sshcli.SettingFlag("p", &o.settings), "P", "remote `port`")
	fs.Var(sshcli.SettingFlag("i", &o.settings), "i", "identity `file` (repeatable)")
	fs.Var(sshcli.SettingFlag("o", &o.settings), "o", "ssh_config `Option=value` (repeatable)")
	fs.StringVar(&o.configFile, "F", "", "ssh_config `file` (\"none\": none)")
	fs.StringVar(&o.profile, "profile", "", "AWS shared-config `profile`")
	fs.StringVar(&o.region, "region", "", "AWS `region`")
	fs.BoolVar(&o.instanceConnect, "instance-connect", false, "log in with a key pushed through EC2 Instance Connect")
	fs.Func("sessions", fmt.Sprintf("copy over up to `N` Session Manager sessions at once (ssh_config: SSMSessions; default %d)", DefaultSessions), func(v string) error {
		n, err := sshcli.ParseSessions(v)
		o.sessions = n
		return err
	})
	if err := fs.Parse(scpFlags.Split(args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0, false
		}
		return o, exitUsage, false
	}
	rest := fs.Args()
	if len(rest) < 2 {
		fs.Usage()
		return o, exitUsage, false
	}
	for _, a := range rest[:len(rest)-1] {
		o.sources = append(o.sources, parseOperand(a))
	}
	o.target = parseOperand(rest[len(rest)-1])
	for _, op := range append(o.sources, o.target) {
		if op.remote() && (op.host == "" || strings.HasSuffix(op.host, "@")) {
			fmt.Fprintf(c.Stderr, "%s: %s: no host before ':'\n", program, op.arg)
			return o, exitUsage, false
		}
	}
	return o, 0, true
}

// job is one connection's work: an upload, or the downloads from one host.
type job struct {
	host    string // [user@]host
	upload  bool
	sources []string
	dst     string
}

// downloads groups remote sources by host, in order: one connection for
// each run of sources on the same host.
func downloads(sources []operand, dst string) ([]job, error) {
	var jobs []job
	for _, s := range sources {
		if !s.remote() {
			return nil, fmt.Errorf("%s: copying a local file to a local target: use cp", s.arg)
		}
		if n := len(jobs); n > 0 && jobs[n-1].host == s.host {
			jobs[n-1].sources = append(jobs[n-1].sources, s.path)
			continue
		}
		jobs = append(jobs, job{host: s.host, sources: []string{s.path}, dst: dst})
	}
	return jobs, nil
}

// run connects to j.host and copies; it returns the exit status.
func (c *SCP) run(ctx context.Context, o options, j job) int {
	conn := sshcli.Connect{
		Program: program, Destination: j.host, ConfigFile: o.configFile, Settings: o.settings,
		Profile: o.profile, Region: o.region, InstanceConnect: o.instanceConnect,
		Verbose: o.verbose, Quiet: o.quiet, Stderr: c.Stderr, Env: c.Env,
	}
	client, cfg, err := conn.Dial(ctx)
	if err != nil {
		sshcli.Report(c.Stderr, program, err)
		return sshclient.ExitConnectionError
	}
	defer client.Close()
	so := scp.Options{Recursive: o.recursive, Preserve: o.preserve}
	so.Sessions = sshcli.Sessions(o.sessions, cfg, DefaultSessions)
	so.Dial = sshcli.SFTPDialer(&conn, sftpOptions...)
	if !o.quiet && isTerminal(c.Stdout) {
		so.Progress = c.Stdout
	}
	if o.verbose {
		so.Logf = func(format string, args ...any) {
			fmt.Fprintf(c.Stderr, strings.Replace(format, "scp: ", program+": ", 1)+"\n", args...)
		}
	}
	if o.legacy {
		if so.Sessions > 1 {
			cfg.Logf("%s: -O: the legacy scp protocol copies over one session", program)
		}
		if j.upload {
			err = scp.UploadSCP(ctx, client, j.sources, j.dst, so)
		} else {
			err = scp.DownloadSCP(ctx, client, j.sources, j.dst, so)
		}
	} else {
		err = c.overSFTP(ctx, client, j, so)
	}
	return c.report(err)
}

// overSFTP copies j over an SFTP session of client.
func (c *SCP) overSFTP(ctx context.Context, client *ssh.Client, j job, so scp.Options) error {
	sc, err := sftp.NewClient(client, sftpOptions...)
	if err != nil {
		return fmt.Errorf("cannot start SFTP (the legacy protocol, -O, may work): %w", err)
	}
	defer sc.Close()
	if j.upload {
		return scp.Upload(ctx, sc, j.sources, j.dst, so)
	}
	return scp.Download(ctx, sc, j.sources, j.dst, so)
}

// sftpOptions are the SFTP client's options, on every connection.
var sftpOptions = []sftp.ClientOption{sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true)}

// report prints err, one line per failed file, and returns the exit
// status.
func (c *SCP) report(err error) int {
	var es *scp.Errors
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		for _, f := range es.Files {
			fmt.Fprintf(c.Stderr, "%s: %s\n", program, oneLine(f.Message()))
		}
	default:
		sshcli.Report(c.Stderr, program, errors.New(strings.TrimPrefix(err.Error(), "scp: ")))
	}
	return exitFailed
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var is bool
	if rc.Control(func(fd uintptr) { is = term.IsTerminal(int(fd)) }) != nil {
		return false
	}
	return is
}
