package cli

import (
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// testShell drives a shell through a pseudo-terminal: a prompt, a
// command's output, stty size before and after a resize, Ctrl-C
// interrupting a remote sleep, and exit ending the session with 0.
func testShell(t *testing.T, opts ssmtest.Options) {
	opts.ShellProfileLinux = "PS1='ssm-prompt> '"
	newEnv(t, opts)
	term := startTerminal(t, 30, 100, ssmtest.InstanceAmazonLinux)
	n := term.waitOutput(0, "ssm-prompt> ")
	term.typeText("echo hello-$((6*7))\r")
	n = term.waitOutput(n, "hello-42")
	term.typeText("stty size\r")
	n = term.waitOutput(n, "30 100")

	if err := pty.Setsize(term.ptmx, &pty.Winsize{Rows: 40, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	// The kernel signals the terminal's foreground group, which the test
	// is not: signal ourselves, as a shell's resize would.
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	// The resize may be sent after the next line: ask until it shows.
	for i := 0; ; i++ {
		term.typeText("stty size\r")
		m := term.waitOutput(n, "ssm-prompt> ")
		if strings.Contains(term.out.String()[n:m], "40 132") {
			n = m
			break
		}
		if i == 50 {
			t.Fatalf("stty size never showed 40 132: %q", term.out.String()[n:])
		}
		n = m
	}

	// Ctrl-C once sleep runs: it ends sleep and the line, not the shell.
	term.typeText("echo sleep-$((1+2)); sleep 60 && echo slept\r")
	n = term.waitOutput(n, "sleep-3\r\n")
	term.typeText("\x03")
	n = term.waitOutput(n, "ssm-prompt> ")
	term.typeText("echo after-$((1+1))\r")
	term.waitOutput(n, "after-2")
	if strings.Contains(term.out.String(), "\r\nslept\r\n") {
		t.Fatalf("Ctrl-C did not interrupt sleep: %q", term.out.String())
	}
	term.typeText("exit\r")
	if code := term.wait(); code != 0 {
		t.Fatalf("exit status %d, want 0; stderr:\n%s", code, term.errb.String())
	}
	errs := term.errb.String()
	if !strings.Contains(errs, "Starting session with SessionId: ") || !strings.Contains(errs, "Exiting session with sessionId: ") {
		t.Errorf("stderr lacks the plugin's lines:\n%s", errs)
	}
}

func TestShell(t *testing.T) { testShell(t, ssmtest.Options{}) }

func TestShellKMS(t *testing.T) { testShell(t, ssmtest.Options{KMSKeyID: ssmtest.DefaultKMSAlias}) }

// TestShellRunAsMissing: RunAs on with a user the instance lacks fails on
// one line with the troubleshooting guide's cause and the doctor suffix.
func TestShellRunAsMissing(t *testing.T) {
	newEnv(t, ssmtest.Options{RunAsEnabled: true, RunAsDefaultUser: "nosuchuser"})
	term := startTerminal(t, 24, 80, ssmtest.InstanceAmazonLinux)
	code := term.wait()
	errs := term.errb.String()
	if code != ExitFailure || !strings.Contains(errs, "RunAs user nosuchuser does not exist") || !strings.Contains(errs, "(the Run As user nosuchuser does not exist on the instance: create nosuchuser") ||
		!strings.HasSuffix(errs, "; run `ssmssh doctor "+ssmtest.InstanceAmazonLinux+"` for details\n") {
		t.Fatalf("exit %d; stderr:\n%s", code, errs)
	}
	if lines := strings.Count(strings.TrimSpace(errs[strings.Index(errs, "ssmsession:"):]), "\n"); lines != 0 {
		t.Errorf("the failure takes %d lines:\n%s", lines+1, errs)
	}
}

// TestEscapeLeaves: ~. after a newline leaves the session with 255.
func TestEscapeLeaves(t *testing.T) {
	newEnv(t, ssmtest.Options{ShellProfileLinux: "PS1='ssm-prompt> '"})
	term := startTerminal(t, 24, 80, ssmtest.InstanceAmazonLinux)
	term.waitOutput(0, "ssm-prompt> ")
	term.typeText("\r~.")
	if code := term.wait(); code != ExitFailure {
		t.Fatalf("exit %d after ~., want %d; stderr:\n%s", code, ExitFailure, term.errb.String())
	}
}
