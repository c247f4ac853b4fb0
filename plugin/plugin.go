package plugin

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmssh/ssmssh/forward"
	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/proxy"
	"github.com/ssmssh/ssmssh/shell"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// Kind is the kind of session the plugin runs, learnt from the agent's
// handshake as the official plugin learns it (the request's document name
// is only a hint: custom documents have any name).
type Kind int

// The kinds.
const (
	KindStdio          Kind = iota + 1 // Port without LocalPortForwarding (AWS-StartSSHSession): stdin/stdout
	KindPortForwarding                 // Port with type LocalPortForwarding: a listener on localPortNumber
	KindShell                          // Standard_Stream and InteractiveCommands: a terminal
	KindCommand                        // NonInteractiveCommands: stdout, stderr, exit status
)

func (k Kind) String() string {
	switch k {
	case KindStdio:
		return "stdio"
	case KindPortForwarding:
		return "port forwarding"
	case KindShell:
		return "shell"
	case KindCommand:
		return "command"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// KindOf is the kind of a session by its handshake.
func KindOf(hs *protocol.ClientHandshakeResult) Kind {
	switch hs.SessionType {
	case protocol.SessionTypePort:
		if hs.Port != nil && hs.Port.Type == "LocalPortForwarding" {
			return KindPortForwarding
		}
		return KindStdio
	case protocol.SessionTypeNonInteractiveCommands:
		return KindCommand
	}
	return KindShell
}

// Config is one run of the plugin.
type Config struct {
	Args *Args
	// Client, when set, is used instead of loading the AWS configuration
	// of Args' profile and region.
	Client *ssmclient.Client
	Stdin  io.ReadCloser
	Stdout io.WriteCloser
	Stderr io.Writer
	// Signals are the user's SIGINT, SIGQUIT and SIGTSTP: a shell gets
	// them as the control characters (shell.Options.Signals); for the
	// other kinds SIGINT and SIGQUIT end the session. nil: none.
	Signals <-chan os.Signal
	// Getenv reads the environment (nil: os.Getenv).
	Getenv func(string) string
	// Logf receives diagnostics; nil discards them. Tokens are never
	// logged.
	Logf func(format string, args ...any)
}

// Result is how a session ended.
type Result struct {
	Kind      Kind
	SessionID string
	// ExitCode is the remote command's exit status (KindCommand, when the
	// agent reported one), else 0.
	ExitCode int
	// HasExitCode reports that the agent sent the command's exit status.
	HasExitCode bool
}

// Run runs the session a ModeSession command line hands over, until it
// ends, and terminates it on every way out (TerminateSession with the
// profile's credentials). ctx's end (a signal) ends the session cleanly.
func Run(ctx context.Context, cfg Config) (Result, error) {
	a := cfg.Args
	res := Result{SessionID: a.Response.SessionID}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	client := cfg.Client
	if client == nil {
		var err error
		if client, err = NewClient(ctx, a, getenv); err != nil {
			return res, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var toShell chan os.Signal
	var shellOn atomic.Bool
	if cfg.Signals != nil {
		toShell = make(chan os.Signal, 8)
		go relaySignals(ctx, cfg.Signals, toShell, &shellOn, cancel)
	}
	stderr := &lockedWriter{w: cfg.Stderr}
	in := ssmclient.StartInput{Target: a.Request.Target, Stderr: stderr, Logf: logf}
	var out *forward.Printer
	if isPortForwarding(a.Request) {
		out = forward.NewPrinter(cfg.Stdout)
		in.OnFlag = forward.FlagHandler(out, logf)
	}
	sess, err := client.OpenSession(ctx, a.Response, in)
	if err != nil {
		return res, err
	}
	res.Kind = KindOf(sess.Handshake)
	logf("session %s on %s is a %v session (agent %s)", sess.ID, a.Request.Target, res.Kind, sess.Handshake.AgentVersion)
	switch res.Kind {
	case KindStdio:
		// stdout carries the session's bytes and nothing else: no
		// "Starting session" line, and nothing after the stream ends.
		return res, proxy.Serve(ctx, sess, &proxy.Stdio{In: cfg.Stdin, Out: cfg.Stdout}, logf)
	case KindCommand:
		return runCommand(ctx, sess, cfg, stderr, res)
	case KindPortForwarding:
		if out == nil {
			out = forward.NewPrinter(cfg.Stdout)
		}
		return res, runPort(ctx, sess, cfg, out, logf)
	}
	shellOn.Store(true)
	var sigs <-chan os.Signal
	if toShell != nil {
		sigs = toShell
	}
	return runShell(ctx, sess, cfg, sigs, res)
}

// NewClient loads the AWS configuration of a's profile and region, as the
// plugin does, and points the SSM client at the endpoint the AWS CLI
// called (start-session), so that ResumeSession and TerminateSession go
// where StartSession went. execute-command passes the ECS endpoint
// instead: a custom one (an emulator, a single-endpoint stand-in) is used
// for SSM too unless the environment names an SSM endpoint; ECS's public
// endpoint is not (the SDK's own resolution then finds SSM's). KMS and
// the other services follow the SDK's configuration (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_KMS, the profile's endpoint_url and ca_bundle), which
// the official plugin's KMS client ignores.
func NewClient(ctx context.Context, a *Args, getenv func(string) string) (*ssmclient.Client, error) {
	c, err := ssmclient.NewClient(ctx, ssmclient.AWSOptions{Profile: a.Profile, Region: a.Region})
	if err != nil {
		return nil, err
	}
	ep := a.Endpoint
	if ep != "" && a.ECS {
		u, _ := url.Parse(ep)
		if strings.HasSuffix(u.Hostname(), ".amazonaws.com") || strings.HasSuffix(u.Hostname(), ".amazonaws.com.cn") ||
			getenv("AWS_ENDPOINT_URL_SSM") != "" || c.Config.BaseEndpoint != nil {
			ep = ""
		}
	}
	if ep != "" {
		c.SSM = ssm.NewFromConfig(c.Config, func(o *ssm.Options) { o.BaseEndpoint = &ep })
	}
	return c, nil
}

// runCommand runs a NonInteractiveCommands session: the command's stdout
// on stdout, its stderr on stderr (when the document separates them), its
// exit status in the result. Input is passed on (the agent scans it for
// Ctrl-C and Ctrl-\); the end of stdin does not end the command, a
// signal (ctx) does.
func runCommand(ctx context.Context, sess *ssmclient.Session, cfg Config, stderr io.Writer, res Result) (Result, error) {
	fmt.Fprintf(stderr, "\nStarting session with SessionId: %s\n", sess.ID)
	_, err := shell.Run(ctx, sess, shell.Options{Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: stderr, Input: true, Logf: cfg.Logf})
	if ctx.Err() != nil {
		// Ask the command to stop as Ctrl-C would, then end the session.
		_, _ = sess.Write([]byte{3})
		err = nil
	}
	sess.Close()
	res.ExitCode, res.HasExitCode = sess.ExitCode()
	if err != nil {
		err = fmt.Errorf("plugin: %w", err)
	}
	fmt.Fprintf(stderr, "\n\nExiting session with sessionId: %s.\n\n", sess.ID)
	return res, err
}

// lockedWriter serialises writes from the session's reader and ours.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return len(p), nil
	}
	return l.w.Write(p)
}
