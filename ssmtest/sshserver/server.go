package sshserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("sshserver: server closed")

// DefaultHandshakeTimeout bounds the SSH handshake and authentication of a
// new connection when Config.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 30 * time.Second

// serverVersion is the identification string sent to clients.
const serverVersion = "SSH-2.0-ssmssh_sshserver"

// Config configures a Server. The zero value accepts no one: at least one of
// AuthorizedKeysFile and AuthorizedKeys must supply keys.
type Config struct {
	// HostSigner is the server's host key. Nil generates an Ed25519 key.
	HostSigner ssh.Signer

	// AuthorizedKeysFile is an authorized_keys file, read again at every
	// authentication attempt so edits take effect at once. A missing file
	// grants nothing.
	AuthorizedKeysFile string

	// AuthorizedKeys returns extra authorized_keys lines for a login name.
	// It is called at every authentication attempt, so keys it stops
	// returning (an expired EC2 Instance Connect push) stop being accepted.
	AuthorizedKeys func(user string) []string

	// Users lists the login names allowed; empty allows any name.
	Users []string

	// Shell runs commands (Shell -c COMMAND) and interactive sessions
	// (default $SHELL, else /bin/sh).
	Shell string

	// Dir is the sessions' home: their working directory, $HOME and the
	// base of relative sftp paths (default the process's home directory).
	Dir string

	// HandshakeTimeout bounds the handshake and authentication of each
	// connection (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration

	// Logf, when set, receives diagnostics. Keys are logged by
	// fingerprint only.
	Logf func(format string, args ...any)
}

// Server is an SSH server. Create it with New, feed it with Serve or
// ServeConn and stop it with Close.
type Server struct {
	cfg     Config
	hostKey ssh.Signer
	sshCfg  *ssh.ServerConfig

	closing context.Context // done once Close starts
	cancel  context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	procs     map[*process]struct{}
	wg        sync.WaitGroup // every goroutine the server started
}

// New checks cfg, fills in defaults and returns a Server that serves
// nothing until Serve or ServeConn is called.
func New(cfg Config) (*Server, error) {
	if cfg.HostSigner == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sshserver: generate host key: %w", err)
		}
		cfg.HostSigner, err = ssh.NewSignerFromKey(priv)
		if err != nil {
			return nil, fmt.Errorf("sshserver: host key: %w", err)
		}
	}
	if cfg.Shell == "" {
		cfg.Shell = os.Getenv("SHELL")
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.Dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("sshserver: home directory: %w", err)
		}
		cfg.Dir = home
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("sshserver: working directory: %w", err)
	}
	cfg.Dir = dir
	if fi, err := os.Stat(cfg.Dir); err != nil {
		return nil, fmt.Errorf("sshserver: working directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("sshserver: working directory %s: not a directory", cfg.Dir)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	shell, err := exec.LookPath(cfg.Shell)
	if err != nil {
		return nil, fmt.Errorf("sshserver: shell: %w", err)
	}
	cfg.Shell = shell
	s := &Server{
		cfg:       cfg,
		hostKey:   cfg.HostSigner,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]struct{}),
		procs:     make(map[*process]struct{}),
	}
	s.sshCfg = &ssh.ServerConfig{
		PublicKeyCallback: s.checkPublicKey,
		ServerVersion:     serverVersion,
		AuthLogCallback: func(md ssh.ConnMetadata, method string, err error) {
			if err != nil && method != "none" {
				s.logf("sshserver: %s: %s authentication for %q failed: %v", md.RemoteAddr(), method, md.User(), err)
			}
		},
	}
	s.closing, s.cancel = context.WithCancel(context.Background())
	s.sshCfg.AddHostKey(cfg.HostSigner)
	return s, nil
}

// HostKey returns the server's public host key, for clients' known_hosts.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey.PublicKey() }

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// Serve accepts connections on l and serves each in its own goroutine until
// l fails or Close is called; then it returns ErrServerClosed. Serve closes
// l on return.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			return fmt.Errorf("sshserver: accept: %w", err)
		}
		if !s.track(c) {
			return ErrServerClosed
		}
		go func() {
			defer s.wg.Done()
			if err := s.serveConn(c); err != nil && !s.isClosed() {
				s.logf("%v", err)
			}
		}()
	}
}

// ServeConn serves one already established connection, such as a pipe
// handed over by an emulated agent, and returns when it ends: nil after an
// authenticated connection closed, an error if the handshake or
// authentication failed. c is closed on return. Close ends it too.
//
// c must buffer writes as a socket does: both ends of an SSH connection
// begin by writing, so over an unbuffered net.Pipe neither gets further.
func (s *Server) ServeConn(c net.Conn) error {
	if !s.track(c) {
		return ErrServerClosed
	}
	defer s.wg.Done()
	return s.serveConn(c)
}

// track registers c so that Close can close it and adds one to s.wg; it
// closes c and reports false if the server is already closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops the listeners, closes every connection, kills every child
// process group with SIGKILL and waits for all of the server's goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	var err error
	for l := range s.listeners {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("sshserver: close listener: %w", cerr)
		}
	}
	for c := range s.conns {
		c.Close()
	}
	for p := range s.procs {
		p.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// serveConn runs the handshake on c and then dispatches its channels and
// global requests. It returns when the connection and every channel
// handler on it have finished.
func (s *Server) serveConn(c net.Conn) error {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	// Not every net.Conn supports deadlines (net.Pipe does; some wrappers
	// don't); without one the handshake is bounded by Close only.
	_ = c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(c, s.sshCfg)
	if err != nil {
		return fmt.Errorf("sshserver: handshake with %s: %w", c.RemoteAddr(), err)
	}
	_ = c.SetDeadline(time.Time{})
	s.logf("sshserver: %s: %q logged in with key %s", sconn.RemoteAddr(), sconn.User(), sconn.Permissions.Extensions[extFingerprint])

	var wg sync.WaitGroup
	wg.Go(func() {
		for req := range reqs {
			// keepalive@openssh.com and everything else global (remote
			// forwarding included) is answered with a failure, which is
			// what OpenSSH does for requests it does not implement.
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	})
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			wg.Go(func() { s.handleSession(sconn, nc) })
		case "direct-tcpip":
			wg.Go(func() { s.handleDirectTCPIP(sconn, nc) })
		default:
			nc.Reject(ssh.UnknownChannelType, "unsupported channel type")
		}
	}
	sconn.Close()
	wg.Wait()
	return nil
}

// register records a started process so that Close can kill it; if the
// server is already closed it kills it at once and reports false.
func (s *Server) register(p *process) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		p.kill()
		return false
	}
	s.procs[p] = struct{}{}
	return true
}

func (s *Server) unregister(p *process) {
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
}
