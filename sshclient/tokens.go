package sshclient

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// tokens are the values of OpenSSH's percent tokens (ssh_config(5),
// TOKENS) for one connection.
type tokens struct {
	home      string // %d, and ~
	localUser string // %u
	uid       int    // %i
	localHost string // %l; %L is its first label
	host      string // %h: the host name after HostName
	original  string // %n: the host as given
	port      int    // %p
	user      string // %r
	alias     string // %k: HostKeyAlias, else %n
}

// tokenSets name the tokens each keyword accepts, as OpenSSH 9 does.
const (
	tokensHostName = "%h"
	tokensFile     = "%CdhikLlnpru" // IdentityFile, UserKnownHostsFile, ProxyCommand
)

// expand replaces %x tokens allowed by the set, and "%%" by "%". An
// unknown or disallowed token is an error, as it is for OpenSSH.
func (t *tokens) expand(s, allowed string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("%q ends in a lone %%", s)
		}
		i++
		k := s[i]
		if k == '%' {
			b.WriteByte('%')
			continue
		}
		if !strings.ContainsRune(allowed[1:], rune(k)) {
			return "", fmt.Errorf("%q: unknown token %%%c", s, k)
		}
		b.WriteString(t.value(k))
	}
	return b.String(), nil
}

func (t *tokens) value(k byte) string {
	switch k {
	case 'C':
		// OpenSSH hashes %l%h%p%r%j; there is no ProxyJump here, so %j
		// is empty.
		sum := sha1.Sum([]byte(t.localHost + t.host + strconv.Itoa(t.port) + t.user))
		return hex.EncodeToString(sum[:])
	case 'd':
		return t.home
	case 'h':
		return t.host
	case 'i':
		return strconv.Itoa(t.uid)
	case 'k':
		return t.alias
	case 'L':
		short, _, _ := strings.Cut(t.localHost, ".")
		return short
	case 'l':
		return t.localHost
	case 'n':
		return t.original
	case 'p':
		return strconv.Itoa(t.port)
	case 'r':
		return t.user
	case 'u':
		return t.localUser
	}
	return ""
}

// expandEnv replaces ${NAME} with the environment variable NAME; an unset
// variable is an error, as it is for OpenSSH.
func expandEnv(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("%q: unterminated ${", s)
		}
		name := s[i+2 : i+j]
		v, ok := getenv(name)
		if !ok {
			return "", fmt.Errorf("%q: environment variable %s is not set", s, name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

// expandTilde replaces a leading "~" or "~/" with home and "~name/" with
// that user's home directory.
func expandTilde(s, home string) (string, error) {
	if !strings.HasPrefix(s, "~") {
		return s, nil
	}
	name, rest, hasSlash := strings.Cut(s[1:], "/")
	dir := home
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("%q: %w", s, err)
		}
		dir = u.HomeDir
	}
	if !hasSlash {
		return dir, nil
	}
	return filepath.Join(dir, rest), nil
}

// expandPath applies OpenSSH's expansion of file names: ~, then percent
// tokens, then ${VAR}.
func (t *tokens) expandPath(s string, getenv func(string) (string, bool)) (string, error) {
	s, err := expandTilde(s, t.home)
	if err != nil {
		return "", err
	}
	if s, err = t.expand(s, tokensFile); err != nil {
		return "", err
	}
	return expandEnv(s, getenv)
}
