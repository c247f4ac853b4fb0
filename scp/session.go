package scp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// remote is a remote "scp -t" or "scp -f" over an SSH session.
type remote struct {
	sess   *ssh.Session
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tail
	stop   func() bool // stops the context watch
}

// startRemote runs command in a new session of client. Cancelling ctx
// closes the session.
func startRemote(ctx context.Context, client *ssh.Client, command string) (*remote, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("scp: open session: %w", err)
	}
	r := &remote{sess: sess, stderr: &tail{max: 4096}}
	sess.Stderr = r.stderr
	if r.in, err = sess.StdinPipe(); err == nil {
		var out io.Reader
		if out, err = sess.StdoutPipe(); err == nil {
			r.out = bufio.NewReaderSize(out, 256<<10)
			err = sess.Start(command)
		}
	}
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("scp: start %q: %w", command, err)
	}
	r.stop = context.AfterFunc(ctx, func() { sess.Close() })
	return r, nil
}

// finish ends the conversation: closes the remote's input and waits for
// it to exit. The error is nil for exit status 0, else it tells the
// status and the remote's last stderr line.
func (r *remote) finish() error {
	defer r.stop()
	defer r.sess.Close()
	r.in.Close()
	err := r.sess.Wait()
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		if s := r.stderr.lastLine(); s != "" {
			return fmt.Errorf("remote scp exited with status %d: %s", exit.ExitStatus(), s)
		}
		return fmt.Errorf("remote scp exited with status %d", exit.ExitStatus())
	}
	return r.lost(err)
}

// abort ends the session at once.
func (r *remote) abort() {
	r.stop()
	r.sess.Close()
}

// lost explains err, an end of the conversation the protocol did not
// foresee, with what the remote printed on stderr ("scp: command not
// found").
func (r *remote) lost(err error) error {
	if s := r.stderr.lastLine(); s != "" {
		return fmt.Errorf("%w: %s", errLost, s)
	}
	if errors.Is(err, errLost) {
		return err
	}
	return fmt.Errorf("%w: %v", errLost, err)
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	mu  sync.Mutex
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// lastLine is the last non-empty line written.
func (t *tail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// command is the remote scp command line: "scp" with flags, then args
// unquoted, so that the remote shell expands them as OpenSSH's scp
// lets it.
func command(mode string, o *Options, args ...string) string {
	var b strings.Builder
	b.WriteString("scp")
	if o.Recursive {
		b.WriteString(" -r")
	}
	if o.Preserve {
		b.WriteString(" -p")
	}
	b.WriteString(" " + mode + " --")
	for _, a := range args {
		if a == "" {
			a = "."
		}
		b.WriteString(" " + a)
	}
	return b.String()
}
