package sshclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/internal/version"
)

// ExitConnectionError is the exit status ssh reports when there is no
// remote one: connection and authentication failures, a session killed
// by a signal or ended without a status, ~. and a keepalive timeout.
const ExitConnectionError = 255

// ErrNoUser is returned by Dial when Config.User is empty.
var ErrNoUser = errors.New("sshclient: no user name to log in as")

// ErrConnectTimeout is returned by Dial when the handshake and
// authentication took longer than Config.ConnectTimeout.
var ErrConnectTimeout = errors.New("sshclient: connection timed out during the SSH handshake")

// clientVersion is the identification string sent to servers.
var clientVersion = "SSH-2.0-ssmssh_" + strings.ReplaceAll(version.Version, " ", "_")

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// Dial runs the SSH handshake over conn and logs in as cfg.User, and
// returns the client; conn is closed when the client is, or when Dial
// fails. The host key is checked against known_hosts under
// cfg.HostKeyName (or by cfg.HostKeyCallback); authentication uses
// cfg.ExtraSigners, the agent, the identity files and then
// keyboard-interactive and password prompts, as cfg allows.
// cfg.ConnectTimeout and ctx bound the handshake and login; after Dial
// returns, ctx no longer matters. With cfg.ServerAliveInterval set,
// keepalive@openssh.com requests are sent and the connection is closed
// after cfg.ServerAliveCountMax unanswered intervals.
//
// Errors callers may branch on: *AuthError, *HostKeyChangedError,
// *HostKeyUnknownError, *HostKeyRevokedError (all three match
// ErrHostKeyVerification), ErrConnectTimeout, ErrNoUser and ctx's error.
func Dial(ctx context.Context, conn net.Conn, cfg *Config) (*ssh.Client, error) {
	if cfg.User == "" {
		conn.Close()
		return nil, ErrNoUser
	}
	name := cfg.HostKeyName()
	addr := cfg.hostKeyAddr()
	hostKeyCallback := cfg.HostKeyCallback
	var hostKeyAlgos []string
	if hostKeyCallback == nil {
		checker, err := newHostKeyChecker(cfg)
		if err != nil {
			conn.Close()
			return nil, err
		}
		hostKeyCallback = checker.check
		hostKeyAlgos = checker.hostKeyAlgorithms(addr)
	}
	plan := newAuthPlan(cfg, cfg.User)
	defer plan.close()

	ccfg := &ssh.ClientConfig{
		User:              cfg.User,
		HostKeyCallback:   hostKeyCallback,
		HostKeyAlgorithms: hostKeyAlgos,
		AuthCallback:      plan.callback,
		ClientVersion:     clientVersion,
		BannerCallback: func(msg string) error {
			cfg.warnf("%s", strings.TrimRight(msg, "\r\n"))
			return nil
		},
	}
	if cfg.ConnectTimeout > 0 {
		conn.SetDeadline(time.Now().Add(cfg.ConnectTimeout))
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	cfg.logf("sshclient: SSH handshake with %s as %s", name, cfg.User)
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, ccfg)
	interrupted := !stop()
	if err == nil && interrupted {
		c.Close()
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		return nil, dialError(ctx, interrupted, name, err)
	}
	conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	cfg.logf("sshclient: logged in to %s as %s (server %s)", name, cfg.User, c.ServerVersion())
	if cfg.ServerAliveInterval > 0 {
		misses := cfg.ServerAliveCountMax
		if misses <= 0 {
			misses = 3
		}
		go keepalive(client, cfg.ServerAliveInterval, misses, name, cfg)
	}
	return client, nil
}

// dialError turns a handshake failure into the error Dial returns.
func dialError(ctx context.Context, interrupted bool, name string, err error) error {
	var authErr *AuthError
	var changed *HostKeyChangedError
	var unknown *HostKeyUnknownError
	var revoked *HostKeyRevokedError
	switch {
	case interrupted && ctx.Err() != nil:
		return fmt.Errorf("sshclient: SSH handshake with %s: %w", name, ctx.Err())
	case errors.As(err, &authErr):
		return authErr
	case errors.As(err, &changed):
		return changed
	case errors.As(err, &unknown):
		return unknown
	case errors.As(err, &revoked):
		return revoked
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w (%s)", ErrConnectTimeout, name)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w (%s)", ErrConnectTimeout, name)
	}
	return fmt.Errorf("sshclient: SSH handshake with %s: %w", name, err)
}

// keepalive sends keepalive@openssh.com every interval while the
// previous one is still unanswered counts as a miss; after maxMisses in
// a row it closes the client, as OpenSSH's ServerAliveCountMax does.
func keepalive(client *ssh.Client, interval time.Duration, maxMisses int, name string, cfg *Config) {
	done := make(chan struct{})
	go func() {
		client.Wait()
		close(done)
	}()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	answered := make(chan error, 1)
	inflight, misses := false, 0
	for {
		select {
		case <-done:
			return
		case err := <-answered:
			inflight = false
			if err != nil {
				return
			}
			misses = 0
		case <-ticker.C:
			if misses >= maxMisses {
				cfg.warnf("Timeout, server %s not responding.", name)
				client.Close()
				return
			}
			misses++
			if !inflight {
				inflight = true
				go func() {
					_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
					answered <- err
				}()
			}
		}
	}
}

// Run runs cmd in a new session of client, copying stdin to it (nil sends
// EOF at once, as ssh -n) and its stdout and stderr to the writers
// separately, and returns the remote exit status. When the command exits
// with a non-zero status the error is the *ssh.ExitError, unchanged; a
// command killed by a signal (also an *ssh.ExitError), a session that
// ended without a status and every connection error give
// ExitConnectionError, as ssh does.
//
// Run returns once the session's output is complete; it does not wait for
// stdin, whose copying ends at its next read after the session is gone.
// Cancelling ctx sends the command SIGTERM, closes the session and
// returns at once with ctx's error (the server may let the command run
// on: OpenSSH's sshd does until it writes to the closed channel).
func Run(ctx context.Context, client *ssh.Client, cmd string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	sess, err := client.NewSession()
	if err != nil {
		return ExitConnectionError, fmt.Errorf("sshclient: open session: %w", err)
	}
	defer sess.Close()
	sess.Stdout, sess.Stderr = stdout, stderr
	if stdin != nil {
		w, err := sess.StdinPipe()
		if err != nil {
			return ExitConnectionError, fmt.Errorf("sshclient: %w", err)
		}
		go func() {
			io.Copy(w, stdin)
			w.Close()
		}()
	}
	if err := sess.Start(cmd); err != nil {
		return ExitConnectionError, fmt.Errorf("sshclient: start %q: %w", cmd, err)
	}
	return waitSession(ctx, sess)
}

// waitSession waits for the session's end, or for ctx: then the command
// gets SIGTERM and the session is closed without waiting further.
func waitSession(ctx context.Context, sess *ssh.Session) (int, error) {
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case err := <-waited:
		return exitStatus(err)
	case <-ctx.Done():
		sess.Signal(ssh.SIGTERM)
		sess.Close()
		return ExitConnectionError, ctx.Err()
	}
}

// exitStatus maps a session's end to ssh's exit status.
func exitStatus(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		if exit.Signal() != "" {
			return ExitConnectionError, exit
		}
		return exit.ExitStatus(), exit
	}
	return ExitConnectionError, fmt.Errorf("sshclient: session: %w", err)
}
