package sshserver

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Request payloads (RFC 4254 section 6), parsed with ssh.Unmarshal.
type (
	envRequest struct {
		Name, Value string
	}
	ptyRequest struct {
		Term                         string
		Columns, Rows, Width, Height uint32
		Modes                        string
	}
	windowChangeRequest struct {
		Columns, Rows, Width, Height uint32
	}
	execRequest struct {
		Command string
	}
	subsystemRequest struct {
		Name string
	}
	signalRequest struct {
		Signal string
	}
	exitStatusRequest struct {
		Status uint32
	}
	exitSignalRequest struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}
)

func marshalExitStatus(code int) []byte {
	return ssh.Marshal(exitStatusRequest{Status: uint32(code)})
}

func marshalExitSignal(sig syscall.Signal, core bool) []byte {
	return ssh.Marshal(exitSignalRequest{Signal: signalName(sig), CoreDumped: core, Error: sig.String()})
}

// session is one "session" channel: the requests that configure it, then
// at most one program (exec, shell or subsystem).
type session struct {
	s    *Server
	conn *ssh.ServerConn
	ch   ssh.Channel

	// Owned by the goroutine handling the channel's requests.
	env     []string // from "env" requests
	pty     *ptyRequest
	ws      winsize
	started bool
	proc    *process // set once an exec or shell started

	wg sync.WaitGroup // the program and its copiers
}

func (s *Server) handleSession(conn *ssh.ServerConn, nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		s.logf("sshserver: %s: accept session: %v", conn.RemoteAddr(), err)
		return
	}
	ss := &session{s: s, conn: conn, ch: ch}
	for req := range reqs {
		ss.handle(req)
	}
	// The channel is closed at both ends, or the connection is gone.
	if ss.proc != nil {
		ss.proc.hangup()
	}
	ch.Close()
	ss.wg.Wait()
}

func (ss *session) handle(req *ssh.Request) {
	ok := false
	// A program started by this request begins copying output and may
	// finish (closing the channel) only after the reply went out: a client
	// must not see the channel close before its request is answered.
	var then func()
	switch req.Type {
	case "env":
		var r envRequest
		if !ss.started && ssh.Unmarshal(req.Payload, &r) == nil && r.Name != "" {
			ss.env = append(ss.env, r.Name+"="+r.Value)
			ok = true
		}
	case "pty-req":
		var r ptyRequest
		if !ss.started && allowed(ss.conn, extNoPTY) && ssh.Unmarshal(req.Payload, &r) == nil {
			ss.pty = &r
			ss.ws = winsize{r.Columns, r.Rows, r.Width, r.Height}
			ok = true
		}
	case "window-change":
		var r windowChangeRequest
		if ss.pty != nil && ssh.Unmarshal(req.Payload, &r) == nil {
			ss.ws = winsize{r.Columns, r.Rows, r.Width, r.Height}
			ok = true
			if ss.proc != nil {
				if err := ss.proc.resize(ss.ws); err != nil {
					ss.s.logf("sshserver: window-change: %v", err)
				}
			}
		}
	case "exec":
		var r execRequest
		if !ss.started && ssh.Unmarshal(req.Payload, &r) == nil {
			then = ss.startShell(&r.Command)
		}
	case "shell":
		if !ss.started {
			then = ss.startShell(nil)
		}
	case "subsystem":
		var r subsystemRequest
		if !ss.started && ssh.Unmarshal(req.Payload, &r) == nil && r.Name == "sftp" {
			then = ss.startSFTP()
		}
	case "signal":
		var r signalRequest
		if ssh.Unmarshal(req.Payload, &r) == nil {
			if sig, known := signalByName(r.Signal); known && ss.proc != nil {
				ok = ss.proc.signal(sig) == nil
			}
		}
	}
	// Anything else (x11-req, auth-agent-req@openssh.com,
	// keepalive@openssh.com, …) fails, as in sshd.
	if then != nil {
		ok = true
	}
	if req.WantReply {
		req.Reply(ok, nil)
	}
	if then != nil {
		ss.wg.Go(then)
	}
}

