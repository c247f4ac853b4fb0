package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/xtaci/smux"

	"github.com/ssmssh/ssmssh/protocol"
)

// PortTypeLocalPortForwarding is the Port document property "type" of the
// port-forwarding documents (AWS-StartPortForwardingSession and the
// remote-host variant). AWS-StartSSHSession leaves it empty.
const PortTypeLocalPortForwarding = "LocalPortForwarding"

// Client versions the agent's port plugin branches on.
const (
	// muxMinClientVersion is the oldest client that gets smux for port
	// forwarding; older clients get basic mode.
	muxMinClientVersion = "1.1.70"
	// muxKeepAliveLastClientVersion is the newest client for which the
	// agent keeps smux keepalive on; newer clients get it disabled, since
	// keepalive frames would defeat the service's idle timeout.
	muxKeepAliveLastClientVersion = "1.2.331.0"
)

// DefaultDeniedIPs are the addresses the agent refuses to forward to (its
// Mgs.DeniedPortForwardingRemoteIPs default): the instance metadata
// service, the Amazon DNS server, the Amazon Time Sync Service and the
// other link-local EC2 services, IPv4 and IPv6.
var DefaultDeniedIPs = []string{
	"169.254.169.254", "fd00:ec2::254",
	"169.254.169.253", "fd00:ec2::253",
	"169.254.169.123", "fd00:ec2::123",
	"169.254.169.250", "169.254.169.251", "fd00:ec2::240",
}

// PortOptions configures a Port session: the session document's
// properties after parameter substitution, the client version learnt in the
// handshake, and how the agent reaches the destination.
type PortOptions struct {
	// PortNumber is the destination port (property portNumber); required.
	PortNumber string
	// Host is the remote host (property host) of the remote-host
	// forwarding document; empty means localhost.
	Host string
	// Type is the property "type": PortTypeLocalPortForwarding or empty.
	Type string
	// ClientVersion is the ClientVersion of the client's handshake
	// response. Port forwarding uses smux when it is at least 1.1.70.
	ClientVersion string
	// AgentVersion is the agent's own version; agents up to 3.0.196.0
	// predate smux and serve every client in basic mode ("" counts as
	// current).
	AgentVersion string
	// Dial makes each TCP connection to the destination (default: a
	// net.Dialer). network is "tcp"; address is "localhost:<port>" without
	// a Host, else "<resolved address>:<port>".
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// LookupHost resolves Host into the addresses to check against
	// DeniedIPs and to dial, in order (default net.DefaultResolver). An
	// emulator that maps made-up host names may return the name itself.
	LookupHost func(ctx context.Context, host string) ([]string, error)
	// DeniedIPs are refused as forwarding destinations (nil means
	// DefaultDeniedIPs). The real agent adds the VPC's reserved addresses.
	DeniedIPs []string
	// Pacer paces what the session reads from its connections (nil:
	// unpaced); see Pace.
	Pacer *Pacer
	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
}

// Dialer makes one TCP connection to a Port session's destination.
type Dialer func(ctx context.Context) (net.Conn, error)

