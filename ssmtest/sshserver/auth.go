package sshserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Permission extensions set at authentication and read by the handlers.
const (
	extFingerprint = "pubkey-fp"
	extNoPTY       = "no-pty"
	extNoForward   = "no-port-forwarding"
)

// errNotAuthorized is what a client's key check fails with; the client
// only learns that the key was refused.
var errNotAuthorized = errors.New("sshserver: key not authorized")

// checkPublicKey is the ssh.ServerConfig PublicKeyCallback. It may be
// called for keys the client only offers; the Permissions it returns are
// tied by x/crypto/ssh to the key actually used, so nothing here records
// state.
func (s *Server) checkPublicKey(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	user := md.User()
	if len(s.cfg.Users) > 0 && !slices.Contains(s.cfg.Users, user) {
		return nil, fmt.Errorf("sshserver: user %q not allowed", user)
	}
	var lines [][]byte
	if s.cfg.AuthorizedKeysFile != "" {
		data, err := os.ReadFile(s.cfg.AuthorizedKeysFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			s.logf("sshserver: read authorized keys: %v", err)
		}
		lines = append(lines, bytes.Split(data, []byte("\n"))...)
	}
	if s.cfg.AuthorizedKeys != nil {
		for _, l := range s.cfg.AuthorizedKeys(user) {
			lines = append(lines, []byte(l))
		}
	}
	want := key.Marshal()
	for _, line := range lines {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		ak, _, options, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil || !bytes.Equal(ak.Marshal(), want) {
			continue
		}
		perms, err := keyPermissions(options)
		if err != nil {
			s.logf("sshserver: key %s skipped: %v", ssh.FingerprintSHA256(key), err)
			continue
		}
		perms.Extensions[extFingerprint] = ssh.FingerprintSHA256(key)
		return perms, nil
	}
	return nil, errNotAuthorized
}

// keyPermissions turns authorized_keys options into permissions. Options
// that only forbid features this server lacks (agent and X11 forwarding,
// user rc files) are accepted; no-pty, no-port-forwarding and restrict are
// enforced; anything else (command=, from=, permitopen=, expiry-time=, …)
// would need enforcing to be safe, so a key carrying it is refused.
func keyPermissions(options []string) (*ssh.Permissions, error) {
	perms := &ssh.Permissions{Extensions: map[string]string{}}
	for _, opt := range options {
		switch strings.ToLower(opt) {
		case "no-agent-forwarding", "no-x11-forwarding", "no-user-rc":
		case "no-pty":
			perms.Extensions[extNoPTY] = ""
		case "no-port-forwarding":
			perms.Extensions[extNoForward] = ""
		case "restrict":
			perms.Extensions[extNoPTY] = ""
			perms.Extensions[extNoForward] = ""
		default:
			name, _, _ := strings.Cut(opt, "=")
			return nil, fmt.Errorf("unsupported option %q", name)
		}
	}
	return perms, nil
}

// allowed reports whether the connection's key permits a feature.
func allowed(conn *ssh.ServerConn, ext string) bool {
	if conn.Permissions == nil {
		return true
	}
	_, denied := conn.Permissions.Extensions[ext]
	return !denied
}
