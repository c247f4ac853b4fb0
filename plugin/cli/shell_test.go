package cli_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// terminal is a command run on a pseudo-terminal, as a user runs aws.
type terminal struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	code int
}

// startTerminal starts cmd on a new pseudo-terminal of 24x80 (a session
// of its own); it is killed in t.Cleanup.
func startTerminal(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, cmd: cmd, ptmx: ptmx, done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		term.code = cmd.ProcessState.ExitCode()
		close(term.done)
	}()
	t.Cleanup(func() {
		select {
		case <-term.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-term.done
		}
		ptmx.Close()
		<-read
	})
	return term
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitOutput waits until the output after offset from contains want and
// returns the offset after it.
func (term *terminal) waitOutput(from int, want string) int {
	term.t.Helper()
	deadline := time.Now().Add(e2etest.DefaultTimeout)
	for {
		out := term.output()
		if i := strings.Index(out[from:], want); i >= 0 {
			return from + i + len(want)
		}
		select {
		case <-term.done:
			term.t.Fatalf("exited %d before printing %q; output:\n%s", term.code, want, term.output())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			term.t.Fatalf("never printed %q; output:\n%s", want, out)
		}
	}
}

func (term *terminal) typeText(s string) {
	term.t.Helper()
	if _, err := term.ptmx.WriteString(s); err != nil {
		term.t.Fatal(err)
	}
}

// wait waits for the command to exit and returns its status.
func (term *terminal) wait() int {
	term.t.Helper()
	select {
	case <-term.done:
	case <-time.After(e2etest.DefaultTimeout):
		term.t.Fatalf("did not exit; output:\n%s", term.output())
	}
	return term.code
}

// TestAWSCLIShell runs aws ssm start-session --target on a terminal: a
// prompt, a command's output, Ctrl-C typed in raw mode reaching the remote
// sleep (not ending the session), and exit ending aws with 0 after AWS's
// lines.
func TestAWSCLIShell(t *testing.T) {
	e := startCLI(t, e2etest.Options{Emulator: ssmtest.Options{ShellProfileLinux: "PS1='ssm-prompt> '"}})
	term := startTerminal(t, e.aws("ssm", "start-session", "--target", e.Instance))
	n := term.waitOutput(0, "Starting session with SessionId: ")
	n = term.waitOutput(n, "ssm-prompt> ")
	term.typeText("echo hello-$((6*7)); stty size\r")
	n = term.waitOutput(n, "hello-42\r\n24 80\r\n")
	term.typeText("sleep 60 && echo slept\r")
	n = term.waitOutput(n, "echo slept\r\n")
	time.Sleep(200 * time.Millisecond) // sleep runs
	term.typeText("\x03")
	n = term.waitOutput(n, "ssm-prompt> ")
	term.typeText("echo after-$((1+1))\r")
	n = term.waitOutput(n, "after-2\r\n")
	term.typeText("exit\r")
	if code := term.wait(); code != 0 {
		t.Fatalf("aws exited %d; output:\n%s", code, term.output())
	}
	if out := term.output(); !strings.Contains(out[n:], "Exiting session with sessionId: ") || strings.Contains(out, "\r\nslept\r\n") {
		t.Errorf("output:\n%s", out)
	}
}

// TestAWSCLIECSShell runs aws ecs execute-command --interactive --command
// /bin/sh on a terminal: the shell in the container runs a command and
// exit ends aws with 0.
func TestAWSCLIECSShell(t *testing.T) {
	e := startCLI(t, e2etest.Options{})
	term := startTerminal(t, e.aws("ecs", "execute-command", "--cluster", ssmtest.DefaultECSCluster,
		"--task", ssmtest.ECSTaskWeb, "--container", ssmtest.ECSContainerWeb, "--command", "/bin/sh", "--interactive"))
	n := term.waitOutput(0, "Starting session with SessionId: ")
	term.typeText("echo in-$((40+2))-container\r")
	n = term.waitOutput(n, "in-42-container\r\n")
	term.typeText("exit\r")
	if code := term.wait(); code != 0 {
		t.Fatalf("aws exited %d; output:\n%s", code, term.output())
	}
	if out := term.output(); !strings.Contains(out[n:], "Exiting session with sessionId: ") {
		t.Errorf("output:\n%s", out)
	}
}

// TestAWSCLIShellSignal feeds a shell from a pipe, as scripts do: SIGINT
// to the plugin (the AWS CLI ignores it) reaches the remote sleep as
// Ctrl-C and leaves the shell running, and exit ends aws with 0.
func TestAWSCLIShellSignal(t *testing.T) {
	e := startCLI(t, e2etest.Options{})
	cmd := e.aws("ssm", "start-session", "--target", e.Instance)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	p := e2etest.StartProc(t, cmd)
	if _, err := io.WriteString(in, "echo ready-$((1+1)); sleep 60 && echo slept\n"); err != nil {
		t.Fatal(err)
	}
	p.WaitOutput(t, "ready-2\r\n", e2etest.DefaultTimeout)
	pid := e2etest.FindDescendant(t, p.Cmd.Process.Pid, "session-manager-plugin", 10*time.Second)
	time.Sleep(200 * time.Millisecond) // sleep runs
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The remote terminal echoes ^C; input typed before it was dropped.
	p.WaitOutput(t, "^C", e2etest.DefaultTimeout)
	if _, err := io.WriteString(in, "echo after-$((2+1))\n"); err != nil {
		t.Fatal(err)
	}
	p.WaitOutput(t, "after-3\r\n", e2etest.DefaultTimeout)
	if _, err := io.WriteString(in, "exit\n"); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, e2etest.DefaultTimeout); code != 0 || strings.Contains(p.Stdout(), "\r\nslept\r\n") {
		t.Errorf("aws exited %d; stdout %q; stderr %q", code, p.Stdout(), p.Stderr())
	}
}
