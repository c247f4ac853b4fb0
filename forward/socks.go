package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// SOCKS5 (RFC 1928), the subset a dynamic forwarding serves: no
// authentication, CONNECT only.
//
// Greeting, client → server:
//
//	+-----+----------+----------+
//	| VER | NMETHODS | METHODS  |
//	+-----+----------+----------+
//	|  1  |    1     | NMETHODS |   VER 5; method 0 is "no authentication"
//	+-----+----------+----------+
//
// Method selection, server → client: VER 5, METHOD (0, or 0xFF: none
// acceptable).
//
// Request, client → server (RSV is not checked):
//
//	+-----+-----+-------+------+----------+----------+
//	| VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
//	+-----+-----+-------+------+----------+----------+
//	|  1  |  1  | X'00' |  1   | Variable |    2     |
//	+-----+-----+-------+------+----------+----------+
//
// CMD 1 CONNECT (2 BIND and 3 UDP ASSOCIATE are refused); ATYP 1 IPv4 (4
// bytes), 3 a domain name (one length byte, then the name, which the
// instance resolves: curl --socks5-hostname, ssh -o
// ProxyCommand='nc -X 5 …'), 4 IPv6 (16 bytes); DST.PORT big-endian.
//
// Reply, server → client: VER 5, REP, RSV 0, then an address in the
// request's form (ATYP 1, 0.0.0.0, port 0 here: the instance's address is
// not known to us).
const (
	socksVersion = 5

	socksMethodNone         = 0x00
	socksMethodNoAcceptable = 0xff

	socksCmdConnect = 1

	socksAtypIPv4   = 1
	socksAtypDomain = 3
	socksAtypIPv6   = 4

	// Reply codes.
	socksSucceeded           = 0
	socksGeneralFailure      = 1
	socksNotAllowed          = 2
	socksHostUnreachable     = 4
	socksCommandNotSupported = 7
	socksAtypNotSupported    = 8

	socksHeaderLen = 4 // VER CMD RSV ATYP
)

// errSOCKS is wrapped by every malformed-SOCKS error.
var errSOCKS = errors.New("forward: socks5")

// socksError is a request the server refuses with a reply code.
type socksError struct {
	code byte
	msg  string
}

func (e *socksError) Error() string { return "forward: socks5: " + e.msg }
func (e *socksError) Unwrap() error { return errSOCKS }

// socksRequest is a decoded CONNECT request.
type socksRequest struct {
	Cmd  byte
	Atyp byte
	Host string // a domain name, or an IP address in its text form
	Port int
}

// Address is "host:port".
func (r socksRequest) Address() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// readSOCKSGreeting reads the client's greeting and reports whether it
// offers method 0 (no authentication).
func readSOCKSGreeting(r io.Reader) (bool, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return false, fmt.Errorf("%w: greeting: %w", errSOCKS, err)
	}
	if h[0] != socksVersion {
		return false, fmt.Errorf("%w: greeting: version %d, want 5", errSOCKS, h[0])
	}
	methods := make([]byte, h[1])
	if _, err := io.ReadFull(r, methods); err != nil {
		return false, fmt.Errorf("%w: greeting: methods: %w", errSOCKS, err)
	}
	for _, m := range methods {
		if m == socksMethodNone {
			return true, nil
		}
	}
	return false, nil
}

// readSOCKSRequest reads one request. Requests it cannot serve are
// *socksError with the reply code to send; a short or malformed request
// is an error wrapping errSOCKS.
func readSOCKSRequest(r io.Reader) (socksRequest, error) {
	var h [socksHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return socksRequest{}, fmt.Errorf("%w: request: %w", errSOCKS, err)
	}
	if h[0] != socksVersion {
		return socksRequest{}, fmt.Errorf("%w: request: version %d, want 5", errSOCKS, h[0])
	}
	req := socksRequest{Cmd: h[1], Atyp: h[3]}
	var addr []byte
	switch req.Atyp {
	case socksAtypIPv4:
		addr = make([]byte, net.IPv4len)
	case socksAtypIPv6:
		addr = make([]byte, net.IPv6len)
	case socksAtypDomain:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return socksRequest{}, fmt.Errorf("%w: request: name length: %w", errSOCKS, err)
		}
		if n[0] == 0 {
			return socksRequest{}, &socksError{socksGeneralFailure, "request: empty domain name"}
		}
		addr = make([]byte, n[0])
	default:
		return socksRequest{}, &socksError{socksAtypNotSupported, fmt.Sprintf("request: address type %d not supported", req.Atyp)}
	}
	var port [2]byte
	if _, err := io.ReadFull(r, addr); err != nil {
		return socksRequest{}, fmt.Errorf("%w: request: address: %w", errSOCKS, err)
	}
	if _, err := io.ReadFull(r, port[:]); err != nil {
		return socksRequest{}, fmt.Errorf("%w: request: port: %w", errSOCKS, err)
	}
	req.Port = int(binary.BigEndian.Uint16(port[:]))
	if req.Atyp == socksAtypDomain {
		req.Host = string(addr)
		if err := checkHost(req.Host); err != nil {
			return socksRequest{}, &socksError{socksGeneralFailure, "request: domain name: " + err.Error()}
		}
	} else {
		req.Host = net.IP(addr).String()
	}
	if req.Cmd != socksCmdConnect {
		return req, &socksError{socksCommandNotSupported, fmt.Sprintf("request: command %d not supported (CONNECT only)", req.Cmd)}
	}
	if req.Port == 0 {
		return req, &socksError{socksNotAllowed, "request: port 0"}
	}
	return req, nil
}

// marshal encodes the request as a client sends it.
func (r socksRequest) marshal() []byte {
	b := []byte{socksVersion, r.Cmd, 0, r.Atyp}
	switch r.Atyp {
	case socksAtypIPv4:
		b = append(b, net.ParseIP(r.Host).To4()...)
	case socksAtypIPv6:
		b = append(b, net.ParseIP(r.Host).To16()...)
	default:
		b = append(b, byte(len(r.Host)))
		b = append(b, r.Host...)
	}
	return binary.BigEndian.AppendUint16(b, uint16(r.Port))
}

// socksReply is the reply with code rep and an unspecified bound address.
func socksReply(rep byte) []byte {
	return []byte{socksVersion, rep, 0, socksAtypIPv4, 0, 0, 0, 0, 0, 0}
}
