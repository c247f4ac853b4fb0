package proxy_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/internal/e2etest"
)

// pipeConn is a net.Conn over a subprocess's stdin and stdout.
type pipeConn struct {
	io.Reader
	io.WriteCloser
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "ssmproxy" }

func (pipeConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (pipeConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (pipeConn) SetDeadline(time.Time) error      { return nil }
func (pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (pipeConn) SetWriteDeadline(time.Time) error { return nil }
func (c pipeConn) Close() error                   { return c.WriteCloser.Close() }
func (c pipeConn) Write(p []byte) (int, error)    { return c.WriteCloser.Write(p) }

// TestStdoutCarriesOnlySessionBytes runs ssmproxy -v itself, speaks SSH
// over its stdin and stdout, records every byte of stdout and checks that
// they are exactly sshd's banner line followed by whole SSH binary packets,
// to the last byte, while the diagnostics went to stderr. The client is
// made to use an encrypt-then-MAC algorithm, so that packet lengths stay
// readable after the key exchange.
func TestStdoutCarriesOnlySessionBytes(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{})
	cmd := exec.Command(e.Proxy, "-v", e.Instance, "22")
	cmd.Env = e.Environ()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr e2etest.Buffer
	cmd.Stderr = &stderr
	p := e2etest.StartProc(t, cmd)

	var recorded bytes.Buffer
	conn := pipeConn{Reader: io.TeeReader(stdout, &recorded), WriteCloser: stdin}
	cfg := e.Sshd.ClientConfig()
	cfg.Ciphers = []string{"aes128-ctr"}
	cfg.MACs = []string{"hmac-sha2-256-etm@openssh.com"}
	cc, chans, reqs, err := ssh.NewClientConn(conn, e.Instance, cfg)
	if err != nil {
		t.Fatalf("SSH over ssmproxy's stdio: %v\nssmproxy's stderr:\n%s", err, stderr.String())
	}
	client := ssh.NewClient(cc, chans, reqs)
	s, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Output("echo over stdio")
	if err != nil || string(out) != "over stdio\n" {
		t.Fatalf("remote command: %q, %v", out, err)
	}
	client.Close() // closes stdin: ssmproxy ends the session
	rest, err := io.ReadAll(io.TeeReader(stdout, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	recorded.Write(rest)
	if code := p.Wait(t, e2etest.DefaultTimeout); code != 0 {
		t.Errorf("ssmproxy exited %d after stdin closed; stderr:\n%s", code, stderr.String())
	}

	if err := checkSSHStream(recorded.Bytes()); err != nil {
		t.Errorf("stdout is not pure SSH: %v\nits first bytes: %q", err, recorded.Bytes()[:min(recorded.Len(), 80)])
	}
	// The check itself must catch a diagnostic in the stream.
	rec := recorded.Bytes()
	banner := bytes.Index(rec, []byte("\r\n")) + 2
	for _, bad := range [][]byte{
		append(bytes.Clone(rec), "ssmproxy: session closed\n"...),
		append(append(bytes.Clone(rec[:banner]), "ssmproxy: session open\n"...), rec[banner:]...),
	} {
		if checkSSHStream(bad) == nil {
			t.Errorf("checkSSHStream accepts a stream with a diagnostic line in it")
		}
	}
	if !strings.HasPrefix(recorded.String(), "SSH-2.0-") {
		t.Errorf("stdout starts with %q, want sshd's banner", recorded.Bytes()[:min(recorded.Len(), 20)])
	}
	if !strings.Contains(stderr.String(), "ssmproxy: session ") {
		t.Errorf("-v printed no diagnostics to stderr: %q", stderr.String())
	}
	waitSessionsEnded(t, e.Server, 1)
}

// checkSSHStream checks that b is an SSH server's output: one "SSH-2.0-"
// line, then binary packets (RFC 4253 section 6), cleartext until the
// server's NEWKEYS and followed by a 32-byte MAC after it (with
// hmac-sha2-256-etm the length stays in the clear), ending exactly at the
// end of b.
func checkSSHStream(b []byte) error {
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(line, []byte("SSH-2.0-")) {
		return fmt.Errorf("no SSH-2.0 banner line")
	}
	const msgNewKeys = 21
	macLen, packets := 0, 0
	for len(rest) > 0 {
		if len(rest) < 6 {
			return fmt.Errorf("%d stray bytes after packet %d", len(rest), packets)
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n < 5 || n > 256<<10 {
			return fmt.Errorf("packet %d: implausible length %d", packets+1, n)
		}
		size := 4 + n + macLen
		if size > len(rest) {
			return fmt.Errorf("packet %d: %d bytes overrun the %d left", packets+1, size, len(rest))
		}
		// NEWKEYS itself travels under the old (null) keys; the packets
		// after it carry a MAC.
		newKeys := macLen == 0 && rest[5] == msgNewKeys
		rest = rest[size:]
		packets++
		if newKeys {
			macLen = 32
		}
	}
	if macLen == 0 {
		return fmt.Errorf("no NEWKEYS among %d packets", packets)
	}
	return nil
}
