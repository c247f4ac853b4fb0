package ssmclient

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/term"
)

// ErrNoTerminal is returned by [TTYPrompter.Prompt] when the process has no
// controlling terminal to ask on.
var ErrNoTerminal = errors.New("ssmclient: no terminal is available")

// A Prompter asks the user a question and returns the answer without its
// line ending. When hidden is true the answer is not echoed. Prompters are
// called from credential providers, which take no context: an
// implementation that blocks blocks the API call that needed it.
type Prompter interface {
	Prompt(message string, hidden bool) (string, error)
}

// PrompterFunc adapts a function to a [Prompter].
type PrompterFunc func(message string, hidden bool) (string, error)

// Prompt calls f.
func (f PrompterFunc) Prompt(message string, hidden bool) (string, error) {
	return f(message, hidden)
}

// TTYPrompter prompts on the controlling terminal, never on stdin or
// stdout: in ProxyCommand mode those carry the SSH connection. Prompts are
// serialised, so concurrent callers take turns.
type TTYPrompter struct {
	// Path is the terminal device to open. Empty means the controlling
	// terminal: /dev/tty, or the console (CONIN$ and CONOUT$) on Windows.
	Path string

	mu sync.Mutex
}

// Prompt writes message to the terminal and reads one line from it, with
// echo turned off when hidden is true. Without a terminal it returns an
// error wrapping [ErrNoTerminal].
func (p *TTYPrompter) Prompt(message string, hidden bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()

	in, out, err := openTerminal(p.Path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoTerminal, err)
	}
	defer in.Close()
	if out != in {
		defer out.Close()
	}
	if !term.IsTerminal(int(in.Fd())) {
		return "", fmt.Errorf("%w: %s is not a terminal", ErrNoTerminal, in.Name())
	}
	if _, err := io.WriteString(out, message); err != nil {
		return "", fmt.Errorf("ssmclient: writing prompt: %w", err)
	}
	var line string
	if hidden {
		b, err := term.ReadPassword(int(in.Fd()))
		// The user's Enter was not echoed either; end the prompt's line.
		io.WriteString(out, "\r\n")
		if err != nil {
			return "", fmt.Errorf("ssmclient: reading from terminal: %w", err)
		}
		line = string(b)
	} else {
		line, err = readLine(in)
		if err != nil {
			return "", fmt.Errorf("ssmclient: reading from terminal: %w", err)
		}
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readLine reads up to and including a newline one byte at a time, so that
// nothing after the line is consumed from the terminal.
func readLine(r io.Reader) (string, error) {
	var sb strings.Builder
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return sb.String(), nil
			}
			sb.WriteByte(b[0])
			if sb.Len() > 4096 {
				return "", errors.New("line too long")
			}
		}
		if err != nil {
			if err == io.EOF && sb.Len() > 0 {
				return sb.String(), nil
			}
			return "", err
		}
	}
}

// MFATokenProvider returns a function for stscreds.AssumeRoleOptions
// TokenProvider that asks p for the code of the MFA device serial, on
// behalf of the named profile. The code is read hidden and never logged.
// When p has no terminal the error is an [*Error] with Code [CodeNoTerminal]
// saying which profile needed the code.
func MFATokenProvider(p Prompter, profile, serial string) func() (string, error) {
	return func() (string, error) {
		code, err := p.Prompt(fmt.Sprintf("Enter MFA code for %s (profile %s): ", serial, profile), true)
		if err != nil {
			if errors.Is(err, ErrNoTerminal) {
				return "", &Error{
					Op:   "STS AssumeRole",
					Code: CodeNoTerminal,
					Hint: fmt.Sprintf("MFA token needed for profile %s but no terminal is available", profile),
					Err:  err,
				}
			}
			return "", fmt.Errorf("ssmclient: MFA code for profile %s: %w", profile, err)
		}
		code = strings.TrimSpace(code)
		if code == "" {
			return "", fmt.Errorf("ssmclient: no MFA code entered for profile %s", profile)
		}
		return code, nil
	}
}
