package sshclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/internal/iox"
)

// Forward is one local forwarding (-L, LocalForward): connections to the
// bind address are carried over SSH to Host:HostPort as the server sees
// it.
type Forward struct {
	// BindAddress is where to listen: "" for the loopback addresses
	// (OpenSSH's default), "*" for every interface, else an address or
	// name.
	BindAddress string
	BindPort    int
	Host        string
	HostPort    int
}

// Bind is the listening address in LocalForward's form: "localhost:port",
// "*:port" or "addr:port".
func (f Forward) Bind() string {
	switch f.BindAddress {
	case "":
		return net.JoinHostPort("localhost", strconv.Itoa(f.BindPort))
	default:
		return net.JoinHostPort(f.BindAddress, strconv.Itoa(f.BindPort))
	}
}

// Remote is the destination, "host:port".
func (f Forward) Remote() string { return net.JoinHostPort(f.Host, strconv.Itoa(f.HostPort)) }

// String returns the -L form: [bind_address:]port:host:hostport.
func (f Forward) String() string {
	s := strconv.Itoa(f.BindPort) + ":" + bracket(f.Host) + ":" + strconv.Itoa(f.HostPort)
	if f.BindAddress != "" {
		s = bracket(f.BindAddress) + ":" + s
	}
	return s
}

// configValue is the LocalForward form: "[bind:]port host:hostport".
func (f Forward) configValue() string {
	s := strconv.Itoa(f.BindPort) + " " + bracket(f.Host) + ":" + strconv.Itoa(f.HostPort)
	if f.BindAddress != "" {
		s = bracket(f.BindAddress) + ":" + s
	}
	return s
}

func bracket(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// ParseForward parses an -L argument, "[bind_address:]port:host:hostport"
// (IPv6 addresses in brackets; "/" may replace ":"). An explicitly empty
// bind address means every interface, as "*" does.
func ParseForward(spec string) (Forward, error) {
	fields, err := splitForward(spec)
	if err != nil {
		return Forward{}, fmt.Errorf("sshclient: bad forwarding %q: %w", spec, err)
	}
	f, err := forwardFromFields(fields)
	if err != nil {
		return Forward{}, fmt.Errorf("sshclient: bad forwarding %q: %w", spec, err)
	}
	return f, nil
}

// parseForwardArgs parses LocalForward's two arguments.
func parseForwardArgs(args []string) (Forward, error) {
	if len(args) != 2 {
		return Forward{}, errors.New("want [bind_address:]port host:hostport")
	}
	return ParseForward(args[0] + ":" + args[1])
}

func forwardFromFields(fields []string) (Forward, error) {
	var f Forward
	switch len(fields) {
	case 3:
	case 4:
		f.BindAddress = fields[0]
		if f.BindAddress == "" {
			f.BindAddress = "*"
		}
		fields = fields[1:]
	default:
		return Forward{}, errors.New("want [bind_address:]port:host:hostport")
	}
	var err error
	if f.BindPort, err = parsePort(fields[0], true); err != nil {
		return Forward{}, err
	}
	if f.Host = fields[1]; f.Host == "" {
		return Forward{}, errors.New("empty host")
	}
	if f.HostPort, err = parsePort(fields[2], false); err != nil {
		return Forward{}, err
	}
	return f, nil
}

func parsePort(s string, zeroOK bool) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !zeroOK) {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

// splitForward splits at ':' or '/', keeping [bracketed] parts whole.
func splitForward(s string) ([]string, error) {
	var fields []string
	for {
		var field string
		if strings.HasPrefix(s, "[") {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, errors.New("unterminated [")
			}
			field, s = s[1:end], s[end+1:]
			if strings.IndexByte(field, '[') >= 0 {
				return nil, errors.New("[ inside []")
			}
			if s != "" && s[0] != ':' && s[0] != '/' {
				return nil, errors.New("junk after ]")
			}
		} else {
			i := strings.IndexAny(s, ":/")
			if i < 0 {
				field, s = s, ""
			} else {
				field, s = s[:i], s[i:]
			}
		}
		fields = append(fields, field)
		if s == "" {
			return fields, nil
		}
		s = s[1:] // the separator
	}
}

