package sshclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// cancelOnWrite cancels a context at the first write.
type cancelOnWrite struct {
	once   sync.Once
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.once.Do(w.cancel)
	return len(p), nil
}

func TestRun(t *testing.T) {
	key := newSigner(t)
	for _, srv := range servers(t, key.PublicKey()) {
		t.Run(srv.name, func(t *testing.T) {
			client := srv.mustDial(t, srv.testConfig(t, key))
			run := func(cmd string, stdin io.Reader) (int, string, string, error) {
				t.Helper()
				var out, errOut bytes.Buffer
				code, err := Run(t.Context(), client, cmd, stdin, &out, &errOut)
				return code, out.String(), errOut.String(), err
			}

			code, out, errOut, err := run("echo out; echo err >&2; exit 3", nil)
			var exit *ssh.ExitError
			if code != 3 || out != "out\n" || errOut != "err\n" || !errors.As(err, &exit) || exit.ExitStatus() != 3 {
				t.Errorf("exit 3: code %d out %q err %q error %v", code, out, errOut, err)
			}
			if code, out, _, err := run("true", nil); code != 0 || out != "" || err != nil {
				t.Errorf("true: %d %q %v", code, out, err)
			}
			if code, out, _, err := run("cat; echo done", strings.NewReader("hello\n")); code != 0 || out != "hello\ndone\n" || err != nil {
				t.Errorf("stdin: %d %q %v", code, out, err)
			}
			// nil stdin is EOF at once, as ssh -n.
			if code, out, _, err := run("cat; echo done", nil); code != 0 || out != "done\n" || err != nil {
				t.Errorf("nil stdin: %d %q %v", code, out, err)
			}
			// Killed by a signal: 255, with the *ssh.ExitError naming it.
			code, _, _, err = run("kill -KILL $$", nil)
			if code != ExitConnectionError || !errors.As(err, &exit) || exit.Signal() != "KILL" {
				t.Errorf("signal: code %d error %v", code, err)
			}
			// Large, separate streams arrive complete.
			code, out, errOut, err = run("head -c 1048576 /dev/zero | tr '\\0' a; head -c 4096 /dev/zero | tr '\\0' b >&2", nil)
			if code != 0 || err != nil || out != strings.Repeat("a", 1<<20) || errOut != strings.Repeat("b", 4096) {
				t.Errorf("large output: code %d error %v, %d and %d bytes", code, err, len(out), len(errOut))
			}
			// stdin streamed through and back.
			data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
			code, out, _, err = run("cat", bytes.NewReader(data))
			if code != 0 || err != nil || sha256.Sum256([]byte(out)) != sha256.Sum256(data) {
				t.Errorf("cat 1 MiB: code %d error %v, %d bytes back", code, err, len(out))
			}

			// Cancelling the context ends a running command.
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			start := time.Now()
			code, err = Run(ctx, client, "echo started; sleep 60", nil, &cancelOnWrite{cancel: cancel}, io.Discard)
			if code != ExitConnectionError || !errors.Is(err, context.Canceled) || time.Since(start) > 30*time.Second {
				t.Errorf("cancelled: code %d error %v after %v", code, err, time.Since(start))
			}

			// A connection that is gone: 255.
			client.Close()
			if code, _, _, err := run("true", nil); code != ExitConnectionError || err == nil {
				t.Errorf("closed client: code %d error %v", code, err)
			}
		})
	}
}
