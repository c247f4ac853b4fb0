package sshclient

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrHostKeyVerification is matched (errors.Is) by every host-key
// refusal: *HostKeyChangedError, *HostKeyUnknownError and
// *HostKeyRevokedError.
var ErrHostKeyVerification = errors.New("sshclient: host key verification failed")

// HostKeyChangedError is a host key that differs from the one in
// known_hosts: possibly a man-in-the-middle attack, always refused.
// Warning returns OpenSSH's warning block, for the terminal.
type HostKeyChangedError struct {
	// Host is the name the key is filed under (see Config.HostKeyName).
	Host string
	// Key is the key the server presented.
	Key ssh.PublicKey
	// Err lists the known keys (Err.Want: file, line, key).
	Err *knownhosts.KeyError
}

func (e *HostKeyChangedError) Error() string {
	msg := fmt.Sprintf("sshclient: host key for %s has changed", e.Host)
	if len(e.Err.Want) > 0 {
		w := e.Err.Want[0]
		msg += fmt.Sprintf(" (offending %s key in %s:%d)", keyTypeName(w.Key), w.Filename, w.Line)
	}
	return msg + ": host key verification failed"
}

// Unwrap returns the *knownhosts.KeyError and ErrHostKeyVerification.
func (e *HostKeyChangedError) Unwrap() []error { return []error{e.Err, ErrHostKeyVerification} }

// Warning is the block OpenSSH prints for a changed host key, with the
// offending line and the ssh-keygen command that removes it.
func (e *HostKeyChangedError) Warning() string {
	var b strings.Builder
	b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
	b.WriteString("@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n")
	b.WriteString("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n")
	b.WriteString("IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n")
	b.WriteString("Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n")
	b.WriteString("It is also possible that a host key has just been changed.\n")
	fmt.Fprintf(&b, "The fingerprint for the %s key sent by the remote host is\n%s.\n", keyTypeName(e.Key), ssh.FingerprintSHA256(e.Key))
	b.WriteString("Please contact your system administrator.\n")
	if len(e.Err.Want) > 0 {
		w := e.Err.Want[0]
		fmt.Fprintf(&b, "Add correct host key in %s to get rid of this message.\n", w.Filename)
		for _, k := range e.Err.Want {
			fmt.Fprintf(&b, "Offending %s key in %s:%d\n", keyTypeName(k.Key), k.Filename, k.Line)
		}
		fmt.Fprintf(&b, "  remove with:\n  ssh-keygen -f %q -R %q\n", w.Filename, e.Host)
	}
	fmt.Fprintf(&b, "Host key for %s has changed and you have requested strict checking.\n", e.Host)
	b.WriteString("Host key verification failed.\n")
	return b.String()
}

// HostKeyUnknownError is a host key seen for the first time and not
// accepted: StrictHostKeyChecking is yes, the user said no, or there was
// no terminal to ask on.
type HostKeyUnknownError struct {
	Host   string
	Key    ssh.PublicKey
	Policy StrictHostKeyChecking
	// Reason says why the key was not accepted.
	Reason string
	// Err is the *knownhosts.KeyError with no known keys.
	Err *knownhosts.KeyError
}

func (e *HostKeyUnknownError) Error() string {
	return fmt.Sprintf("sshclient: no %s host key is known for %s (%s): host key verification failed",
		keyTypeName(e.Key), e.Host, e.Reason)
}

// Unwrap returns the *knownhosts.KeyError and ErrHostKeyVerification.
func (e *HostKeyUnknownError) Unwrap() []error { return []error{e.Err, ErrHostKeyVerification} }

// HostKeyRevokedError is a host key marked @revoked in known_hosts.
type HostKeyRevokedError struct {
	Host string
	Err  *knownhosts.RevokedError
}

func (e *HostKeyRevokedError) Error() string {
	r := e.Err.Revoked
	return fmt.Sprintf("sshclient: the %s host key of %s is revoked (%s:%d): host key verification failed",
		keyTypeName(r.Key), e.Host, r.Filename, r.Line)
}

// Unwrap returns the *knownhosts.RevokedError and ErrHostKeyVerification.
func (e *HostKeyRevokedError) Unwrap() []error { return []error{e.Err, ErrHostKeyVerification} }

// maxHostKeyQuestions bounds how often the first-contact question is
// asked again after an answer that is neither yes, no nor the
// fingerprint.
const maxHostKeyQuestions = 5

