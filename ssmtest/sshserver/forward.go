package sshserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// forwardDialTimeout bounds the connection to a direct-tcpip destination.
const forwardDialTimeout = 10 * time.Second

// errNotLoopback refuses a direct-tcpip destination off this host.
var errNotLoopback = errors.New("sshserver: destination is not a loopback address")

// directTCPIP is the "direct-tcpip" channel-open payload (RFC 4254
// section 7.2).
type directTCPIP struct {
	DestAddr   string
	DestPort   uint32
	OriginAddr string
	OriginPort uint32
}

// handleDirectTCPIP serves local forwarding (ssh -L, ssh -W) to loopback
// destinations. Names are resolved, and the address actually dialled is
// checked, so "localhost" works and a name pointing elsewhere does not.
func (s *Server) handleDirectTCPIP(conn *ssh.ServerConn, nc ssh.NewChannel) {
	var d directTCPIP
	if err := ssh.Unmarshal(nc.ExtraData(), &d); err != nil || d.DestPort > 65535 {
		nc.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	if !allowed(conn, extNoForward) {
		nc.Reject(ssh.Prohibited, "port forwarding is not permitted for this key")
		return
	}
	addr := net.JoinHostPort(d.DestAddr, strconv.Itoa(int(d.DestPort)))
	target, err := s.dialLoopback(addr)
	if err != nil {
		s.logf("sshserver: %s: direct-tcpip to %s: %v", conn.RemoteAddr(), addr, err)
		if errors.Is(err, errNotLoopback) {
			nc.Reject(ssh.Prohibited, "only loopback destinations are allowed")
		} else {
			nc.Reject(ssh.ConnectionFailed, "connect failed")
		}
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		target.Close()
		return
	}
	discarded := make(chan struct{})
	go func() {
		ssh.DiscardRequests(reqs)
		close(discarded)
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(target, ch)
		if tc, ok := target.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	})
	wg.Go(func() {
		io.Copy(ch, target)
		ch.CloseWrite()
	})
	// Both directions end on EOF or when the connection dies; Close()
	// closes the connection, which closes the channel.
	wg.Wait()
	ch.Close()
	target.Close()
	<-discarded // until the peer's close arrives or the connection dies
}

// dialLoopback connects to addr if it is, or resolves to, a loopback
// address. The dial is abandoned when the server closes.
func (s *Server) dialLoopback(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), forwardDialTimeout)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	d := net.Dialer{
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("%w: %s", errNotLoopback, address)
			}
			return nil
		},
	}
	return d.DialContext(ctx, "tcp", addr)
}
