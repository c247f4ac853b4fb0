package cli

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestShellFromPipe runs the remote shell without a PTY when stdin is
// not a terminal, feeding it the script on stdin.
func TestShellFromPipe(t *testing.T) {
	e := newEnv(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	go func() {
		_, _ = w.WriteString("echo piped; exit 7\n")
		w.Close()
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out, errb e2etest.Buffer
	c := &SSH{Stdin: r, Stdout: &out, Stderr: &errb}
	code := c.Main(ctx, e.args("ec2-user@"+ssmtest.InstanceAmazonLinux))
	if code != 7 || strings.TrimSpace(out.String()) != "piped" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", code, out.String(), errb.String())
	}
}

// TestNWithCommandIsUsage: -N runs no command, so one given is an error.
func TestNWithCommandIsUsage(t *testing.T) {
	code, _, errs := run(t, "-N", "host", "cmd")
	if code != 2 || !strings.Contains(errs, "-N") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}
