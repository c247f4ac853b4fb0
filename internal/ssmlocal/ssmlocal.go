package ssmlocal

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ssmssh/ssmssh/internal/iox"
	"github.com/ssmssh/ssmssh/internal/version"
	"github.com/ssmssh/ssmssh/ssmtest"
)

const usage = `usage: ssmlocal [serve] [options]   run the emulator until interrupted
       ssmlocal env [--state-dir DIR]  print the export lines of a running emulator
       ssmlocal demo [options]         walk through ssmssh against a fresh emulator
       ssmlocal version

ssmlocal emulates the AWS side of Session Manager on 127.0.0.1 (SSM, EC2,
EC2 Instance Connect, KMS, STS, the ssmmessages gateway, and an agent and
SSH server per instance), so every ssmssh tool runs with no AWS account:

    ssmlocal &                 # or in another terminal
    eval "$(ssmlocal env)"
    ssh -o ProxyCommand='ssmproxy %h %p' ec2-user@i-0a1b2c3d4e5f00001

The built-in agents pace what they send as amazon-ssm-agent does (1 KiB
reads, 1 ms after each: at most about 1 MB/s per session), so transfers
take as long as they would through a real agent; --unpaced lifts that.
The service's own events are on too: each client websocket is closed after
an hour (clients must resume), and sessions end after 20 minutes without
data; --publication-rate turns on the pause the service is reported to
send a client sending over 1000 messages a second.

options:
`

// IO is where the command reads and writes.
type IO struct {
	Stdout, Stderr io.Writer
}

// Main runs ssmlocal with args (without the program name) and returns the
// exit status.
func Main(ctx context.Context, args []string, stdio IO) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stdio)
	case "env":
		err = printEnv(args, stdio)
	case "demo":
		err = demo(ctx, args, stdio)
	case "version":
		fmt.Fprintf(stdio.Stdout, "ssmlocal %s\n", version.Version)
	case "help", "-h", "--help":
		_, _ = io.WriteString(stdio.Stderr, usage)
		newFlags(stdio).fs.PrintDefaults()
	default:
		fmt.Fprintf(stdio.Stderr, "ssmlocal: unknown command %q\n", cmd)
		_, _ = io.WriteString(stdio.Stderr, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "ssmlocal: %v\n", err)
		return 1
	}
	return 0
}

// flags are the emulator's options on the command line.
type flags struct {
	fs             *flag.FlagSet
	fleet          string
	stateDir       string
	authorizedKeys string
	kmsKey         string
	allowUnsigned  bool
	unpaced        bool
	lifetime       time.Duration
	pubRate        int
	maxDuration    time.Duration
	idleTimeout    time.Duration
	verbose        bool
	listen         string
	proxy          bool
	external       stringList
}

func newFlags(stdio IO) *flags {
	f := &flags{fs: flag.NewFlagSet("ssmlocal", flag.ContinueOnError)}
	f.fs.SetOutput(stdio.Stderr)
	f.fs.StringVar(&f.fleet, "fleet", "", "fleet description `file` (JSON; default: the built-in fleet)")
	f.fs.StringVar(&f.stateDir, "state-dir", DefaultStateDir(), "`directory` for the env file and host keys")
	f.fs.StringVar(&f.authorizedKeys, "authorized-keys", "",
		"authorized_keys `file` for the built-in SSH servers (default: your ~/.ssh/*.pub)")
	f.fs.StringVar(&f.kmsKey, "kms-key", "", "encrypt shell sessions with this KMS `key` (e.g. alias/ssm-sessions)")
	f.fs.BoolVar(&f.allowUnsigned, "allow-unsigned", false,
		"let the gateway accept requests without a valid SigV4 signature (for session-manager-plugin older than 1.2.764.0)")
	f.fs.BoolVar(&f.unpaced, "unpaced", false,
		"let the built-in agents send as fast as they can instead of at the real agent's pace (about 1 MB/s per session)")
	f.fs.DurationVar(&f.lifetime, "websocket-lifetime", ssmtest.ServiceWebsocketLifetime,
		"close each client data-channel websocket (code 1000) after this `long`, as the service does about hourly; clients must resume (0: never)")
	f.fs.IntVar(&f.pubRate, "publication-rate", 0,
		"pause a client that sends more than this many `messages` a second over 2 s (the service's reported limit is 1000; 0: no limit)")
	f.fs.DurationVar(&f.idleTimeout, "idle-timeout", 20*time.Minute,
		"end sessions without data for this `long` (the preferences' idleSessionTimeout; 0: never)")
	f.fs.DurationVar(&f.maxDuration, "max-session-duration", 0,
		"end sessions this `long` after they start (the preferences' maxSessionDuration; 0: never)")
	f.fs.StringVar(&f.listen, "listen", "127.0.0.1:0",
		"`address` to listen on (a fixed port lets an external agent's configuration name it)")
	f.fs.BoolVar(&f.proxy, "proxy", true,
		"also serve as an HTTPS CONNECT proxy for *.amazonaws.com, and list HTTPS_PROXY and NO_PROXY in the env lines")
	f.fs.Var(&f.external, "external",
		"serve `instance` with an external agent (e.g. a real amazon-ssm-agent) instead of a built-in one; repeatable, or comma-separated; an id not in the fleet is added")
	f.fs.BoolVar(&f.verbose, "v", false, "log the emulator's diagnostics to stderr")
	return f
}

