package forward

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultBindAddress is where a forwarding listens when its spec names no
// bind address: the IPv4 loopback address, as the official plugin's
// "localhost" means in practice.
const DefaultBindAddress = "127.0.0.1"

// Spec is one forwarding as the user asks for it: -L or -D.
//
//	-L [bind:]lport:port        Host "", Port: the instance's own port
//	                            (AWS-StartPortForwardingSession)
//	-L [bind:]lport:host:port   Host, Port: a host the instance reaches
//	                            (AWS-StartPortForwardingSessionToRemoteHost)
//	-D [bind:]lport             Dynamic: a SOCKS5 server; every CONNECT
//	                            names its own host and port
//
// IPv6 addresses go in brackets ("[::1]:8080:80"), and "/" may replace
// ":" as OpenSSH allows. An empty bind address (":8080:80") or "*" means
// every interface, as in OpenSSH; no bind address means
// DefaultBindAddress.
type Spec struct {
	// Dynamic makes the forwarding a SOCKS5 server (-D); Host and Port are
	// then unused.
	Dynamic bool
	// BindAddress is where to listen: "" for DefaultBindAddress, "*" for
	// every interface, else an address or host name.
	BindAddress string
	// BindPort is the local port; 0 picks a free one.
	BindPort int
	// Host is the destination host as the instance resolves it; "" is the
	// instance itself.
	Host string
	// Port is the destination port (1..65535) unless Dynamic.
	Port int
}

// ListenAddress is the address to listen on, as net.Listen takes it.
func (s Spec) ListenAddress() string {
	host := s.BindAddress
	switch host {
	case "":
		host = DefaultBindAddress
	case "*":
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(s.BindPort))
}

