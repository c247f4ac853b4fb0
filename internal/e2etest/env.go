package e2etest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/iox"
	"github.com/ssmssh/ssmssh/internal/sshdtest"
	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// Options configure Start.
type Options struct {
	// Emulator configures the emulator; Logf defaults to the Env's Log.
	// Its agents are unpaced unless Emulator.AgentPace says otherwise
	// (benchmarks pace per run, see BenchPaces), so bulk tests stay fast.
	Emulator ssmtest.Options
	// Sshd configures the daemon.
	Sshd sshdtest.Options
	// Instance is the instance whose Port leads to sshd (default
	// ssmtest.InstanceAmazonLinux).
	Instance string
	// Port is the instance port mapped to sshd (default "22").
	Port string
	// Aliases are further names known_hosts gives sshd's host key (names
	// with the .ssm suffix, say).
	Aliases []string
	// ProxyArgs are options passed to ssmproxy before %h %p ("-v").
	ProxyArgs []string
}

// Env is an emulator with a real sshd behind one of its instances, and
// what the OpenSSH tools need to reach it through ssmproxy.
type Env struct {
	Server   *ssmtest.Server
	Sshd     *sshdtest.Sshd
	Log      *Log
	Instance string
	// Proxy is the ssmproxy binary.
	Proxy string
	// ProxyArgs are passed to ssmproxy before %h %p.
	ProxyArgs []string
	// Dir is a temporary directory: HOME of the subprocesses, the
	// known_hosts file.
	Dir        string
	KnownHosts string
	// RusageDir, when set, makes ProxyCommand run ssmproxy under the test
	// binary acting as a wrapper that writes ssmproxy's resource usage
	// there (see ReadUsage); the test package must call Main.
	RusageDir string

	owner   testing.TB // the test or benchmark that started the Env
	delayMu sync.Mutex
	delayed map[time.Duration]string // DelayProxy addresses by round-trip time
}

// DefaultTimeout bounds each subprocess a test waits for.
const DefaultTimeout = 2 * time.Minute

// RequireTools skips the test unless every named program is installed.
func RequireTools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			tb.Skipf("e2etest: %s is not installed (%v)", n, err)
		}
	}
}

