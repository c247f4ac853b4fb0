package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/ssmssh/ssmssh/protocol"
)

// separatorPrefix is what the agent accepts as a separateOutputStream
// prefix.
var separatorPrefix = regexp.MustCompile(`^[0-9a-zA-Z\r\n_:-]{0,30}$`)

// controlSignals are the input bytes a NonInteractiveCommands session turns
// into signals for the command: Ctrl-C and Ctrl-\.
var controlSignals = map[byte]syscall.Signal{
	'\x03': syscall.SIGINT,
	'\x1c': syscall.SIGQUIT,
}

// RunCommand runs a NonInteractiveCommands session: command, split into
// words like a POSIX shell would (quotes and backslashes, no expansion) and
// run directly without a shell or terminal, with no input. Client Output
// payloads are scanned for Ctrl-C and Ctrl-\, which send SIGINT or SIGQUIT
// to the command; everything else the client sends is ignored.
//
// What the client receives depends on opts.SeparateOutputStream, as with
// the real agent:
//
//   - false (the default): stdout and stderr are collected together and
//     sent as Output payloads once the command has exited; its exit status
//     is not sent.
//   - true: stdout is sent as Output and stderr as StdErr payloads while
//     the command runs, each labelled with StdOutPrefix or StdErrPrefix
//     (see pumpText), and after both end an ExitCode payload with the text
//     "EXIT_CODE: <n>" (n is -1 for a command killed by a signal).
//
// Failures: an empty command fails with "Commands cannot be empty for
// session type NonInteractiveCommands"; an invalid prefix with "invalid
// stdoutSeparatorPrefix <p>" (or stderr…); RunAs and parse errors fail with
// StartFailure's text, which is also sent as a StdErr payload; a command
// that cannot be started fails with "Error occurred starting the command:
// <err>\n", after sending "EXIT_CODE: 1" (separate streams only) and the
// error as StdErr. ctx or the end of the stream kill the command and end
// the session successfully.
func RunCommand(ctx context.Context, ms protocol.MessageStream, command string, opts ShellOptions) (Result, error) {
	log := logger(opts.Logf)
	if strings.TrimSpace(command) == "" {
		return failed("Commands cannot be empty for session type NonInteractiveCommands"), nil
	}
	if opts.SeparateOutputStream {
		if !separatorPrefix.MatchString(opts.StdOutPrefix) {
			return failed(fmt.Sprintf("invalid stdoutSeparatorPrefix %v", opts.StdOutPrefix)), nil
		}
		if !separatorPrefix.MatchString(opts.StdErrPrefix) {
			return failed(fmt.Sprintf("invalid stderrSeparatorPrefix %v", opts.StdErrPrefix)), nil
		}
	}

	startFailed := func(reason string) (Result, error) {
		text := startFailure(reason)
		return failed(text), sendText(ms, protocol.PayloadStdErr, text)
	}
	id, err := opts.RunAs.Resolve()
	if err != nil {
		return startFailed(err.Error())
	}
	args, err := splitWords(command)
	if err != nil {
		return startFailed(fmt.Sprintf("Failed to parse commands input: %s\n", err))
	}
	cmd := exec.Command(args[0], args[1:]...)
	opts.RunAs.prepare(cmd, id)

	c := &commandRun{ms: ms, cmd: cmd, opts: opts, log: log}
	if opts.SeparateOutputStream {
		return c.runSeparate(ctx)
	}
	return c.runCombined(ctx)
}

// commandRun is one NonInteractiveCommands execution.
type commandRun struct {
	ms   protocol.MessageStream
	cmd  *exec.Cmd
	opts ShellOptions
	log  logger
}

// startFailed reports a command that did not start.
func (c *commandRun) startFailed(err error) (Result, error) {
	res := failed(fmt.Sprintf("Error occurred starting the command: %s\n", err))
	res.Terminating = true
	return res, sendText(c.ms, protocol.PayloadStdErr, err.Error())
}

// runCombined runs the command with stdout and stderr collected in one
// temporary file (as the agent does), then sends the file.
func (c *commandRun) runCombined(ctx context.Context) (Result, error) {
	out, err := os.CreateTemp("", "ssmtest-agent-output-")
	if err != nil {
		return failed(startFailure(fmt.Sprintf("Failed to open file for writing command output. error: %s\n", err))), nil
	}
	defer os.Remove(out.Name())
	defer out.Close()
	c.cmd.Stdout, c.cmd.Stderr = out, out
	if err := c.cmd.Start(); err != nil {
		return c.startFailed(err)
	}
	exited, ended := c.supervise()
	select {
	case <-exited:
	case err := <-ended:
		c.kill(exited)
		return succeeded(), err
	case <-ctx.Done():
		c.kill(exited)
		return succeeded(), nil
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return failed(""), fmt.Errorf("agent: command session: %w", err)
	}
	res := succeeded()
	res.Terminating = true
	if err := pumpText(c.ms, out, protocol.PayloadOutput, "", c.opts.Pacer, c.log); err != nil {
		res = failed("")
		res.Terminating = true
		return res, err
	}
	return res, nil
}

