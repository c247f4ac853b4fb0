package sshserver

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// process is a child started for an exec or shell request, with the
// server's ends of its standard streams.
type process struct {
	cmd *exec.Cmd

	// With a terminal, ptmx carries everything; otherwise the three pipes
	// do. All are pollable, so closing them unblocks the copiers.
	ptmx   *os.File
	stdin  *os.File
	stdout *os.File
	stderr *os.File

	mu       sync.Mutex
	finished bool // outputs drained and descriptors closed
}

// winsize is a terminal size as pty-req and window-change carry it.
type winsize struct{ cols, rows, width, height uint32 }

// startProcess starts cmd, on a new pseudo-terminal of size ws when tty is
// true, in a pipe-fed process group otherwise. ttyName receives the
// terminal's path (for SSH_TTY) before cmd starts.
func startProcess(cmd *exec.Cmd, tty bool, ws winsize, ttyName func(string)) (*process, error) {
	if tty {
		return startPTY(cmd, ws, ttyName)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	closeAll(inR, outW, errW)
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}
	return &process{cmd: cmd, stdin: inW, stdout: outR, stderr: errR}, nil
}

func startPTY(cmd *exec.Cmd, ws winsize, ttyName func(string)) (*process, error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	ptmx, err := pollable(master)
	if err != nil {
		return nil, err
	}
	if err := setWinsize(ptmx, ws); err != nil {
		ptmx.Close()
		return nil, err
	}
	ttyName(tty.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// A new session with the terminal (the child's fd 0) as controlling
	// terminal, as sshd gives its login shells.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		ptmx.Close()
		return nil, err
	}
	return &process{cmd: cmd, ptmx: ptmx}, nil
}

// pollable returns f's descriptor as an *os.File registered with the
// runtime poller, closing f. creack/pty's Open reads the terminal number
// through File.Fd, which puts the master back into blocking mode; a
// blocking descriptor cannot be unblocked by Close, and Close is how a
// finished or abandoned session stops its copier.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.Dup(int(s)) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// setWinsize resizes the terminal without File.Fd (see pollable).
func setWinsize(ptmx *os.File, ws winsize) error {
	rc, err := ptmx.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{
			Row: clamp16(ws.rows), Col: clamp16(ws.cols),
			Xpixel: clamp16(ws.width), Ypixel: clamp16(ws.height),
		})
	})
	if err != nil {
		return err
	}
	return ioErr
}

func clamp16(v uint32) uint16 { return uint16(min(v, 0xffff)) }

// resize changes the terminal size of a running terminal session.
func (p *process) resize(ws winsize) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ptmx == nil || p.finished {
		return nil
	}
	return setWinsize(p.ptmx, ws)
}

// signal delivers sig to the process itself (not its group), as sshd does
// for "signal" requests.
func (p *process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return nil
	}
	return p.cmd.Process.Signal(sig)
}

// hangup is for a client that went away: the process group gets SIGHUP
// and the server's descriptors close, so writers see EPIPE or EIO.
func (p *process) hangup() { p.terminate(syscall.SIGHUP) }

// kill is for Close: the process group gets SIGKILL.
func (p *process) kill() { p.terminate(syscall.SIGKILL) }

func (p *process) terminate(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	// The group id cannot name another process while the leader is
	// unreaped or any member lives. The only window is between the
	// group emptying and finish, which follows as soon as the outputs
	// reach EOF; a reused id would also have to lead its own group.
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	p.closeFiles()
}

// finish marks the process done after its outputs drained and closes the
// server's descriptors.
func (p *process) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished = true
	p.closeFiles()
}

func (p *process) closeFiles() {
	closeAll(p.ptmx, p.stdin, p.stdout, p.stderr)
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// exitRequest is what the session reports for a finished process: an
// "exit-status" with the code or an "exit-signal" (RFC 4254 section 6.10).
func exitRequest(state *os.ProcessState) (string, []byte) {
	ws, ok := state.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return "exit-signal", marshalExitSignal(ws.Signal(), ws.CoreDump())
	}
	return "exit-status", marshalExitStatus(state.ExitCode())
}

// signalName is the RFC 4254 name of sig: the C name without "SIG".
func signalName(sig syscall.Signal) string {
	name := unix.SignalName(sig)
	if name == "" {
		return fmt.Sprintf("SIG%d", int(sig))
	}
	return strings.TrimPrefix(name, "SIG")
}

// signalByName is the inverse of signalName for signals a client may send.
func signalByName(name string) (syscall.Signal, bool) {
	sig := unix.SignalNum("SIG" + name)
	return sig, sig != 0
}
