package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// A Kind is one kind of session ssmsession runs.
type Kind interface {
	// Flags defines the kind's flags on fs; it is called once per
	// command line, before parsing.
	Flags(fs *flag.FlagSet)
	// Wants reports, after parsing, whether the command line asks for
	// this kind; command is what followed the target.
	Wants(command []string) bool
	// Run runs the session(s) and returns the exit status.
	Run(ctx context.Context, s *Setup) int
}

// NewKind makes a fresh Kind for one command line (a Kind holds its flag
// values).
type NewKind func() Kind

var registry struct {
	mu    sync.Mutex
	kinds []NewKind
}

// Register adds a kind, asked before the built-in shell and command kinds
// and after those registered earlier. Packages register theirs from init.
func Register(k NewKind) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.kinds = append(registry.kinds, k)
}

func registered() []NewKind {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return append([]NewKind(nil), registry.kinds...)
}

// Setup is what every kind gets: the parsed common options, the AWS
// client, the resolved target and the local streams.
type Setup struct {
	// Program is the command's name in messages ("ssmsession").
	Program string
	// Client is the AWS client (profile, region, endpoints as the user
	// configured them).
	Client *ssmclient.Client
	// Target is the resolved target.
	Target ssmclient.Target
	// DocumentName and Parameters are --document-name and --parameters
	// as given ("" and empty when absent).
	DocumentName string
	Parameters   map[string][]string
	// Reason is --reason.
	Reason string
	// Command is the command words after the target.
	Command []string
	// Quiet is -q: no plugin-style lines.
	Quiet bool
	// Stdin, Stdout and Stderr are the local streams.
	Stdin          *os.File
	Stdout, Stderr io.Writer
	// Signals are the local signals to pass on to the remote side once
	// a session has started (see shell.Options.Signals); before that, a
	// SIGINT cancels the context instead.
	Signals <-chan os.Signal
	// Logf prints -v diagnostics (a no-op without -v).
	Logf func(format string, args ...any)

	started atomic.Bool // a session has started: signals go to it
	// targetArg is the target as the user named it, for the doctor
	// command the failure lines suggest.
	targetArg string
}

// Say prints one of the lines the official plugin prints (SESSIONS.md
// section 2), to Stderr unless Quiet: stdout carries only session data.
func (s *Setup) Say(format string, args ...any) {
	if !s.Quiet {
		fmt.Fprintf(s.Stderr, format+"\n", args...)
	}
}

// Fail prints err as ssmsession's one failure line and returns
// ExitFailure. For the causes `ssmssh doctor` names (doctor.Diagnose)
// the line ends with "run `ssmssh doctor <target>` for details".
func (s *Setup) Fail(err error) int {
	target := s.targetArg
	if target == "" {
		target = s.Target.ID
	}
	report(s.Stderr, s.Program, target, s.Client.Config.Region, err)
	return ExitFailure
}

// Start checks the target's agent against the document's minimum
// version, starts the session and prints "Starting session with
// SessionId: <id>". Errors are explained for the user (see UserMessage).
func (s *Setup) Start(ctx context.Context, in ssmclient.StartInput) (*ssmclient.Session, error) {
	in.Target = s.Target.ID
	if in.Logf == nil {
		in.Logf = s.Logf
	}
	if in.Reason == "" {
		in.Reason = s.Reason
	}
	var sess *ssmclient.Session
	var err error
	if s.Target.Kind == ssmclient.KindECS && ecsExecutes(in.DocumentName) {
		if sess, err = s.startECS(ctx, in); err != nil {
			return nil, err
		}
	} else {
		if err := s.Client.CheckAgent(ctx, s.Target, in.DocumentName, in.Parameters, s.Logf); err != nil {
			return nil, err
		}
		sess, err = s.Client.StartSession(ctx, in)
		if err != nil {
			return nil, ssmclient.DiagnoseNotConnected(ctx, s.Client.EC2, s.Client.Config.Region, s.Target, err)
		}
	}
	s.started.Store(true)
	s.Say("Starting session with SessionId: %s", sess.ID)
	return sess, nil
}

// ecsShell is what a shell in an ECS container runs: ECS ExecuteCommand
// takes a command, not a document, and container images need not have
// bash.
const ecsShell = "/bin/sh"

// ecsExecutes reports whether a session of document on an ECS target
// goes through ECS ExecuteCommand (shells and interactive commands, as
// aws ecs execute-command runs them) rather than SSM StartSession (port
// forwarding and other documents, which Session Manager runs on ECS
// targets too).
func ecsExecutes(document string) bool {
	return document == "" || document == ssmclient.DocumentInteractiveCommand
}

// startECS runs a shell (/bin/sh) or in's command in an ECS container
// through ECS ExecuteCommand, which checks the task's execute-command
// setting and the caller's ecs:ExecuteCommand permission.
func (s *Setup) startECS(ctx context.Context, in ssmclient.StartInput) (*ssmclient.Session, error) {
	ct, err := ssmclient.SplitECSTarget(s.Target.ID)
	if err != nil {
		return nil, err
	}
	command := ecsShell
	if c := in.Parameters["command"]; len(c) > 0 && c[0] != "" {
		command = c[0]
	}
	s.Logf("ECS ExecuteCommand %q in %s", command, s.Target.ID)
	return s.Client.ExecuteCommand(ctx, ct, command, in)
}

// Exited prints the plugin's closing line for session id.
func (s *Setup) Exited(id string) { s.Say("Exiting session with sessionId: %s.", id) }

// joinCommand joins command words with spaces, as ssh does.
func joinCommand(words []string) string { return strings.Join(words, " ") }
