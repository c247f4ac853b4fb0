package e2etest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/sshdtest"
)

// Proc is a subprocess started by StartProc: in its own process group,
// with stdout and stderr collected, killed (the whole group) and waited
// in t.Cleanup.
type Proc struct {
	Cmd *exec.Cmd

	stdout, stderr *Buffer
	done           chan struct{} // closed when Wait returned
	err            error
}

// Buffer is a bytes.Buffer safe for concurrent use.
type Buffer struct {
	// Max, if positive, is how many bytes are kept; the rest is
	// discarded (for processes that flood their output).
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := p
	if b.Max > 0 {
		keep = p[:max(0, min(len(p), b.Max-b.b.Len()))]
	}
	b.b.Write(keep)
	return len(p), nil
}

// Reset discards what was written so far.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Command returns an *exec.Cmd for name with the Env's environment; set
// Stdin and the like, then start it with StartProc or RunProc.
func (e *Env) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = e.Environ()
	cmd.Dir = e.Dir
	return cmd
}

// StartProc starts cmd in a process group of its own. Unless cmd.Stdout or
// cmd.Stderr is set (to something else than a *Buffer), they are
// collected (Stdout, Stderr). In t.Cleanup the
// group is killed and the process waited for.
func StartProc(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, stdout: &Buffer{}, stderr: &Buffer{}, done: make(chan struct{})}
	// A *Buffer set by the caller is the one Stdout and Stderr read.
	if b, ok := cmd.Stdout.(*Buffer); ok {
		p.stdout = b
	}
	if b, ok := cmd.Stderr.(*Buffer); ok {
		p.stderr = b
	}
	if cmd.Stdout == nil {
		cmd.Stdout = p.stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.stderr
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("e2etest: start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.KillGroup()
		<-p.done
	})
	return p
}

// RunProc starts cmd (see StartProc) and waits for it, at most DefaultTimeout.
func RunProc(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := StartProc(t, cmd)
	p.Wait(t, DefaultTimeout)
	return p
}

// KillGroup sends SIGKILL to the process's group (the tool and the
// ssmproxy it started); it is harmless once the process has been waited.
func (p *Proc) KillGroup() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
}

// Wait waits for the process to exit and returns its exit code (-1 when
// a signal ended it). After timeout it kills the group and fails the test.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		p.KillGroup()
		<-p.done
		t.Fatalf("e2etest: %s did not exit within %v\nstdout: %s\nstderr: %s",
			p, timeout, clip(p.Stdout()), clip(p.Stderr()))
	}
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		t.Fatalf("e2etest: %s: %v", p, p.err)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Done is closed when the process has exited and been waited for.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stdout and Stderr return what the process wrote so far (when StartProc
// collected them).
func (p *Proc) Stdout() string { return p.stdout.String() }
func (p *Proc) Stderr() string { return p.stderr.String() }

func (p *Proc) String() string {
	return strings.Join(append([]string{filepath.Base(p.Cmd.Path)}, p.Cmd.Args[1:]...), " ")
}

// MustSucceed fails the test unless the process exited 0.
func (p *Proc) MustSucceed(t testing.TB) {
	t.Helper()
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("%s exited %d\nstdout: %s\nstderr: %s", p, code, clip(p.Stdout()), clip(p.Stderr()))
	}
}

func clip(s string) string {
	const max = 4000
	if len(s) > max {
		return s[:max/2] + "\n…\n" + s[len(s)-max/2:]
	}
	return s
}

// WaitOutput waits until the process's stdout contains want.
func (p *Proc) WaitOutput(t testing.TB, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Stdout(), want) {
		select {
		case <-p.done:
			if strings.Contains(p.Stdout(), want) {
				return
			}
			t.Fatalf("%s exited %d before printing %q\nstdout: %s\nstderr: %s",
				p, p.Cmd.ProcessState.ExitCode(), want, clip(p.Stdout()), clip(p.Stderr()))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v\nstdout: %s\nstderr: %s",
				p, want, timeout, clip(p.Stdout()), clip(p.Stderr()))
		}
	}
}

// FindDescendant waits until a process below pid runs the program named
// name (its /proc comm, at most 15 bytes) and returns its pid.
func FindDescendant(t testing.TB, pid int, name string, timeout time.Duration) int {
	t.Helper()
	if len(name) > 15 {
		name = name[:15]
	}
	deadline := time.Now().Add(timeout)
	for {
		for _, c := range sshdtest.Descendants(pid) {
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c))
			if err == nil && strings.TrimSpace(string(comm)) == name {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("e2etest: no process %q below %d after %v", name, pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ io.Writer = (*Buffer)(nil)