// Start starts sshd and an emulator, maps the instance's port to sshd and
// writes known_hosts; everything stops in t.Cleanup. It skips the test
// when ssh or sshd is missing.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	RequireTools(t, "ssh")
	e := &Env{Log: NewLog(t), Instance: opts.Instance, Dir: t.TempDir(), ProxyArgs: opts.ProxyArgs, owner: t}
	if e.Instance == "" {
		e.Instance = ssmtest.InstanceAmazonLinux
	}
	port := opts.Port
	if port == "" {
		port = "22"
	}
	e.Sshd = sshdtest.Start(t, opts.Sshd)
	e.Proxy = Binary(t)
	eopts := opts.Emulator
	if eopts.Logf == nil {
		eopts.Logf = e.Log.Logf
	}
	s, err := ssmtest.NewServer(eopts)
	if err != nil {
		t.Fatalf("e2etest: %v", err)
	}
	e.Server = s
	t.Cleanup(func() {
		// Every test ends its sessions; a leak is a failure.
		if err := s.Close(); err != nil {
			t.Errorf("e2etest: emulator Close: %v", err)
		}
	})
	if err := s.Fleet().SetPort(e.Instance, port, e.Sshd.Addr); err != nil {
		t.Fatalf("e2etest: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(e.Dir, "home"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.KnownHosts = filepath.Join(e.Dir, "known_hosts")
	e.AddKnownHost(t, append([]string{e.Instance}, opts.Aliases...)...)
	return e
}

// AddKnownHost adds a known_hosts line giving sshd's host key the names
// (as ssh looks them up: "host" for port 22, "[host]:port" otherwise).
func (e *Env) AddKnownHost(t testing.TB, names ...string) {
	t.Helper()
	f, err := os.OpenFile(e.KnownHosts, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range names {
		if _, err := f.WriteString(e.Sshd.KnownHostsLine(n) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// Environ is the environment of every subprocess: PATH, a HOME of its
// own, AWS shared config and credentials files that do not exist, and
// the emulator's AWS_* variables. Nothing else of the test's environment
// (AWS_CA_BUNDLE, AWS_PROFILE, SSH_AUTH_SOCK…) is passed on.
func (e *Env) Environ() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(e.Dir, "home"),
		"LANG=C",
		"AWS_CONFIG_FILE=" + filepath.Join(e.Dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(e.Dir, "no-aws-credentials"),
	}
	if e.RusageDir != "" {
		env = append(env, rusageEnv+"="+e.RusageDir)
	}
	return append(env, e.Server.Env()...)
}

// ProxyCommand is the ProxyCommand value running ssmproxy with
// e.ProxyArgs and then args, then "%h %p".
func (e *Env) ProxyCommand(args ...string) string {
	var words []string
	if e.RusageDir != "" {
		exe, err := os.Executable()
		if err == nil {
			words = append(words, iox.ShellQuote(exe))
		}
	}
	words = append(words, iox.ShellQuote(e.Proxy))
	for _, a := range append(append([]string{}, e.ProxyArgs...), args...) {
		words = append(words, iox.ShellQuote(a))
	}
	return strings.Join(append(words, "%h", "%p"), " ")
}

// SSHOptions are the options ssh, scp and sftp need to log in to sshd
// through ssmproxy (ProxyCommand with proxyArgs added) with no
// configuration file: "-F /dev/null", the ProxyCommand, then LoginOptions.
func (e *Env) SSHOptions(proxyArgs ...string) []string {
	return append([]string{"-F", "/dev/null", "-o", "ProxyCommand=" + e.ProxyCommand(proxyArgs...)}, e.LoginOptions()...)
}

// LoginOptions log in as the sshd user with its client key, verify the
// host key against KnownHosts, and read nothing from ~/.ssh, /etc/ssh or
// an agent; they name no configuration file and no ProxyCommand.
func (e *Env) LoginOptions() []string {
	var opts []string
	for _, kv := range []string{
		"User=" + e.Sshd.User,
		"IdentityFile=" + e.Sshd.ClientKeyFile,
		"IdentitiesOnly=yes",
		"IdentityAgent=none",
		"UserKnownHostsFile=" + e.KnownHosts,
		"GlobalKnownHostsFile=/dev/null",
		"StrictHostKeyChecking=yes",
		"UpdateHostKeys=no",
		"BatchMode=yes",
		"ControlPath=none",
		"ConnectTimeout=60",
		"LogLevel=ERROR",
	} {
		opts = append(opts, "-o", kv)
	}
	return opts
}

// DirectSSHOptions are sshdtest's options: straight to sshd on loopback,
// no ProxyCommand (the benchmarks' ceiling).
func (e *Env) DirectSSHOptions() []string { return e.Sshd.SSHOptions() }

// RsyncShell is the value of rsync's -e for the given ssh options.
func RsyncShell(sshOptions []string) string {
	words := []string{"ssh"}
	for _, o := range sshOptions {
		words = append(words, iox.ShellQuote(o))
	}
	return strings.Join(words, " ")
}

// Client returns an ssmclient for the emulator (for tests that call the
// library in-process); its idle connections close in t.Cleanup.
func (e *Env) Client(t testing.TB) *ssmclient.Client {
	t.Helper()
	cfg, err := e.Server.AWSConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cfg.HTTPClient.(*http.Client).CloseIdleConnections() })
	return ssmclient.NewClientFromConfig(cfg)
}

// AwaitSessionsEnded waits up to d for every session of the emulator to
// end, and ends those still live as the service ends a session whose
// client went away (ssmtest.ReasonClientVanished), saying so in the log.
// For peers that end their sessions after their process is gone, or not
// at all, such as the official plugin killed by ssh when its command ends,
// so that Close does not report them as leaked.
func (e *Env) AwaitSessionsEnded(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var live []*ssmtest.Session
		for _, s := range e.Server.Sessions().All() {
			switch s.State() {
			case ssmtest.SessionTerminated, ssmtest.SessionFailed:
			default:
				live = append(live, s)
			}
		}
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, s := range live {
				t.Logf("e2etest: session %s (%s) still %s after %s: ending it", s.ID, s.DocumentName, s.State(), d)
				_ = e.Server.Sessions().Terminate(s.ID, ssmtest.ReasonClientVanished)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// OfficialPair reports whether AWS's session-manager-plugin and the AWS
// CLI v2 are there for benchmarks to compare with: a
// session-manager-plugin on PATH (the tests do not put this repository's
// own there) and /usr/bin/aws (the aws first on PATH may be the CLI v1).
func OfficialPair() bool {
	_, err := exec.LookPath("session-manager-plugin")
	_, errAWS := os.Stat("/usr/bin/aws")
	return err == nil && errAWS == nil
}

// OfficialSSHOptions are ssh (and scp) options that reach the instance
// through the AWS CLI and AWS's session-manager-plugin, as AWS documents
// it, and log in to sshd.
func (e *Env) OfficialSSHOptions() []string {
	official := "/usr/bin/aws ssm start-session --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p"
	return append([]string{"-F", "/dev/null", "-o", "ProxyCommand=" + official}, e.LoginOptions()...)
}
