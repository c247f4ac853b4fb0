package sftpshell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pkg/sftp"
)

// Prompt is what an interactive shell shows before each command, and what
// Lines echoes before each line it reads.
const Prompt = "sftp> "

// Shell runs sftp commands against Client. Set the fields, then call Run
// or Exec; a Shell is not safe for concurrent use.
type Shell struct {
	// Client is the connection to the remote side.
	Client *sftp.Client
	// Stdout receives listings and progress lines; Stderr the errors of
	// Interactive runs. Nil discards.
	Stdout, Stderr io.Writer
	// LocalDir is the initial local working directory ("": the process's).
	LocalDir string
	// LocalHome is what "~" and a bare lcd mean locally ("": no "~").
	LocalHome string
	// Recursive and Preserve make every get and put behave as with -R
	// and -p (sftp -r and -p).
	Recursive, Preserve bool
	// Quiet suppresses the "Fetching …" and "Uploading …" lines.
	Quiet bool
	// Progress, if not nil, receives the transfers' progress meters (a
	// terminal).
	Progress io.Writer
	// Width is the width of the output in columns, for ls (0: 80).
	Width int
	// Logf, if not nil, receives diagnostics.
	Logf func(format string, args ...any)
	// Sessions and Dial let get and put copy over several SFTP
	// connections at once (see scp.Options).
	Sessions int
	Dial     func(ctx context.Context) (*sftp.Client, func(), error)

	ready     bool
	cwd, home string // remote working and login directories
	lcwd      string // local working directory
}

// Mode is how Run treats failing commands.
type Mode int

const (
	// Interactive reports a failing command on Stderr and goes on.
	Interactive Mode = iota
	// Batch ends Run at the first failing command, unless its line
	// starts with '-', which is reported and skipped as in Interactive
	// mode. This is sftp -b.
	Batch
)

// LineReader gives the command lines. *golang.org/x/term.Terminal is one
// (a prompt and line editing); Lines makes one of an io.Reader.
type LineReader interface {
	// ReadLine returns the next line without its line ending, or io.EOF.
	ReadLine() (string, error)
}

// Lines reads lines from r. When echo is not nil each line is written to
// it after the prompt as it is read ("sftp> ls"), as sftp does when its
// commands do not come from a terminal, so that a transcript shows which
// command said what.
func Lines(r io.Reader, echo io.Writer) LineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	return &lines{sc: sc, echo: echo}
}

type lines struct {
	sc   *bufio.Scanner
	echo io.Writer
}

func (l *lines) ReadLine() (string, error) {
	if !l.sc.Scan() {
		if err := l.sc.Err(); err != nil {
			return "", err
		}
		return "", io.EOF
	}
	line := strings.TrimSuffix(l.sc.Text(), "\r")
	if l.echo != nil {
		fmt.Fprintf(l.echo, "%s%s\n", Prompt, line)
	}
	return line, nil
}

// Run runs the lines of in until its end or exit. It returns nil then, a
// *LineError for the line that ended a Batch run, ctx's error when ctx
// ends, or in's error if reading failed.
func (s *Shell) Run(ctx context.Context, in LineReader, mode Mode) error {
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, err := in.ReadLine()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sftpshell: read commands: %w", err)
		}
		text := strings.TrimLeft(line, " \t")
		ignore := strings.HasPrefix(text, "-")
		if ignore {
			text = text[1:]
		}
		err = s.Exec(ctx, text)
		switch {
		case err == nil:
		case errors.Is(err, ErrExit):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case mode == Batch && !ignore:
			return &LineError{Line: n, Text: line, Err: err}
		default:
			fmt.Fprintln(s.stderr(), err)
		}
	}
}

// Exec runs one command line. It returns nil, ErrExit for exit, quit and
// bye, or a *CommandError.
func (s *Shell) Exec(ctx context.Context, line string) error {
	words, err := splitWords(line)
	if err != nil {
		return &CommandError{Command: firstWord(line), Err: err}
	}
	if len(words) == 0 || strings.HasPrefix(words[0], "#") {
		return nil
	}
	name := literal(words[0])
	cmd := lookup(name)
	if cmd == nil {
		return &CommandError{Command: name, Err: usagef("unknown command; try help")}
	}
	p := &parsed{name: name}
	p.flags, p.args, err = parseFlags(words[1:], cmd.flags)
	if err == nil && (len(p.args) < cmd.min || cmd.max >= 0 && len(p.args) > cmd.max) {
		err = usagef("%s %s", cmd.name, cmd.usage)
	}
	if err == nil {
		err = s.init()
	}
	if err == nil {
		err = cmd.run(s, ctx, p)
	}
	if err == nil || errors.Is(err, ErrExit) {
		return err
	}
	return &CommandError{Command: name, Err: err}
}

// firstWord is the command of a line that cannot be split.
func firstWord(line string) string {
	if f := strings.Fields(line); len(f) > 0 {
		return f[0]
	}
	return "sftp"
}

// init finds the working directories before the first command.
func (s *Shell) init() error {
	if s.ready {
		return nil
	}
	lcwd, err := localDir(s.LocalDir)
	if err != nil {
		return fmt.Errorf("local working directory: %w", err)
	}
	home, err := s.Client.Getwd()
	if err != nil {
		return fmt.Errorf("remote working directory: %w", err)
	}
	s.lcwd, s.cwd, s.home, s.ready = lcwd, home, home, true
	return nil
}

// Getwd returns the remote working directory.
func (s *Shell) Getwd() (string, error) {
	if err := s.init(); err != nil {
		return "", err
	}
	return s.cwd, nil
}

// Chdir changes the remote working directory to dir (taken literally,
// relative to the current one); dir must be a directory.
func (s *Shell) Chdir(dir string) error {
	if err := s.init(); err != nil {
		return err
	}
	return s.chdir(escapeGlob(dir))
}

func (s *Shell) stdout() io.Writer {
	if s.Stdout == nil {
		return io.Discard
	}
	return s.Stdout
}

func (s *Shell) stderr() io.Writer {
	if s.Stderr == nil {
		return io.Discard
	}
	return s.Stderr
}

// printf writes to Stdout.
func (s *Shell) printf(format string, args ...any) {
	fmt.Fprintf(s.stdout(), format, args...)
}

// note writes a progress line ("Removing /x") unless Quiet.
func (s *Shell) note(format string, args ...any) {
	if !s.Quiet {
		s.printf(format+"\n", args...)
	}
}