// RunPort runs a Port session as the agent's port plugin does: it checks
// the properties, refuses denied remote hosts ("Forwarding to IP address
// <host> is forbidden."), then runs RunPortMux for port forwarding with a
// client of version 1.1.70 or later and RunPortBasic otherwise. An agent
// whose own AgentVersion is 3.0.196.0 or older predates smux port
// forwarding (the plugin uses basic mode with such agents), so it runs
// RunPortBasic for every client.
//
// A remote host that does not resolve is not an error here: like the real
// agent, the session starts and each connection attempt then fails with
// "missing address".
func RunPort(ctx context.Context, ms protocol.MessageStream, opts PortOptions) (Result, error) {
	if opts.PortNumber == "" {
		return failed(fmt.Sprintf("Port number is empty in session properties. %s", opts.properties())), nil
	}
	var addrs []string
	if opts.Host != "" {
		lookup := opts.LookupHost
		if lookup == nil {
			lookup = net.DefaultResolver.LookupHost
		}
		resolved, err := lookup(ctx, opts.Host)
		if err != nil {
			logger(opts.Logf).printf("agent: port session: resolve %s: %v", opts.Host, err)
		} else {
			if denied(resolved, opts.DeniedIPs) {
				return failed(fmt.Sprintf("Forwarding to IP address %s is forbidden.", opts.Host)), nil
			}
			addrs = resolved
		}
	}
	dial := opts.dialer(addrs)
	if opts.Type == PortTypeLocalPortForwarding && compareVersions(opts.ClientVersion, muxMinClientVersion) >= 0 &&
		(opts.AgentVersion == "" || protocol.AgentSupportsMux(opts.AgentVersion)) {
		return RunPortMux(ctx, ms, dial, opts)
	}
	return RunPortBasic(ctx, ms, dial, opts)
}

// properties renders the port properties the way the agent prints them in
// its "Port number is empty" failure (a Go map).
func (o *PortOptions) properties() string {
	p := []string{"portNumber:" + o.PortNumber}
	if o.Host != "" {
		p = append(p, "host:"+o.Host)
	}
	if o.Type != "" {
		p = append(p, "type:"+o.Type)
	}
	return "map[" + strings.Join(p, " ") + "]"
}

// denied reports whether any resolved address is a denied IP.
func denied(resolved, deniedIPs []string) bool {
	if deniedIPs == nil {
		deniedIPs = DefaultDeniedIPs
	}
	for _, r := range resolved {
		ip := net.ParseIP(r)
		if ip == nil {
			continue
		}
		for _, d := range deniedIPs {
			if ip.Equal(net.ParseIP(d)) {
				return true
			}
		}
	}
	return false
}