// stringList is a repeatable flag whose values may also be
// comma-separated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// DefaultStateDir is where a running ssmlocal keeps its env file and host
// keys: $XDG_RUNTIME_DIR/ssmlocal, else a per-user directory in the
// system's temporary directory.
func DefaultStateDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "ssmlocal")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("ssmlocal-%d", os.Getuid()))
}

// options builds the emulator's options from the flags.
func (f *flags) options(stdio IO) (ssmtest.Options, error) {
	opts := ssmtest.Options{KMSKeyID: f.kmsKey, HostKeyDir: filepath.Join(f.stateDir, "hostkeys"),
		CADir: filepath.Join(f.stateDir, "ca"), AllowUnsignedGateway: f.allowUnsigned,
		Addr: f.listen, DisableConnectProxy: !f.proxy, AgentPace: agentPace(f.unpaced),
		IdleSessionTimeout: f.idleTimeout, MaxSessionDuration: f.maxDuration, Faults: &ssmtest.Faults{}}
	if f.idleTimeout <= 0 {
		opts.IdleSessionTimeout = -1
	}
	if f.lifetime < 0 || f.pubRate < 0 || f.maxDuration < 0 {
		return opts, errors.New("ssmlocal: --websocket-lifetime, --publication-rate and --max-session-duration cannot be negative")
	}
	opts.Faults.Set(func(fs *ssmtest.FaultSet) {
		fs.WebsocketLifetime, fs.PublicationRateLimit = f.lifetime, f.pubRate
	})
	if f.verbose {
		opts.Logf = func(format string, args ...any) { fmt.Fprintf(stdio.Stderr, format+"\n", args...) }
	}
	if f.fleet != "" {
		fl, err := ssmtest.LoadFleet(f.fleet)
		if err != nil {
			return opts, err
		}
		opts.Fleet = fl
	}
	if len(f.external) > 0 {
		if opts.Fleet == nil {
			opts.Fleet = ssmtest.DefaultFleet()
		}
		if err := markExternal(opts.Fleet, f.external); err != nil {
			return opts, err
		}
	}
	if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
		return opts, err
	}
	keys := f.authorizedKeys
	if keys == "" {
		var err error
		if keys, err = collectPublicKeys(f.stateDir); err != nil {
			return opts, err
		}
	}
	opts.AuthorizedKeysFile = keys
	return opts, nil
}

// agentPace is the built-in agents' pace: the real agent's unless
// unpaced.
func agentPace(unpaced bool) ssmtest.Pace {
	if unpaced {
		return ssmtest.Pace{}
	}
	return ssmtest.RealAgentPace
}

// paceLine describes the agents' pace in the banner.
func paceLine(p ssmtest.Pace) string {
	if !p.Paced() {
		return "# Agents are unpaced (--unpaced): transfers run far faster than through a real amazon-ssm-agent.\n"
	}
	return fmt.Sprintf("# Agents pace their output as amazon-ssm-agent does (%d-byte reads, %v after each: about 1 MB/s per session); --unpaced lifts it.\n",
		p.ReadSize, p.Pause)
}

