package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/ssmssh/ssmssh/internal/iox"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// Printer writes the lines a user (or a script waiting for "Waiting for
// connections...") reads, one whole line per write. A nil *Printer prints
// nothing, which is what -q asks for.
type Printer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewPrinter returns a Printer writing to w; nil w gives a nil Printer.
func NewPrinter(w io.Writer) *Printer {
	if w == nil {
		return nil
	}
	return &Printer{w: w}
}

// Printf prints one line.
func (p *Printer) Printf(format string, args ...any) {
	if p == nil {
		return
	}
	line := fmt.Sprintf(format, args...) + "\n"
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.w, line)
}

// Println prints s as one line.
func (p *Printer) Println(s string) { p.Printf("%s", s) }

// Config configures a Forwarder.
type Config struct {
	// Client starts sessions (*ssmclient.Client); nil only with Session.
	Client Starter
	// Target is the resolved target id.
	Target string
	// Reason is recorded with each session.
	Reason string
	// Session is an already open session for a forwarding to one
	// destination (not dynamic) to use first; see TunnelConfig.Session.
	Session *ssmclient.Session
	// OnSessionEnd is TunnelConfig.OnSessionEnd for every tunnel.
	OnSessionEnd func(id string, err error)
	// Out receives the official plugin's lines ("Port N opened for
	// sessionId X.", "Waiting for connections...", "Connection accepted
	// for session [X]"); nil prints nothing (-q).
	Out *Printer
	// Errors receives one line per local connection that could not be
	// served (no session could be started, a SOCKS request refused); nil
	// means Out.
	Errors *Printer
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// Forwarder listens on a local address and carries each accepted
// connection through Session Manager: to one destination (-L, a Tunnel)
// or, as a SOCKS5 server, to the destination each client asks for (-D, a
// Tunnel per host and port, through the remote-host document, so that
// names are resolved on the instance).
//
// Use: f, err := Listen(ctx, cfg, spec); go f.Serve(); … f.Close().
type Forwarder struct {
	spec   Spec
	cfg    Config
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc

	tunnel *Tunnel // -L

	mu      sync.Mutex
	closed  bool
	tunnels map[string]*Tunnel    // -D, by host:port
	conns   map[net.Conn]struct{} // accepted, being served
	wg      sync.WaitGroup
	shown   map[string]bool // sessions whose first connection was announced
}

// Listen binds spec's address and, for a forwarding to one destination,
// starts its first session, so that a wrong target, a denied document or
// a busy port fails here, then prints the official plugin's lines: "Port
// N opened for sessionId X." (N the port actually bound, useful with
// port 0) and "Waiting for connections...". A dynamic forwarding starts
// sessions as SOCKS clients ask and prints "Port N opened for SOCKS5
// connections." instead. Call Serve to accept connections.
func Listen(ctx context.Context, cfg Config, spec Spec) (*Forwarder, error) {
	if cfg.Errors == nil {
		cfg.Errors = cfg.Out
	}
	ln, err := net.Listen("tcp", spec.ListenAddress())
	if err != nil {
		return nil, fmt.Errorf("forward: listen for %s: %w", spec, err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	f := &Forwarder{spec: spec, cfg: cfg, ln: ln, ctx: fctx, cancel: cancel,
		tunnels: make(map[string]*Tunnel), conns: make(map[net.Conn]struct{}), shown: make(map[string]bool)}
	port := f.Port()
	if spec.Dynamic {
		cfg.Out.Printf("Port %d opened for SOCKS5 connections.", port)
		cfg.Out.Println("Waiting for connections...")
		return f, nil
	}
	f.tunnel = NewTunnel(TunnelConfig{
		Client: cfg.Client, Session: cfg.Session, Target: cfg.Target, Reason: cfg.Reason,
		Out: cfg.Out, OnSessionEnd: cfg.OnSessionEnd, Logf: cfg.Logf,
		Host: spec.Host, Port: spec.Port, LocalPort: port,
	})
	id, err := f.tunnel.Start(ctx)
	if err != nil {
		ln.Close()
		f.tunnel.Close()
		cancel()
		return nil, err
	}
	cfg.Out.Printf("Port %d opened for sessionId %s.", port, id)
	cfg.Out.Println("Waiting for connections...")
	return f, nil
}

// Addr is the address the forwarder listens on.
func (f *Forwarder) Addr() net.Addr { return f.ln.Addr() }

// Port is the local port the forwarder listens on.
func (f *Forwarder) Port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// Spec is what the forwarder was made for (BindPort as given, 0 included).
func (f *Forwarder) Spec() Spec { return f.spec }

// Tunnel is the tunnel of a forwarding to one destination (nil for a
// dynamic one).
func (f *Forwarder) Tunnel() *Tunnel { return f.tunnel }

// Serve accepts connections until Close, serving each in a goroutine. It
// returns nil after Close, or the listener's error.
func (f *Forwarder) Serve() error {
	var backoff time.Duration
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if f.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("forward: accept on %s: %w", f.Addr(), err)
		}
		backoff = 0
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			c.Close()
			return nil
		}
		f.conns[c] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go func() {
			defer f.wg.Done()
			defer func() {
				f.mu.Lock()
				delete(f.conns, c)
				f.mu.Unlock()
				c.Close()
			}()
			if f.spec.Dynamic {
				f.serveSOCKS(c)
			} else {
				f.serveLocal(c)
			}
		}()
	}
}