// startShell starts command through the shell, or a login shell when
// command is nil. It returns the function that serves the process, or nil
// if it did not start.
func (ss *session) startShell(command *string) func() {
	shell := ss.s.cfg.Shell
	name := filepath.Base(shell)
	cmd := &exec.Cmd{Path: shell, Dir: ss.s.cfg.Dir}
	if command == nil {
		cmd.Args = []string{"-" + name} // a login shell, as sshd starts it
	} else {
		cmd.Args = []string{name, "-c", *command}
	}
	var extra []string
	if ss.pty != nil && ss.pty.Term != "" {
		extra = append(extra, "TERM="+ss.pty.Term)
	}
	cmd.Env = ss.environ(extra)
	p, err := startProcess(cmd, ss.pty != nil, ss.ws, func(tty string) {
		cmd.Env = append(cmd.Env, "SSH_TTY="+tty)
	})
	if err != nil {
		ss.s.logf("sshserver: %s: start %s: %v", ss.conn.RemoteAddr(), shell, err)
		return nil
	}
	ss.started = true
	if !ss.s.register(p) {
		ss.s.logf("sshserver: server closed while starting %s", shell)
	}
	ss.proc = p
	return func() { ss.run(p) }
}

// environ is the child's environment: a small fixed one like sshd's, not
// the server process's (which may hold credentials), then the client's
// "env" requests, then extra.
func (ss *session) environ(extra []string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	user := ss.conn.User()
	env := []string{
		"PATH=" + path,
		"HOME=" + ss.s.cfg.Dir,
		"USER=" + user,
		"LOGNAME=" + user,
		"SHELL=" + ss.s.cfg.Shell,
	}
	// Only meaningful over TCP; a handed-over pipe has no addresses.
	rh, rp, rerr := net.SplitHostPort(ss.conn.RemoteAddr().String())
	lh, lp, lerr := net.SplitHostPort(ss.conn.LocalAddr().String())
	if rerr == nil && lerr == nil {
		env = append(env,
			"SSH_CLIENT="+rh+" "+rp+" "+lp,
			"SSH_CONNECTION="+rh+" "+rp+" "+lh+" "+lp)
	}
	env = append(env, ss.env...)
	return append(env, extra...)
}

// run copies the process's streams to and from the channel, waits for it,
// reports its exit and closes the channel.
func (ss *session) run(p *process) {
	defer ss.s.unregister(p)
	var outputs sync.WaitGroup
	if p.ptmx != nil {
		// A terminal cannot be half-closed: the client's EOF only stops
		// this copier. Reading the master fails with EIO once the last
		// holder of the terminal closes it, which ends the output copy.
		ss.wg.Go(func() { io.Copy(p.ptmx, ss.ch) })
		outputs.Go(func() { io.Copy(ss.ch, p.ptmx) })
	} else {
		ss.wg.Go(func() {
			io.Copy(p.stdin, ss.ch)
			p.stdin.Close()
		})
		outputs.Go(func() { io.Copy(ss.ch, p.stdout) })
		outputs.Go(func() { io.Copy(ss.ch.Stderr(), p.stderr) })
	}
	err := p.cmd.Wait()
	// Like sshd, keep the channel open until everything holding the
	// outputs (background children included) has closed them.
	outputs.Wait()
	p.finish()
	if p.cmd.ProcessState == nil {
		ss.s.logf("sshserver: wait: %v", err)
		ss.ch.Close()
		return
	}
	name, payload := exitRequest(p.cmd.ProcessState)
	ss.ch.SendRequest(name, false, payload)
	ss.ch.CloseWrite()
	ss.ch.Close()
}

// startSFTP prepares the sftp subsystem, served in process with relative
// paths starting at the session's home, and returns the function that
// serves it, or nil.
func (ss *session) startSFTP() func() {
	srv, err := sftp.NewServer(ss.ch, sftp.WithServerWorkingDirectory(ss.s.cfg.Dir))
	if err != nil {
		ss.s.logf("sshserver: sftp: %v", err)
		return nil
	}
	ss.started = true
	return func() {
		status := 0
		if err := srv.Serve(); err != nil && err != io.EOF {
			ss.s.logf("sshserver: %s: sftp: %v", ss.conn.RemoteAddr(), err)
			status = 1
		}
		ss.ch.SendRequest("exit-status", false, marshalExitStatus(status))
		ss.ch.Close()
	}
}