// Forwarder serves one local forwarding; see [LocalForward].
type Forwarder struct {
	client *ssh.Client
	remote string
	warnf  func(string, ...any)
	lns    []net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	stop   func() bool
	done   chan struct{} // closed when Close has finished
}

// acceptRetryDelay is the pause after a temporary Accept error.
const acceptRetryDelay = 50 * time.Millisecond

// LocalForward listens on bind ("host:port"; "localhost" means both
// 127.0.0.1 and ::1, "*" or an empty host every interface; port 0 picks
// one) and carries each accepted connection over client to remote, a
// "host:port" as the server resolves it, with a "direct-tcpip" channel.
// Connections are served concurrently; each direction is copied until
// EOF, which is passed on as a half-close. Forwarding stops when ctx is
// done, the client's connection ends or Close is called. warnf (nil
// discards) hears of connections the server would not open, as OpenSSH's
// "channel N: open failed" lines.
func LocalForward(ctx context.Context, client *ssh.Client, bind, remote string, warnf func(format string, args ...any)) (*Forwarder, error) {
	if warnf == nil {
		warnf = func(string, ...any) {}
	}
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("sshclient: forward: bind address %q: %w", bind, err)
	}
	if _, _, err := net.SplitHostPort(remote); err != nil {
		return nil, fmt.Errorf("sshclient: forward: destination %q: %w", remote, err)
	}
	f := &Forwarder{client: client, remote: remote, warnf: warnf, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	var lc net.ListenConfig
	switch host {
	case "localhost":
		ln, err := lc.Listen(ctx, "tcp4", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			return nil, fmt.Errorf("sshclient: forward: %w", err)
		}
		f.lns = append(f.lns, ln)
		// The same port on ::1, if this host has IPv6 loopback and the
		// port is free there.
		p := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		if ln6, err := lc.Listen(ctx, "tcp6", net.JoinHostPort("::1", p)); err == nil {
			f.lns = append(f.lns, ln6)
		}
	case "*", "":
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("", port))
		if err != nil {
			return nil, fmt.Errorf("sshclient: forward: %w", err)
		}
		f.lns = append(f.lns, ln)
	default:
		ln, err := lc.Listen(ctx, "tcp", bind)
		if err != nil {
			return nil, fmt.Errorf("sshclient: forward: %w", err)
		}
		f.lns = append(f.lns, ln)
	}
	for _, ln := range f.lns {
		f.wg.Go(func() { f.serve(ln) })
	}
	f.stop = context.AfterFunc(ctx, func() { f.Close() })
	go func() {
		// Ends when the connection does (Close does not wait for this).
		client.Wait()
		f.Close()
	}()
	return f, nil
}

// Addr is the (first) listening address.
func (f *Forwarder) Addr() net.Addr { return f.lns[0].Addr() }

// Done is closed once forwarding has stopped (ctx, the connection's end
// or Close) and every connection's goroutines have returned.
func (f *Forwarder) Done() <-chan struct{} { return f.done }

// Close stops listening, closes the forwarded connections and waits for
// their goroutines.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		<-f.done
		return nil
	}
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	if f.stop != nil {
		f.stop()
	}
	for _, ln := range f.lns {
		ln.Close()
	}
	f.wg.Wait()
	close(f.done)
	return nil
}

func (f *Forwarder) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !add {
		delete(f.conns, c)
		return true
	}
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Forwarder) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(acceptRetryDelay)
				continue
			}
			return
		}
		if !f.track(c, true) {
			c.Close()
			return
		}
		f.wg.Go(func() {
			defer f.track(c, false)
			f.forward(c)
		})
	}
}

func (f *Forwarder) forward(local net.Conn) {
	defer local.Close()
	remote, err := f.client.Dial("tcp", f.remote)
	if err != nil {
		f.warnf("channel open failed: %s (forwarding %s to %s)", strings.TrimPrefix(err.Error(), "ssh: "), local.RemoteAddr(), f.remote)
		return
	}
	if !f.track(remote, true) {
		remote.Close()
		return
	}
	defer f.track(remote, false)
	_ = iox.Join(local, remote, 0)
}