// serveLocal carries one -L connection.
func (f *Forwarder) serveLocal(c net.Conn) {
	remote, id, err := f.tunnel.Dial(f.ctx)
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			f.cfg.Errors.Printf("forward: %s: connection from %s: %v", f.spec, c.RemoteAddr(), err)
		}
		return
	}
	f.accepted(id)
	f.join(c, remote)
}

// accepted prints the plugin's line for a session's first connection.
func (f *Forwarder) accepted(id string) {
	f.mu.Lock()
	first := !f.shown[id]
	f.shown[id] = true
	f.mu.Unlock()
	if first {
		f.cfg.Out.Printf("Connection accepted for session [%s]", id)
	}
}

func (f *Forwarder) join(local, remote net.Conn) {
	if err := iox.Join(local, remote, 0); err != nil && f.cfg.Logf != nil {
		f.cfg.Logf("forward: %s: connection from %s: %v", f.spec, local.RemoteAddr(), err)
	}
}

// socksHandshakeTimeout bounds a SOCKS client's greeting and request.
const socksHandshakeTimeout = 30 * time.Second

// serveSOCKS answers one SOCKS5 client and carries its connection.
func (f *Forwarder) serveSOCKS(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(socksHandshakeTimeout))
	ok, err := readSOCKSGreeting(c)
	if err != nil {
		f.cfg.Errors.Printf("forward: SOCKS5 client %s: %v", c.RemoteAddr(), err)
		return
	}
	if !ok {
		_, _ = c.Write([]byte{socksVersion, socksMethodNoAcceptable})
		f.cfg.Errors.Printf("forward: SOCKS5 client %s: offers no method without authentication", c.RemoteAddr())
		return
	}
	if _, err := c.Write([]byte{socksVersion, socksMethodNone}); err != nil {
		return
	}
	req, err := readSOCKSRequest(c)
	if err != nil {
		var se *socksError
		if errors.As(err, &se) {
			_, _ = c.Write(socksReply(se.code))
		}
		f.cfg.Errors.Printf("forward: SOCKS5 client %s: %v", c.RemoteAddr(), err)
		return
	}
	t := f.socksTunnel(req)
	if t == nil {
		return // closed
	}
	remote, id, err := t.Dial(f.ctx)
	if err != nil {
		_, _ = c.Write(socksReply(socksHostUnreachable))
		if !errors.Is(err, ErrClosed) {
			f.cfg.Errors.Printf("forward: SOCKS5 %s: %v", req.Address(), err)
		}
		return
	}
	if _, err := c.Write(socksReply(socksSucceeded)); err != nil {
		remote.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	f.accepted(id)
	f.join(c, remote)
}

// socksTunnel returns the tunnel to a SOCKS request's destination, making
// it on first use; nil after Close.
func (f *Forwarder) socksTunnel(req socksRequest) *Tunnel {
	key := req.Address()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	if t := f.tunnels[key]; t != nil {
		return t
	}
	t := NewTunnel(TunnelConfig{
		Client: f.cfg.Client, Target: f.cfg.Target, Reason: f.cfg.Reason, Out: f.cfg.Out, Logf: f.cfg.Logf,
		OnSessionEnd: f.cfg.OnSessionEnd, Host: req.Host, Port: req.Port, LocalPort: f.Port(),
	})
	f.tunnels[key] = t
	return t
}

// Close stops listening, ends the connections being served and terminates
// the forwarder's sessions; it waits for all of it.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.cancel()
	err := f.ln.Close()
	tunnels := make([]*Tunnel, 0, len(f.tunnels)+1)
	for _, t := range f.tunnels {
		tunnels = append(tunnels, t)
	}
	if f.tunnel != nil {
		tunnels = append(tunnels, f.tunnel)
	}
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range tunnels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Close()
		}()
	}
	wg.Wait()
	f.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
