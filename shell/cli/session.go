package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"

	"github.com/ssmssh/ssmssh/shell"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// sessionKind is the built-in kind: a shell, an interactive or
// non-interactive command, or the session of a document the user names.
// It wants every command line the kinds before it did not take.
type sessionKind struct {
	noTTY  bool
	escape string
}

func newShellKind() Kind { return &sessionKind{} }

func (k *sessionKind) Flags(fs *flag.FlagSet) {
	fs.BoolVar(&k.noTTY, "T", false, "no terminal: run the command with AWS-StartNonInteractiveCommand, its stdout and stderr apart and its exit status ours")
	fs.StringVar(&k.escape, "e", "~", "escape `char`acter (\"none\": no escapes); ~. leaves the session, ~? lists the escapes")
}

func (k *sessionKind) Wants([]string) bool { return true }

// plan is what the command line asks the session to be.
type plan struct {
	in       ssmclient.StartInput
	terminal bool
	// separated: we asked for separate output streams ourselves, and may
	// do without them on an agent too old for them.
	separated bool
}

func (k *sessionKind) plan(s *Setup) (plan, error) {
	p := plan{in: ssmclient.StartInput{DocumentName: s.DocumentName, Parameters: maps.Clone(s.Parameters), Stderr: s.Stderr}}
	if p.in.Parameters == nil {
		p.in.Parameters = map[string][]string{}
	}
	cmd := joinCommand(s.Command)
	if cmd != "" {
		if _, ok := p.in.Parameters["command"]; ok {
			return p, errors.New("the command is given twice: after the target and as --parameters command=…")
		}
	}
	p.terminal = !k.noTTY
	switch {
	case s.DocumentName == "" && cmd == "":
		// A shell with the account's session preferences.
		if len(p.in.Parameters) > 0 {
			return p, errors.New("--parameters needs --document-name or a command")
		}
	case s.DocumentName == "" && k.noTTY:
		p.in.DocumentName = ssmclient.DocumentNonInteractiveCommand
		p.in.Parameters["command"] = []string{cmd}
		if _, ok := p.in.Parameters["separateOutputStream"]; !ok {
			p.in.Parameters["separateOutputStream"] = []string{"true"}
			p.separated = true
		}
	case s.DocumentName == "":
		p.in.DocumentName = ssmclient.DocumentInteractiveCommand
		p.in.Parameters["command"] = []string{cmd}
	case cmd != "":
		p.in.Parameters["command"] = []string{cmd}
	}
	return p, nil
}

func (k *sessionKind) Run(ctx context.Context, s *Setup) int {
	escape, err := parseEscape(k.escape)
	if err != nil {
		fmt.Fprintf(s.Stderr, "%s: -e %s: %v\n", s.Program, k.escape, err)
		return exitUsage
	}
	p, err := k.plan(s)
	if err != nil {
		fmt.Fprintf(s.Stderr, "%s: %v\n", s.Program, err)
		return exitUsage
	}
	sess, err := s.Start(ctx, p.in)
	var old *ssmclient.AgentTooOldError
	if p.separated && errors.As(err, &old) && old.Need.Version == ssmclient.AgentVersionSeparateOutputStream &&
		ssmclient.MinAgentVersion(p.in.DocumentName, nil).Version != "" {
		// An agent from 3.0.1124.0 runs the command, without separate
		// streams: say what is lost instead of refusing.
		delete(p.in.Parameters, "separateOutputStream")
		fmt.Fprintf(s.Stderr, "%s: the SSM agent on %s is version %s, older than %s: the command's stdout and stderr come merged and its exit status is unknown\n",
			s.Program, old.Target, old.Version, ssmclient.AgentVersionSeparateOutputStream)
		sess, err = s.Start(ctx, p.in)
	}
	if err != nil {
		return s.Fail(err)
	}
	defer sess.Close()
	opts := shell.Options{Stdout: s.Stdout, Stderr: s.Stderr, Terminal: p.terminal, EscapeChar: escape,
		Signals: s.Signals, Logf: s.Logf}
	if s.Stdin != nil {
		opts.Stdin = s.Stdin
	}
	code, err := shell.Run(ctx, sess, opts)
	switch {
	case err == nil, errors.Is(err, shell.ErrEscapeDisconnect), errors.Is(err, context.Canceled):
		sess.Close()
		s.Exited(sess.ID)
		return code
	}
	return s.Fail(err)
}

// parseEscape parses -e as ssh does: one character, ^X for a control
// character, or "none".
func parseEscape(v string) (int, error) {
	switch {
	case v == "none":
		return -1, nil
	case len(v) == 1 && v[0] < 128:
		return int(v[0]), nil
	case len(v) == 2 && v[0] == '^' && v[1] >= '@' && v[1] <= '_':
		return int(v[1] & 0x1f), nil
	case len(v) == 2 && v[0] == '^' && v[1] >= 'a' && v[1] <= 'z':
		return int(v[1] & 0x1f), nil
	}
	return 0, errors.New("bad escape character: give one character, ^X or none")
}