// runSeparate runs the command with stdout and stderr pumped to the client
// as they come, then sends the exit code.
func (c *commandRun) runSeparate(ctx context.Context) (Result, error) {
	stdout, err := c.cmd.StdoutPipe()
	if err == nil {
		var stderr io.ReadCloser
		if stderr, err = c.cmd.StderrPipe(); err == nil {
			err = c.cmd.Start()
			if err == nil {
				return c.pumpSeparate(ctx, stdout, stderr)
			}
		}
	}
	serr := sendText(c.ms, protocol.PayloadExitCode, exitCodeText(ExitFailure))
	res, err := c.startFailed(err)
	return res, errors.Join(serr, err)
}

func (c *commandRun) pumpSeparate(ctx context.Context, stdout, stderr io.Reader) (Result, error) {
	var wg sync.WaitGroup
	pumpErrs := make([]error, 2)
	wg.Add(2)
	// The real agent's pipeline readers of separate streams do not pause
	// (unlike its terminal pump): no pacer.
	go func() {
		defer wg.Done()
		pumpErrs[0] = pumpText(c.ms, stdout, protocol.PayloadOutput, c.opts.StdOutPrefix, nil, c.log)
	}()
	go func() {
		defer wg.Done()
		pumpErrs[1] = pumpText(c.ms, stderr, protocol.PayloadStdErr, c.opts.StdErrPrefix, nil, c.log)
	}()
	pumped := make(chan struct{})
	go func() {
		wg.Wait()
		close(pumped)
	}()
	// The pipes must be drained before Wait, which closes them.
	exited, ended := c.superviseAfter(pumped)
	select {
	case code := <-exited:
		res := succeeded()
		res.Terminating = true
		err := errors.Join(pumpErrs...)
		if err != nil {
			res = failed("")
			res.Terminating = true
		}
		if serr := sendText(c.ms, protocol.PayloadExitCode, exitCodeText(code)); serr != nil && err == nil {
			err = serr
		}
		return res, err
	case err := <-ended:
		c.kill(exited)
		return succeeded(), err
	case <-ctx.Done():
		c.kill(exited)
		return succeeded(), nil
	}
}

// supervise waits for the command in the background and handles the
// client's input; exited yields the command's exit status, ended the end
// of the stream.
func (c *commandRun) supervise() (exited chan int, ended chan error) {
	return c.superviseAfter(nil)
}

// superviseAfter is supervise, waiting for before (if not nil) to be
// closed before waiting for the command.
func (c *commandRun) superviseAfter(before <-chan struct{}) (exited chan int, ended chan error) {
	exited = make(chan int, 1)
	ended = make(chan error, 1)
	go func() {
		if before != nil {
			<-before
		}
		err := c.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			exited <- 0
		case errors.As(err, &ee):
			exited <- ee.ExitCode()
		default:
			c.log.printf("agent: command session: %v", err)
			exited <- ExitFailure
		}
	}()
	go func() { ended <- c.readInput() }()
	return exited, ended
}

// readInput turns the client's Ctrl-C and Ctrl-\ into signals until the
// stream ends; it returns nil for a clean end.
func (c *commandRun) readInput() error {
	for {
		pt, payload, err := c.ms.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("agent: command session: receive: %w", err)
		}
		if pt != protocol.PayloadOutput {
			continue // the agent ignores Size without a terminal
		}
		for _, b := range payload {
			if sig, ok := controlSignals[b]; ok {
				c.log.printf("agent: command session: client sent %v", sig)
				if err := c.cmd.Process.Signal(sig); err != nil {
					c.log.printf("agent: command session: signal: %v", err)
				}
				break
			}
		}
	}
}

// kill ends the command after the session was cancelled and waits for it
// (exited is supervise's).
func (c *commandRun) kill(exited <-chan int) {
	_ = c.cmd.Process.Kill()
	<-exited
}

func exitCodeText(code int) string { return fmt.Sprintf("EXIT_CODE: %d", code) }

func sendText(ms protocol.MessageStream, pt protocol.PayloadType, text string) error {
	if err := ms.Send(pt, []byte(text)); err != nil {
		return fmt.Errorf("agent: send %v: %w", pt, err)
	}
	return nil
}

// splitWords splits a command line into words as the agent's shlex does:
// words are separated by blanks; single quotes keep everything literally,
// double quotes keep everything but a backslash, which escapes the next
// character (as it does outside quotes); a word starting with # begins a
// comment running to the end of the line. There is no expansion.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		word  strings.Builder
		in    bool // inside a word
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if in {
				words = append(words, word.String())
				word.Reset()
				in = false
			}
		case r == '#' && !in:
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
		case r == '\\':
			if i+1 >= len(rs) {
				return nil, errors.New("EOF found after escape character")
			}
			i++
			word.WriteRune(rs[i])
			in = true
		case r == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j >= len(rs) {
				return nil, errors.New("EOF found when expecting closing quote")
			}
			word.WriteString(string(rs[i+1 : j]))
			i, in = j, true
		case r == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' {
					j++
					if j >= len(rs) {
						return nil, errors.New("EOF found after escape character")
					}
				}
				word.WriteRune(rs[j])
			}
			if j >= len(rs) {
				return nil, errors.New("EOF found when expecting closing quote")
			}
			i, in = j, true
		default:
			word.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, word.String())
	}
	if len(words) == 0 {
		return nil, errors.New("no command")
	}
	return words, nil
}
