package proxy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ssmssh/ssmssh/internal/iox"
	"github.com/ssmssh/ssmssh/internal/version"
	"github.com/ssmssh/ssmssh/ssmclient"
)

const usage = `usage: ssmproxy [options] host [port]
       ssmproxy config [--suffix .ssm]
       ssmproxy version

An OpenSSH ProxyCommand over AWS Systems Manager Session Manager:

    ssh -o ProxyCommand='ssmproxy %h %p' ec2-user@i-0123456789abcdef0

host is an instance id (i-…, mi-…), ecs:<cluster>_<task>_<container-runtime-id>,
or a Name tag, private DNS name or private IP that EC2 resolves (a trailing
--suffix, ".ssm" by default, is stripped first).

options:
`

// CLI is the ssmproxy command line; Main runs it. Stdin and Stdout carry
// the SSH connection only; Stderr gets errors and, with -v, diagnostics.
type CLI struct {
	Stdin  io.ReadCloser
	Stdout io.WriteCloser
	Stderr io.Writer
	// Executable is the path printed by "ssmproxy config" (default
	// os.Executable).
	Executable string
}

// Main runs ssmproxy with args (without the program name) and returns the
// exit status.
func (c *CLI) Main(ctx context.Context, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "config":
			return c.config(args[1:])
		case "version", "--version":
			fmt.Fprintf(c.Stderr, "ssmproxy %s\n", version.Version)
			return 0
		}
	}
	fs := flag.NewFlagSet("ssmproxy", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() {
		_, _ = io.WriteString(c.Stderr, usage)
		fs.PrintDefaults()
	}
	var (
		cfg     Config
		params  string
		verbose bool
	)
	fs.StringVar(&cfg.AWS.Profile, "profile", "", "AWS shared-config `profile` (default $AWS_PROFILE)")
	fs.StringVar(&cfg.AWS.Region, "region", "", "AWS `region` (default $AWS_REGION or the profile's)")
	fs.StringVar(&cfg.DocumentName, "document-name", ssmclient.DocumentSSH, "session `document` to start")
	fs.StringVar(&params, "parameters", "", "extra document `parameters`, as the AWS CLI takes them: name=value,name=[a,b] or JSON {\"name\":[\"value\"]} or file://path")
	fs.StringVar(&cfg.HostSuffix, "suffix", ssmclient.DefaultHostSuffix, "`suffix` stripped from host names before EC2 lookup")
	fs.BoolVar(&verbose, "v", false, "print diagnostics to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	rest := fs.Args()
	if len(rest) < 1 || len(rest) > 2 {
		fs.Usage()
		return 2
	}
	cfg.Host = rest[0]
	if len(rest) == 2 {
		cfg.Port = rest[1]
	}
	p, err := ssmclient.ParseParameters(params)
	if err != nil {
		fmt.Fprintf(c.Stderr, "ssmproxy: --parameters: %s\n", strings.TrimPrefix(err.Error(), "ssmclient: parameters: "))
		return 2
	}
	cfg.Parameters = p
	if verbose {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(c.Stderr, "ssmproxy: "+format+"\n", args...)
		}
	}
	if err := Run(ctx, cfg, &Stdio{In: c.Stdin, Out: c.Stdout}); err != nil {
		port := cfg.Port
		if v := p["portNumber"]; len(v) > 0 {
			port = v[0]
		}
		fmt.Fprintf(c.Stderr, "ssmproxy: %s\n", withDoctor(userMessage(err, port), err, cfg.Host))
		return 1
	}
	return 0
}

// UserMessage is the one line a user sees for err (see userMessage).
func UserMessage(err error, port string) string { return userMessage(err, port) }

// userMessage is the one line a user sees for err: the explanation
// without the layers' package prefixes. port is the session's remote
// port, for the hints to the agent's failure texts.
func userMessage(err error, port string) string {
	var ended *ssmclient.SessionEndedError
	if errors.As(err, &ended) {
		return "the session ended: " + explainAgentText(ended.Output, port)
	}
	var ex *ssmclient.Error
	if errors.As(err, &ex) {
		return strings.TrimPrefix(ex.Error(), "ssmclient: ")
	}
	msg := err.Error()
	for _, p := range []string{"proxy: ", "ssmclient: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

func (c *CLI) config(args []string) int {
	fs := flag.NewFlagSet("ssmproxy config", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	suffix := fs.String("suffix", ssmclient.DefaultHostSuffix, "host-name `suffix` routed by name")
	profile := fs.String("profile", "", "AWS `profile` to pin in the block")
	fs.Usage = func() {
		_, _ = io.WriteString(c.Stderr, "usage: ssmproxy config [--suffix .ssm] [--profile name]\n\nPrints an ~/.ssh/config block that routes ssh through ssmproxy.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	exe := c.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			fmt.Fprintf(c.Stderr, "ssmproxy: %v\n", err)
			return 1
		}
	}
	if abs, err := filepath.Abs(exe); err == nil {
		exe = abs
	}
	fmt.Fprint(c.Stdout, ConfigBlock(exe, *suffix, *profile))
	return 0
}

// ConfigBlock returns an ~/.ssh/config block routing instance ids, and
// names ending in suffix, through ssmproxy at exe.
func ConfigBlock(exe, suffix, profile string) string {
	cmd := iox.ShellQuote(exe)
	if profile != "" {
		cmd += " --profile " + iox.ShellQuote(profile)
	}
	var b strings.Builder
	b.WriteString("# Reach EC2 instances through AWS Systems Manager Session Manager (ssmproxy).\n")
	b.WriteString("Host i-* mi-*\n")
	fmt.Fprintf(&b, "    ProxyCommand %s %%h %%p\n", cmd)
	if suffix != "" {
		b.WriteString("\n# By EC2 Name tag, private DNS name or private IP: ssh web-1" + suffix + "\n")
		fmt.Fprintf(&b, "Host *%s\n", suffix)
		fmt.Fprintf(&b, "    ProxyCommand %s --suffix %s %%h %%p\n", cmd, iox.ShellQuote(suffix))
	}
	return b.String()
}
