package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// TestProgressMeter: with stdout a terminal, each file draws a meter
// there ending in its 100% line with the total time; on a pipe, or with
// -q, nothing.
func TestProgressMeter(t *testing.T) {
	e := start(t)
	src := filepath.Join(e.Dir, "meter.bin")
	e2etest.RandomFile(t, src, 3<<20, 5)
	remote := mkdir(t, filepath.Join(e.Dir, "remote"))
	for _, mode := range []string{"sftp", "legacy"} {
		t.Run(mode, func(t *testing.T) {
			var flags []string
			if mode == "legacy" {
				flags = []string{"-O"}
			}
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Skipf("no pty: %v", err)
			}
			t.Cleanup(func() { ptmx.Close(); tty.Close() })
			if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 100}); err != nil {
				t.Fatal(err)
			}
			var screen bytes.Buffer
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				_, _ = io.Copy(&screen, ptmx)
			}()
			var errb e2etest.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			c := &SCP{Stdout: tty, Stderr: &errb}
			if code := c.Main(ctx, e.args(append(flags, src, e.remote(remote))...)); code != 0 {
				t.Fatalf("exit %d\n%s", code, errb.String())
			}
			tty.Close() // the reader sees EIO once the output is read
			<-drained
			out := screen.String()
			// "\rmeter.bin <spaces> 100% 3072KB  1.2MB/s 00:02    \r\n"
			final := regexp.MustCompile(`\rmeter\.bin +100% +3072KB +\d+(KB|MB|B)/s 00:\d\d +\r?\n`)
			if !final.MatchString(out) {
				t.Errorf("no final meter line in %q", out)
			}
			if lines := strings.Split(strings.TrimRight(out, "\r\n"), "\n"); len(lines) != 1 {
				t.Errorf("%d lines, want the one meter line: %q", len(lines), out)
			}
			if w := len(strings.TrimRight(strings.Split(out, "\r")[1], "\r\n")); w != 99 {
				t.Errorf("meter line %d wide, want 99 on a 100-column terminal: %q", w, out)
			}

			// -q on the terminal: nothing.
			ptmx2, tty2, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ptmx2.Close(); tty2.Close() })
			c = &SCP{Stdout: tty2, Stderr: &errb}
			if code := c.Main(ctx, e.args(append(flags, "-q", src, e.remote(remote))...)); code != 0 {
				t.Fatalf("-q: exit %d\n%s", code, errb.String())
			}
			tty2.Close()
			if b, _ := io.ReadAll(ptmx2); len(b) != 0 {
				t.Errorf("-q drew %q", b)
			}
		})
	}
}

// TestNoProgressOnPipe: stdout a pipe (the built binary, as a script
// runs it) gets no meter, and stderr nothing either.
func TestNoProgressOnPipe(t *testing.T) {
	e := start(t)
	src := filepath.Join(e.Dir, "pipe.bin")
	e2etest.RandomFile(t, src, 1<<20, 6)
	remote := mkdir(t, filepath.Join(e.Dir, "remote"))
	p := e.runBinary(t, e.args(src, e.remote(remote))...)
	p.MustSucceed(t)
	if p.Stdout() != "" || p.Stderr() != "" {
		t.Errorf("stdout %q, stderr %q; want nothing", p.Stdout(), p.Stderr())
	}
	if _, err := os.Stat(filepath.Join(remote, "pipe.bin")); err != nil {
		t.Error(err)
	}
}