// hostKeyChecker verifies host keys against known_hosts files.
type hostKeyChecker struct {
	cfg   *Config
	db    ssh.HostKeyCallback // nil when no file exists
	files []string            // the files that exist, user files first
}

// newHostKeyChecker reads the configured known_hosts files (missing ones
// are skipped; a malformed one is an error naming its line).
func newHostKeyChecker(cfg *Config) (*hostKeyChecker, error) {
	h := &hostKeyChecker{cfg: cfg}
	for _, f := range slices.Concat(cfg.UserKnownHostsFiles, cfg.GlobalKnownHostsFiles) {
		if _, err := os.Stat(f); err == nil {
			h.files = append(h.files, f)
		}
	}
	if len(h.files) > 0 {
		db, err := knownhosts.New(h.files...)
		if err != nil {
			return nil, fmt.Errorf("sshclient: known hosts: %w", err)
		}
		h.db = db
	}
	return h, nil
}

// HostKeyCallback returns the known_hosts verification Dial uses, for
// programs that dial differently: it checks the host key filed under
// the hostname it is called with (host:port; Dial passes
// Config.HostKeyName) against cfg's known_hosts files and, for a first
// contact, follows cfg.StrictHostKeyChecking: ask (through cfg.Prompter),
// accept-new and no record the key in the first UserKnownHostsFiles
// entry, yes refuses. A changed or revoked key is always refused.
func HostKeyCallback(cfg *Config) (ssh.HostKeyCallback, error) {
	h, err := newHostKeyChecker(cfg)
	if err != nil {
		return nil, err
	}
	return h.check, nil
}

// noRemote stands in for the remote address, which the knownhosts
// package insists on parsing but ignores when a host name is given.
var noRemote = &net.TCPAddr{IP: net.IPv4zero, Port: DefaultPort}

// lookup checks key for hostname ("host:port").
func (h *hostKeyChecker) lookup(hostname string, key ssh.PublicKey) error {
	if h.db == nil {
		return &knownhosts.KeyError{}
	}
	return h.db(hostname, noRemote, key)
}

// knownKeys are the keys on file for hostname.
func (h *hostKeyChecker) knownKeys(hostname string) []knownhosts.KnownKey {
	var ke *knownhosts.KeyError
	if errors.As(h.lookup(hostname, probeKey), &ke) {
		return ke.Want
	}
	return nil
}

// probeKey is a key no known_hosts holds: checking it lists the keys on
// file for a host.
var probeKey = func() ssh.PublicKey {
	k, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		panic(err)
	}
	return k
}()

// hostKeyAlgorithms puts the algorithms of the keys on file for hostname
// first, as OpenSSH does, so that a server with several host keys shows
// the one known here rather than one that would look like a change.
func (h *hostKeyChecker) hostKeyAlgorithms(hostname string) []string {
	var algos []string
	for _, k := range h.knownKeys(hostname) {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	for _, a := range defaultHostKeyAlgorithms {
		if !slices.Contains(algos, a) {
			algos = append(algos, a)
		}
	}
	return algos
}

// defaultHostKeyAlgorithms are OpenSSH's preference among plain keys.
var defaultHostKeyAlgorithms = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{keyType}
}

// check is the ssh.HostKeyCallback.
func (h *hostKeyChecker) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	name := knownhosts.Normalize(hostname)
	err := h.lookup(hostname, key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		h.cfg.logf("sshclient: host key for %s found in known hosts: %s %s", name, keyTypeName(key), ssh.FingerprintSHA256(key))
		return nil
	case errors.As(err, &re):
		return &HostKeyRevokedError{Host: name, Err: re}
	case errors.As(err, &ke) && len(ke.Want) > 0:
		return &HostKeyChangedError{Host: name, Key: key, Err: ke}
	case errors.As(err, &ke):
		return h.firstContact(name, remote, key, ke)
	default:
		return fmt.Errorf("sshclient: checking host key of %s: %w", name, err)
	}
}

