package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestShellWithPTY: stdin a terminal and no command gives an interactive
// shell with a PTY, whose exit status is ssmssh's.
func TestShellWithPTY(t *testing.T) {
	e := newEnv(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb e2etest.Buffer
	done := make(chan int, 1)
	go func() {
		c := &SSH{Stdin: tty, Stdout: &out, Stderr: &errb}
		done <- c.Main(ctx, e.args("ec2-user@"+ssmtest.InstanceAmazonLinux))
	}()
	if _, err := ptmx.WriteString("tty >/dev/null && echo has-a-tty; exit 5\r"); err != nil {
		t.Fatal(err)
	}
	go func() { // drain the local echo, if any
		buf := make([]byte, 1024)
		for {
			if _, err := ptmx.Read(buf); err != nil {
				return
			}
		}
	}()
	select {
	case code := <-done:
		if code != 5 || !strings.Contains(out.String(), "has-a-tty") {
			t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out.String(), errb.String())
		}
	case <-ctx.Done():
		t.Fatalf("no exit; stdout %q; stderr:\n%s", out.String(), errb.String())
	}
}