// limitsLine is the banner's line on the service's limits in force.
func limitsLine(f *flags) string {
	off := func(d time.Duration) string {
		if d <= 0 {
			return "never"
		}
		return d.String()
	}
	rate := "no publication rate limit"
	if f.pubRate > 0 {
		rate = fmt.Sprintf("clients paused above %d messages/s", f.pubRate)
	}
	return fmt.Sprintf("# Service limits: websockets closed after %s, idle sessions ended after %s, sessions ended after %s, %s.\n",
		off(f.lifetime), off(f.idleTimeout), off(f.maxDuration), rate)
}

// collectPublicKeys writes the user's ~/.ssh/*.pub keys into an
// authorized_keys file in dir, so that the built-in SSH servers accept
// the keys ssh would offer.
func collectPublicKeys(dir string) (string, error) {
	path := filepath.Join(dir, "authorized_keys")
	var b strings.Builder
	if home, err := os.UserHomeDir(); err == nil {
		pubs, _ := filepath.Glob(filepath.Join(home, ".ssh", "*.pub"))
		sort.Strings(pubs)
		for _, p := range pubs {
			if data, err := os.ReadFile(p); err == nil {
				b.Write(data)
				if !strings.HasSuffix(b.String(), "\n") {
					b.WriteByte('\n')
				}
			}
		}
	}
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

func serve(ctx context.Context, args []string, stdio IO) error {
	f := newFlags(stdio)
	f.fs.Usage = func() {
		_, _ = io.WriteString(stdio.Stderr, usage)
		f.fs.PrintDefaults()
	}
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	opts, err := f.options(stdio)
	if err != nil {
		return err
	}
	s, err := ssmtest.NewServer(opts)
	if err != nil {
		return err
	}
	envFile := filepath.Join(f.stateDir, "env.sh")
	if err := os.WriteFile(envFile, []byte(exportLines(s.Env())), 0o600); err != nil {
		s.Close()
		return err
	}
	defer os.Remove(envFile)
	fmt.Fprintf(stdio.Stdout, "# ssmlocal %s: the AWS side of Session Manager on %s\n", version.Version, s.URL())
	fmt.Fprintf(stdio.Stdout, "# In another shell: eval \"$(ssmlocal env)\"   (or paste these lines)\n")
	fmt.Fprint(stdio.Stdout, exportLines(s.Env()))
	fmt.Fprintln(stdio.Stdout)
	writeInstances(stdio.Stdout, s.Fleet())
	writeAgentConfigs(stdio.Stdout, s, f.stateDir)
	fmt.Fprint(stdio.Stdout, "\n"+paceLine(s.AgentPace()))
	fmt.Fprint(stdio.Stdout, limitsLine(f))
	fmt.Fprintf(stdio.Stdout, "# Built-in SSH servers accept the keys in %s. Ctrl-C stops ssmlocal.\n", opts.AuthorizedKeysFile)
	<-ctx.Done()
	return s.Close()
}

func printEnv(args []string, stdio IO) error {
	fs := flag.NewFlagSet("ssmlocal env", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	dir := fs.String("state-dir", DefaultStateDir(), "the running emulator's state `directory`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(*dir, "env.sh"))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no running emulator found in %s: start one with `ssmlocal &`", *dir)
	}
	if err != nil {
		return err
	}
	_, err = stdio.Stdout.Write(data)
	return err
}

// exportLines renders NAME=value pairs as shell export lines.
func exportLines(env []string) string {
	var b strings.Builder
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, iox.ShellQuote(v))
	}
	return b.String()
}

// writeInstances prints the fleet as a table.
func writeInstances(w io.Writer, fl *ssmtest.Fleet) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "# INSTANCE\tNAME\tPLATFORM\tSTATE\tAGENT\tPRIVATE IP\tPORT 22")
	for _, in := range fl.Instances() {
		port := in.Ports["22"]
		if port == "" {
			port = "-"
		}
		agent := in.PingStatus
		if in.ExternalAgent {
			agent, port = "external", "-"
		}
		fmt.Fprintf(tw, "# %s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", in.InstanceID, in.Name, in.PlatformName,
			in.PlatformVersion, in.State, agent, in.PrivateIP, port)
	}
	tw.Flush()
}