// Destination is "host:port" for a forwarding to a remote host, "port" for
// one to the instance itself, and "SOCKS5" for a dynamic one.
func (s Spec) Destination() string {
	switch {
	case s.Dynamic:
		return "SOCKS5"
	case s.Host == "":
		return strconv.Itoa(s.Port)
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// String returns the spec in the form ParseLocal or ParseDynamic takes.
func (s Spec) String() string {
	var b strings.Builder
	if s.BindAddress != "" {
		b.WriteString(bracket(s.BindAddress))
		b.WriteByte(':')
	}
	b.WriteString(strconv.Itoa(s.BindPort))
	if s.Dynamic {
		return b.String()
	}
	if s.Host != "" {
		b.WriteByte(':')
		b.WriteString(bracket(s.Host))
	}
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(s.Port))
	return b.String()
}

func bracket(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// ParseLocal parses an -L argument: "[bind:]lport:port" or
// "[bind:]lport:host:port". With three fields, a first field that is a
// number is the local port ("8080:db.internal:5432"), anything else a
// bind address ("127.0.0.2:8080:80").
func ParseLocal(spec string) (Spec, error) {
	s, err := parseLocal(spec)
	if err != nil {
		return Spec{}, fmt.Errorf("forward: bad -L %q: %w", spec, err)
	}
	return s, nil
}

func parseLocal(spec string) (Spec, error) {
	f, err := splitSpec(spec)
	if err != nil {
		return Spec{}, err
	}
	var s Spec
	var lport, host, port string
	switch len(f) {
	case 2:
		lport, port = f[0], f[1]
	case 3:
		if isNumber(f[0]) {
			lport, host, port = f[0], f[1], f[2]
			if host == "" {
				return Spec{}, errors.New("empty host")
			}
		} else {
			s.BindAddress, lport, port = f[0], f[1], f[2]
		}
	case 4:
		s.BindAddress, lport, host, port = f[0], f[1], f[2], f[3]
		if host == "" {
			return Spec{}, errors.New("empty host")
		}
	default:
		return Spec{}, errors.New("want [bind_address:]port:port or [bind_address:]port:host:hostport")
	}
	if err := checkBind(&s, len(f) == 4 || len(f) == 3 && !isNumber(f[0])); err != nil {
		return Spec{}, err
	}
	if s.BindPort, err = parsePort(lport, true); err != nil {
		return Spec{}, fmt.Errorf("local port: %w", err)
	}
	if s.Port, err = parsePort(port, false); err != nil {
		return Spec{}, fmt.Errorf("destination port: %w", err)
	}
	if host != "" {
		if err := checkHost(host); err != nil {
			return Spec{}, fmt.Errorf("host: %w", err)
		}
		s.Host = host
	}
	return s, nil
}

// ParseDynamic parses a -D argument: "[bind:]port".
func ParseDynamic(spec string) (Spec, error) {
	s, err := parseDynamic(spec)
	if err != nil {
		return Spec{}, fmt.Errorf("forward: bad -D %q: %w", spec, err)
	}
	return s, nil
}

func parseDynamic(spec string) (Spec, error) {
	f, err := splitSpec(spec)
	if err != nil {
		return Spec{}, err
	}
	s := Spec{Dynamic: true}
	var lport string
	switch len(f) {
	case 1:
		lport = f[0]
	case 2:
		s.BindAddress, lport = f[0], f[1]
	default:
		return Spec{}, errors.New("want [bind_address:]port")
	}
	if err := checkBind(&s, len(f) == 2); err != nil {
		return Spec{}, err
	}
	if s.BindPort, err = parsePort(lport, true); err != nil {
		return Spec{}, fmt.Errorf("local port: %w", err)
	}
	return s, nil
}

// checkBind validates s.BindAddress; given says the spec had a bind field,
// in which case an empty one means every interface.
func checkBind(s *Spec, given bool) error {
	if !given {
		return nil
	}
	if s.BindAddress == "" {
		s.BindAddress = "*"
		return nil
	}
	if s.BindAddress == "*" {
		return nil
	}
	if err := checkHost(s.BindAddress); err != nil {
		return fmt.Errorf("bind address: %w", err)
	}
	return nil
}

// checkHost accepts a host name or an IP address: printable, no spaces,
// at most 253 bytes (DNS's limit).
func checkHost(h string) error {
	if h == "" {
		return errors.New("empty")
	}
	if len(h) > 253 {
		return errors.New("longer than 253 bytes")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`[]/\"'`, c) >= 0 {
			return fmt.Errorf("%q is not a host name or address", h)
		}
	}
	if strings.Contains(h, ":") && net.ParseIP(h) == nil {
		return fmt.Errorf("%q is not an IPv6 address", h)
	}
	return nil
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parsePort parses a decimal port; zero is allowed only for local ports.
func parsePort(s string, zeroOK bool) (int, error) {
	if !isNumber(s) || len(s) > 5 {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	n, _ := strconv.Atoi(s)
	if n > 65535 || n == 0 && !zeroOK {
		return 0, fmt.Errorf("%d is out of range (1-65535)", n)
	}
	return n, nil
}

// splitSpec splits a spec at ':' or '/', keeping bracketed IPv6 addresses
// whole (without their brackets).
func splitSpec(spec string) ([]string, error) {
	if spec == "" {
		return nil, errors.New("empty")
	}
	var fields []string
	for rest := spec; ; {
		var field string
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, errors.New("missing ]")
			}
			field, rest = rest[1:end], rest[end+1:]
			if field == "" {
				return nil, errors.New("empty []")
			}
			if rest != "" && rest[0] != ':' && rest[0] != '/' {
				return nil, errors.New("] not followed by : or /")
			}
		} else {
			end := strings.IndexAny(rest, ":/")
			if end < 0 {
				end = len(rest)
			}
			field, rest = rest[:end], rest[end:]
			if strings.ContainsAny(field, "[]") {
				return nil, errors.New("brackets inside a field")
			}
		}
		fields = append(fields, field)
		if rest == "" {
			return fields, nil
		}
		rest = rest[1:] // the separator
		if len(fields) == 4 {
			return nil, errors.New("too many fields")
		}
		if rest == "" {
			return nil, errors.New("ends with a separator")
		}
	}
}