// firstContact applies StrictHostKeyChecking to a key seen for the first
// time.
func (h *hostKeyChecker) firstContact(name string, remote net.Addr, key ssh.PublicKey, ke *knownhosts.KeyError) error {
	policy := h.cfg.StrictHostKeyChecking
	refuse := func(reason string) error {
		return &HostKeyUnknownError{Host: name, Key: key, Policy: policy, Reason: reason, Err: ke}
	}
	switch policy {
	case StrictYes:
		return refuse("StrictHostKeyChecking is yes")
	case StrictAcceptNew, StrictNo:
		h.record(name, key)
		return nil
	}
	if h.cfg.BatchMode {
		return refuse("BatchMode forbids asking")
	}
	pr := h.cfg.prompter()
	fp := ssh.FingerprintSHA256(key)
	where := "unknown address"
	if remote != nil {
		where = remote.String()
		if _, ok := remote.(*net.TCPAddr); ok {
			where = knownhosts.Normalize(where)
		}
	}
	question := fmt.Sprintf("The authenticity of host '%s (%s)' can't be established.\n%s key fingerprint is %s.\n%s"+
		"Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
		name, where, keyTypeName(key), fp, h.otherNames(name, key))
	for range maxHostKeyQuestions {
		answer, err := pr.Prompt(question, false)
		if err != nil {
			return refuse(fmt.Sprintf("cannot ask: %v", err))
		}
		switch a := strings.TrimSpace(answer); {
		case strings.EqualFold(a, "yes"), a == fp:
			h.record(name, key)
			return nil
		case strings.EqualFold(a, "no"):
			return refuse("not accepted")
		}
		question = "Please type 'yes', 'no' or the fingerprint: "
	}
	return refuse("no clear answer")
}

// otherNames is OpenSSH's note on other names the key is filed under.
func (h *hostKeyChecker) otherNames(name string, key ssh.PublicKey) string {
	want := key.Marshal()
	var lines []string
	for _, f := range h.files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lineNo := 0
		for line := range bytes.Lines(data) {
			lineNo++
			_, hosts, k, _, _, err := ssh.ParseKnownHosts(line)
			if err != nil || k == nil || !bytes.Equal(k.Marshal(), want) {
				continue
			}
			lines = append(lines, fmt.Sprintf("    %s:%d: %s", f, lineNo, strings.Join(hosts, ",")))
		}
	}
	if len(lines) == 0 {
		return "This key is not known by any other names.\n"
	}
	return "This host key is known by the following other names/addresses:\n" + strings.Join(lines, "\n") + "\n"
}

// record appends the key to the first user known_hosts file; failing to
// is reported but not fatal, as in OpenSSH.
func (h *hostKeyChecker) record(name string, key ssh.PublicKey) {
	if len(h.cfg.UserKnownHostsFiles) == 0 {
		h.cfg.warnf("Warning: no UserKnownHostsFile; the %s host key of %s is not recorded.", keyTypeName(key), name)
		return
	}
	file := h.cfg.UserKnownHostsFiles[0]
	host := name
	if h.cfg.HashKnownHosts {
		host = knownhosts.HashHostname(name)
	}
	if err := appendKnownHost(file, knownhosts.Line([]string{host}, key)); err != nil {
		h.cfg.warnf("Failed to add the host to the list of known hosts (%s): %v", file, err)
		return
	}
	h.cfg.warnf("Warning: Permanently added '%s' (%s) to the list of known hosts.", name, keyTypeName(key))
}

// appendKnownHost appends line to file, creating it (mode 0600) and its
// directory (0700) if needed, on a line of its own.
func appendKnownHost(file, line string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	prefix := ""
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			prefix = "\n"
		}
	}
	if _, err := f.WriteString(prefix + line + "\n"); err != nil {
		return err
	}
	return f.Close()
}

// keyTypeName is OpenSSH's display name of a key type: ED25519, ECDSA,
// RSA, ...
func keyTypeName(k ssh.PublicKey) string {
	t := k.Type()
	cert := ""
	if c, ok := k.(*ssh.Certificate); ok {
		t, cert = c.Key.Type(), "-CERT"
	}
	switch {
	case t == ssh.KeyAlgoED25519:
		t = "ED25519"
	case strings.HasPrefix(t, "ecdsa-sha2-"):
		t = "ECDSA"
	case t == ssh.KeyAlgoRSA:
		t = "RSA"
	case t == "ssh-dss":
		t = "DSA"
	case t == ssh.KeyAlgoSKED25519:
		t = "ED25519-SK"
	case t == ssh.KeyAlgoSKECDSA256:
		t = "ECDSA-SK"
	}
	return t + cert
}