// dialer returns the Dialer for the session's destination: localhost
// without a Host, else the resolved addresses in order, returning the first
// connection made or the first error, as the agent's DialCall does.
func (o *PortOptions) dialer(addrs []string) Dialer {
	dial := o.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	if o.Host == "" {
		addr := net.JoinHostPort("localhost", o.PortNumber)
		return func(ctx context.Context) (net.Conn, error) { return dial(ctx, "tcp", addr) }
	}
	return func(ctx context.Context) (net.Conn, error) {
		var first error
		for _, a := range addrs {
			c, err := dial(ctx, "tcp", net.JoinHostPort(a, o.PortNumber))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		if first == nil {
			first = errors.New("missing address")
		}
		return nil, first
	}
}

// RunPortBasic runs a Port session in basic mode: one TCP connection whose
// bytes travel both ways as Output payloads.
//
// The connection is dialled before the stream is first read (the real
// agent dials first too, and withholds acks until then); a failure ends the
// session with "Unable to connect to specified port: <error>". Client
// Output is written to the connection as it arrives; the connection's
// data is sent in payloads of up to 1024 bytes, paced by opts.Pacer as the
// real agent paces it (one read of 1024 bytes, then 1 ms). A TerminateSession flag, ctx or the end of the
// stream end the session successfully.
//
// How the connection ends depends on opts.Type, as in the real agent:
//
//   - Without a type (AWS-StartSSHSession), the session ends with the
//     connection: successfully on EOF, as failed on any other read error.
//     A DisconnectToPort flag closes the connection, which therefore ends
//     the session as failed.
//   - With PortTypeLocalPortForwarding (basic mode is then the fallback for
//     clients older than 1.1.70), a read error or DisconnectToPort closes
//     the connection and the next client Output dials a new one; the
//     session fails (with an empty Output) only if that dial fails.
//
// The agent sends nothing on the stream when the connection ends; the
// session's end is reported by the caller (channel_closed,
// agent_task_complete).
func RunPortBasic(ctx context.Context, ms protocol.MessageStream, dial Dialer, opts PortOptions) (Result, error) {
	log := logger(opts.Logf)
	conn, err := dial(ctx)
	if err != nil {
		return failed("Unable to connect to specified port: " + err.Error()), nil
	}
	p := &basicPort{
		ms:        ms,
		dial:      dial,
		reconnect: opts.Type == PortTypeLocalPortForwarding,
		log:       log,
		conn:      conn,
		redialed:  make(chan redial, 1),
		stop:      make(chan struct{}),
		pacer:     opts.Pacer,
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	pumped := make(chan pumpEnd, 1)
	go func() { pumped <- p.pump() }()
	ended := make(chan readEnd, 1)
	go func() { ended <- p.read(ctx) }()

	var res Result
	var resErr error
	select {
	case e := <-pumped:
		res, resErr = e.res, e.err
	case e := <-ended:
		res, resErr = succeeded(), e.err
	case <-ctx.Done():
		res = succeeded()
	}
	close(p.stop)
	p.closeConn()
	return res, resErr
}

type pumpEnd struct {
	res Result
	err error
}

type readEnd struct{ err error }

type redial struct {
	conn net.Conn
	err  error
}

// basicPort is the state of a basic-mode Port session.
type basicPort struct {
	ms        protocol.MessageStream
	dial      Dialer
	reconnect bool
	log       logger
	stop      chan struct{} // closed when the session ends
	redialed  chan redial   // reader → pump: the connection after a redial
	mu        sync.Mutex    // guards conn
	conn      net.Conn      // nil while disconnected (reconnect mode only)
	pacer     *Pacer
}

// pump copies the connection to the stream until the session ends.
func (p *basicPort) pump() pumpEnd {
	// The wire is the real agent's (payloads of at most chunkSize bytes);
	// unpaced, the reads are larger, which costs fewer system calls when
	// the connection has plenty to send. Paced, each read is one payload
	// and a pause follows it, as in the real agent's WritePump.
	buf := make([]byte, readSize)
	p.mu.Lock()
	c := p.conn
	p.mu.Unlock()
	for {
		n, err := c.Read(buf[:p.pacer.readSize(len(buf))])
		for off := 0; off < n; off += chunkSize {
			if serr := p.ms.Send(protocol.PayloadOutput, buf[off:min(off+chunkSize, n)]); serr != nil {
				return pumpEnd{failed(""), fmt.Errorf("agent: port session: send: %w", serr)}
			}
		}
		if err == nil {
			p.pacer.pause()
			continue
		}
		if !p.reconnect {
			if errors.Is(err, io.EOF) {
				p.log.printf("agent: port session: TCP connection closed")
				return pumpEnd{res: succeeded()}
			}
			p.log.printf("agent: port session: read from port: %v", err)
			return pumpEnd{res: failed("")}
		}
		p.log.printf("agent: port session: read from port: %v; reconnecting on the next client data", err)
		p.drop(c)
		select {
		case r := <-p.redialed:
			if r.err != nil {
				p.log.printf("agent: port session: reconnect: %v", r.err)
				return pumpEnd{res: failed("")}
			}
			c = r.conn
		case <-p.stop:
			return pumpEnd{res: succeeded()}
		}
	}
}

// read handles the client's payloads until the session ends, returning the
// stream's error or nil after a TerminateSession flag.
func (p *basicPort) read(ctx context.Context) readEnd {
	for {
		pt, payload, err := p.ms.Recv()
		if err != nil {
			select {
			case <-p.stop:
				return readEnd{}
			default:
			}
			if errors.Is(err, io.EOF) {
				return readEnd{}
			}
			return readEnd{fmt.Errorf("agent: port session: receive: %w", err)}
		}
		switch pt {
		case protocol.PayloadOutput:
			p.write(ctx, payload)
		case protocol.PayloadFlag:
			f, err := protocol.ParseFlag(payload)
			if err != nil {
				p.log.printf("agent: port session: %v", err)
				continue
			}
			switch f {
			case protocol.FlagDisconnectToPort:
				p.log.printf("agent: port session: client disconnected from port")
				p.closeConn()
			case protocol.FlagTerminateSession:
				p.log.printf("agent: port session: client terminated the session")
				return readEnd{}
			}
		}
	}
}

// write delivers client bytes to the connection, dialling a new one first
// in reconnect mode when the previous one is gone. A failed write is
// retried once on a fresh connection in reconnect mode: the real agent
// leaves such a message unacknowledged, so the client resends it.
func (p *basicPort) write(ctx context.Context, b []byte) {
	for attempt := 0; ; attempt++ {
		c, err := p.current(ctx)
		if err != nil || c == nil {
			return
		}
		if _, err := c.Write(b); err == nil {
			return
		} else if !p.reconnect || attempt > 0 {
			p.log.printf("agent: port session: write to port: %v", err)
			return
		}
		p.drop(c)
	}
}

// current returns the connection, dialling a new one in reconnect mode
// when there is none and handing it to the pump.
func (p *basicPort) current(ctx context.Context) (net.Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil || !p.reconnect {
		return p.conn, nil
	}
	select {
	case <-p.stop:
		return nil, nil
	default:
	}
	c, err := p.dial(ctx)
	select {
	case old := <-p.redialed: // a connection the pump never took
		if old.conn != nil {
			old.conn.Close()
		}
	default:
	}
	p.redialed <- redial{c, err}
	if err != nil {
		return nil, err
	}
	p.log.printf("agent: port session: reconnected to port")
	p.conn = c
	return c, nil
}

// drop closes c and forgets it if it is still the current connection.
func (p *basicPort) drop(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.Close()
	if p.conn == c {
		p.conn = nil
	}
}

// closeConn closes the current connection, if any. Without reconnect mode
// the connection is kept (closed) so that the pump sees the read error.
func (p *basicPort) closeConn() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn != nil {
		p.conn.Close()
	}
}

// RunPortMux runs a port-forwarding session in multiplexed mode: an smux
// (protocol version 1) server runs over the byte stream carried by Output
// payloads in both directions, and each stream the client opens gets a new
// TCP connection from dial, with bytes copied both ways until either side
// ends (there is no half-close: the first EOF closes both). smux frames are
// not aligned to payloads; the agent sends its side in reads of up to 1024
// bytes, each followed by opts.Pacer's pause (the real agent's
// transferDataToMgs sleeps 1 ms after each).
//
// smux uses the library's default configuration, with keepalive disabled
// for clients newer than 1.2.331.0. When a dial fails the agent sends a
// ConnectToPortError flag and closes the stream. Like the real agent it
// dials in its accept loop, so a slow dial delays the streams opened after
// it. DisconnectToPort flags are ignored; a TerminateSession flag, ctx or
// the end of the stream end the session successfully, and a broken smux
// session ends it as failed.
//
// The real agent runs smux over a Unix socket pair between its data channel
// and the smux server; this runner uses an in-memory pipe.
func RunPortMux(ctx context.Context, ms protocol.MessageStream, dial Dialer, opts PortOptions) (Result, error) {
	log := logger(opts.Logf)
	cfg := smux.DefaultConfig()
	if compareVersions(opts.ClientVersion, muxKeepAliveLastClientVersion) > 0 {
		cfg.KeepAliveDisabled = true
	}
	muxEnd, streamEnd := net.Pipe()
	sess, err := smux.Server(muxEnd, cfg)
	if err != nil {
		muxEnd.Close()
		streamEnd.Close()
		return failed(""), fmt.Errorf("agent: port session: smux server: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})

	var (
		wg      sync.WaitGroup // stream copiers
		wgMu    sync.Mutex     // orders wg.Add before the final wg.Wait
		stopped bool
	)

	pumped := make(chan pumpEnd, 1)
	go func() {
		buf := make([]byte, chunkSize)
		for {
			n, err := streamEnd.Read(buf[:opts.Pacer.readSize(len(buf))])
			if n > 0 {
				if serr := ms.Send(protocol.PayloadOutput, buf[:n]); serr != nil {
					pumped <- pumpEnd{failed(""), fmt.Errorf("agent: port session: send: %w", serr)}
					return
				}
				opts.Pacer.pause()
			}
			if err != nil {
				log.printf("agent: port session: read from smux: %v", err)
				pumped <- pumpEnd{res: failed("")}
				return
			}
		}
	}()

	accepted := make(chan pumpEnd, 1)
	go func() {
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				log.printf("agent: port session: accept stream: %v", err)
				accepted <- pumpEnd{res: failed("")}
				return
			}
			c, err := dial(ctx)
			if err != nil {
				log.printf("agent: port session: stream %d: dial: %v", st.ID(), err)
				if err := sendFlag(ms, protocol.FlagConnectToPortError); err != nil {
					log.printf("agent: port session: %v", err)
				}
				st.Close()
				continue
			}
			wgMu.Lock()
			if stopped {
				wgMu.Unlock()
				c.Close()
				st.Close()
				return
			}
			wg.Add(1)
			wgMu.Unlock()
			go func() {
				defer wg.Done()
				splice(st, c)
			}()
		}
	}()

	ended := make(chan readEnd, 1)
	go func() {
		for {
			pt, payload, err := ms.Recv()
			if err != nil {
				select {
				case <-stop:
					ended <- readEnd{}
				default:
					if errors.Is(err, io.EOF) {
						err = nil
					} else {
						err = fmt.Errorf("agent: port session: receive: %w", err)
					}
					ended <- readEnd{err}
				}
				return
			}
			switch pt {
			case protocol.PayloadOutput:
				if _, err := streamEnd.Write(payload); err != nil {
					// Only a session that is ending closes the pipe.
					log.printf("agent: port session: write to smux: %v", err)
					ended <- readEnd{}
					return
				}
			case protocol.PayloadFlag:
				if f, err := protocol.ParseFlag(payload); err == nil && f == protocol.FlagTerminateSession {
					log.printf("agent: port session: client terminated the session")
					ended <- readEnd{}
					return
				}
			}
		}
	}()

	var res Result
	var resErr error
	select {
	case e := <-pumped:
		res, resErr = e.res, e.err
	case e := <-accepted:
		res, resErr = e.res, e.err
	case e := <-ended:
		res, resErr = succeeded(), e.err
	case <-ctx.Done():
		res = succeeded()
	}
	close(stop)
	cancel()
	sess.Close()
	muxEnd.Close()
	streamEnd.Close()
	// The copiers end once the smux session is closed; wait so that every
	// TCP connection is closed when the session is over.
	wgMu.Lock()
	stopped = true
	wgMu.Unlock()
	wg.Wait()
	return res, resErr
}

// splice copies between an smux stream and a TCP connection until either
// direction ends, then closes both, as the agent's port plugin does.
func splice(st *smux.Stream, c net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(st, c)
		st.Close()
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(c, st)
		c.Close()
	}()
	wg.Wait()
	// Whichever copy ended first closed only its own destination; make sure
	// both ends are closed.
	st.Close()
	c.Close()
}

// compareVersions orders dotted version strings the way the agent's
// versionutil.Compare does in strict mode: component by component,
// numerically where both components are numbers and as text otherwise,
// and a version that runs out of components first is the lesser. The
// empty version is less than any numbered one.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		an, aerr := strconv.Atoi(as[i])
		bn, berr := strconv.Atoi(bs[i])
		switch {
		case aerr == nil && berr == nil:
			if an != bn {
				if an < bn {
					return -1
				}
				return 1
			}
		case as[i] != bs[i]:
			if as[i] < bs[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(as) < len(bs):
		return -1
	case len(as) > len(bs):
		return 1
	}
	return 0
}
