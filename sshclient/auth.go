package sshclient

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AuthError is a login the server refused after every method was tried,
// ssh's "Permission denied". Problems says which keys could not even be
// offered (unreadable files, declined passphrases).
type AuthError struct {
	User, Host string
	// Methods are the methods the server last said it accepts.
	Methods []string
	// Offered describes the keys offered, in order.
	Offered []string
	// Problems are the keys and prompts that failed on this side.
	Problems []error
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("sshclient: %s@%s: permission denied (%s)", e.User, e.Host, strings.Join(e.Methods, ","))
	if len(e.Offered) == 0 && len(e.Problems) == 0 {
		msg += "; no keys to offer"
	}
	for _, p := range e.Problems {
		msg += "; " + p.Error()
	}
	return msg
}

// KeyFileError is an identity file that could not be used.
type KeyFileError struct {
	File string
	Err  error
}

func (e *KeyFileError) Error() string { return "identity file " + e.File + ": " + e.Err.Error() }
func (e *KeyFileError) Unwrap() error { return e.Err }

// Sentinels for KeyFileError.Err.
var (
	// ErrPassphraseDeclined: no passphrase was entered (or none could be
	// asked for), so the key was skipped, as OpenSSH skips it.
	ErrPassphraseDeclined = errors.New("no passphrase given; key skipped")
	// ErrWrongPassphrase: every attempt had a wrong passphrase.
	ErrWrongPassphrase = errors.New("incorrect passphrase")
)

// candidate is one key to offer.
type candidate struct {
	signer ssh.Signer    // nil until decrypted, for encrypted files
	pub    ssh.PublicKey // nil for an encrypted PEM file without .pub
	file   string        // "" for agent and extra keys
	data   []byte        // the encrypted private key file
	label  string        // for Offered
}

// authPlan offers keys in OpenSSH's order and then the interactive
// methods, through ssh.ClientConfig.AuthCallback.
type authPlan struct {
	cfg       *Config
	agentConn net.Conn
	cands     []*candidate
	cursor    int // next candidate to offer
	offered   []string
	problems  []error
	kbdTries  int
	passTries int
	user      string
}

// newAuthPlan gathers the keys: cfg.ExtraSigners; then agent keys that
// belong to an identity file; then the agent's other keys (unless
// IdentitiesOnly); then the identity files the agent does not hold, as
// OpenSSH orders them.
func newAuthPlan(cfg *Config, user string) *authPlan {
	p := &authPlan{cfg: cfg, user: user}
	for _, s := range cfg.ExtraSigners {
		p.cands = append(p.cands, &candidate{signer: s, pub: s.PublicKey(), label: "extra " + describeKey(s.PublicKey())})
	}
	if !slices.Contains(cfg.authMethods(), "publickey") {
		return p
	}
	files := p.loadFiles()
	var preferred, agentOnly []*candidate
	for _, s := range p.agentSigners() {
		pub := s.PublicKey()
		i := slices.IndexFunc(files, func(c *candidate) bool { return c.pub != nil && keysEqual(c.pub, pub) })
		if i >= 0 {
			preferred = append(preferred, &candidate{signer: s, pub: pub, file: files[i].file, label: files[i].file + " (agent) " + describeKey(pub)})
			files = slices.Delete(files, i, i+1)
			continue
		}
		if !cfg.IdentitiesOnly {
			agentOnly = append(agentOnly, &candidate{signer: s, pub: pub, label: "agent " + describeKey(pub)})
		}
	}
	p.cands = append(p.cands, preferred...)
	p.cands = append(p.cands, agentOnly...)
	for _, f := range files {
		if f.signer == nil && f.data == nil {
			continue // a public key only, for choosing an agent key
		}
		if f.pub != nil && slices.ContainsFunc(cfg.ExtraSigners, func(s ssh.Signer) bool { return keysEqual(s.PublicKey(), f.pub) }) {
			continue // offered already, e.g. decrypted by an earlier login
		}
		p.cands = append(p.cands, f)
	}
	return p
}

func (p *authPlan) close() {
	if p.agentConn != nil {
		p.agentConn.Close()
	}
}

// agentSigners connects to the agent and lists its keys; an unreachable
// agent is not an error.
func (p *authPlan) agentSigners() []ssh.Signer {
	sock := p.cfg.IdentityAgent
	if sock == "none" {
		return nil
	}
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock == "" {
		return nil
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		p.cfg.logf("sshclient: agent %s: %v", sock, err)
		return nil
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		p.cfg.logf("sshclient: agent %s: listing keys: %v", sock, err)
		return nil
	}
	p.agentConn = conn
	p.cfg.logf("sshclient: agent %s holds %d keys", sock, len(signers))
	return signers
}

// loadFiles reads the identity files. Unencrypted keys become signers,
// encrypted ones wait for their turn (their public key comes from the
// OpenSSH file itself or from the .pub file beside it), public-key files
// only select agent keys. Unreadable files are noted and skipped.
func (p *authPlan) loadFiles() []*candidate {
	var out []*candidate
	for _, file := range p.cfg.IdentityFiles {
		data, err := os.ReadFile(file)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p.cfg.DefaultIdentities {
				continue
			}
			p.cfg.warnf("Warning: Identity file %s not accessible: %v.", file, unwrapPathError(err))
			p.problems = append(p.problems, &KeyFileError{File: file, Err: unwrapPathError(err)})
			continue
		}
		c, err := parseIdentity(file, data)
		if err != nil {
			p.cfg.warnf("Load key %q: %v", file, err)
			p.problems = append(p.problems, &KeyFileError{File: file, Err: err})
			continue
		}
		out = append(out, c)
	}
	return out
}

// parseIdentity parses a private key file (PEM: PKCS#1, PKCS#8, SEC 1,
// legacy encrypted PEM; or OpenSSH format), or a public key file.
func parseIdentity(file string, data []byte) (*candidate, error) {
	c := &candidate{file: file}
	key, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		s, err := ssh.NewSignerFromKey(key)
		if err != nil {
			return nil, err
		}
		c.signer, c.pub = s, s.PublicKey()
	case errors.As(err, &missing):
		c.data, c.pub = data, missing.PublicKey
		if c.pub == nil {
			c.pub = readPublicKeyFile(file + ".pub")
		}
	default:
		if bytes.Contains(data, []byte("ENCRYPTED PRIVATE KEY")) {
			return nil, fmt.Errorf("encrypted PKCS#8 keys are not supported; convert it with: ssh-keygen -p -f %s", file)
		}
		if pub, _, _, _, perr := ssh.ParseAuthorizedKey(data); perr == nil {
			c.pub = pub
			return c, nil
		}
		return nil, fmt.Errorf("invalid format: %w", err)
	}
	c.label = file + " " + describeKey(c.pub)
	return c, nil
}

func readPublicKeyFile(path string) ssh.PublicKey {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil
	}
	return pub
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describeKey is "ED25519 SHA256:..." (or "encrypted key" when unknown).
func describeKey(pub ssh.PublicKey) string {
	if pub == nil {
		return "(public key unknown until decrypted)"
	}
	return keyTypeName(pub) + " " + ssh.FingerprintSHA256(pub)
}

func keysEqual(a, b ssh.PublicKey) bool { return bytes.Equal(a.Marshal(), b.Marshal()) }

// callback is the ssh.ClientConfig.AuthCallback: the next round of keys,
// then keyboard-interactive, then password, each while the server allows
// it; when nothing is left the login fails with an *AuthError.
func (p *authPlan) callback(ctx *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	allowed := ctx.AllowedMethods
	n := p.cfg.NumberOfPasswordPrompts
	if n <= 0 {
		n = 3
	}
	for _, m := range p.cfg.authMethods() {
		if !slices.Contains(allowed, m) {
			continue
		}
		switch m {
		case "publickey":
			if km := p.nextKeys(); km != nil {
				return km, nil
			}
		case "keyboard-interactive":
			if p.kbdTries < n && !p.cfg.BatchMode {
				p.kbdTries++
				return ssh.KeyboardInteractive(p.challenge), nil
			}
		case "password":
			if p.passTries < n && !p.cfg.BatchMode {
				p.passTries++
				return ssh.PasswordCallback(p.password), nil
			}
		}
	}
	return nil, &AuthError{User: p.user, Host: p.cfg.HostName, Methods: allowed, Offered: p.offered, Problems: p.problems}
}

// nextKeys returns a publickey method offering the candidates from the
// cursor up to the next encrypted key whose public key is unknown (which
// must be decrypted, and so asked for, before it can be offered).
func (p *authPlan) nextKeys() ssh.AuthMethod {
	for p.cursor < len(p.cands) && p.cands[p.cursor].pub == nil {
		c := p.cands[p.cursor]
		if err := p.decrypt(c); err != nil {
			p.cursor++
			continue
		}
	}
	if p.cursor >= len(p.cands) {
		return nil
	}
	end := p.cursor + 1
	for end < len(p.cands) && p.cands[end].pub != nil {
		end++
	}
	var signers []ssh.Signer
	for i := p.cursor; i < end; i++ {
		c := p.cands[i]
		p.offered = append(p.offered, c.label)
		if c.signer != nil {
			signers = append(signers, c.signer)
		} else {
			signers = append(signers, &lazySigner{plan: p, index: i})
		}
	}
	p.cfg.logf("sshclient: offering %d keys: %s", len(signers), strings.Join(p.offered[len(p.offered)-len(signers):], ", "))
	// Unless a lazy key fails (and moves the cursor just past itself),
	// this round uses up every key in it.
	p.cursor = end
	return ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return signers, nil })
}

// decrypt asks for c's passphrase, up to NumberOfPasswordPrompts times as
// OpenSSH does; an empty answer skips the key.
func (p *authPlan) decrypt(c *candidate) error {
	if c.signer != nil {
		return nil
	}
	tries := p.cfg.NumberOfPasswordPrompts
	if tries <= 0 {
		tries = 3
	}
	pr := p.cfg.prompter()
	var err error
	for range tries {
		var pass string
		pass, err = pr.Prompt(fmt.Sprintf("Enter passphrase for key '%s': ", c.file), true)
		if err != nil || pass == "" {
			if err != nil {
				p.cfg.logf("sshclient: passphrase for %s: %v", c.file, err)
			}
			err = ErrPassphraseDeclined
			break
		}
		var key any
		key, err = ssh.ParseRawPrivateKeyWithPassphrase(c.data, []byte(pass))
		if err == nil {
			s, serr := ssh.NewSignerFromKey(key)
			if serr != nil {
				err = serr
				break
			}
			if c.pub != nil && !keysEqual(c.pub, s.PublicKey()) {
				err = fmt.Errorf("the key does not match its public key %s.pub", c.file)
				break
			}
			c.signer, c.pub = s, s.PublicKey()
			c.label = c.file + " " + describeKey(c.pub)
			if p.cfg.KeyDecrypted != nil {
				p.cfg.KeyDecrypted(c.file, s)
			}
			return nil
		}
		if !isWrongPassphrase(err) && !isLegacyEncrypted(c.data) {
			break
		}
		err = ErrWrongPassphrase
	}
	kerr := &KeyFileError{File: c.file, Err: err}
	p.problems = append(p.problems, kerr)
	return kerr
}

// isLegacyEncrypted reports a PEM block with "Proc-Type: 4,ENCRYPTED".
// Its encryption has no integrity check: a wrong passphrase passes the
// padding check now and then and shows only as garbage, so for these any
// failure after decryption means a wrong passphrase.
func isLegacyEncrypted(data []byte) bool {
	block, _ := pem.Decode(data)
	return block != nil && strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED")
}

func isWrongPassphrase(err error) bool {
	return err != nil && strings.Contains(err.Error(), "decryption password incorrect")
}

// lazySigner is an encrypted key whose public key is known: it is offered
// first and decrypted (the passphrase asked for) only when the server
// accepts it, as OpenSSH does.
type lazySigner struct {
	plan  *authPlan
	index int
}

func (l *lazySigner) PublicKey() ssh.PublicKey { return l.plan.cands[l.index].pub }

func (l *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	return l.SignWithAlgorithm(rand, data, "")
}

func (l *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	c := l.plan.cands[l.index]
	if err := l.plan.decrypt(c); err != nil {
		// End this round; the next one starts after this key.
		l.plan.cursor = l.index + 1
		return nil, err
	}
	if as, ok := c.signer.(ssh.AlgorithmSigner); ok && algorithm != "" {
		return as.SignWithAlgorithm(rand, data, algorithm)
	}
	return c.signer.Sign(rand, data)
}

// challenge answers keyboard-interactive questions through the Prompter.
func (p *authPlan) challenge(name, instruction string, questions []string, echos []bool) ([]string, error) {
	pr := p.cfg.prompter()
	header := strings.TrimSpace(strings.Join([]string{name, instruction}, "\n"))
	answers := make([]string, len(questions))
	for i, q := range questions {
		msg := q
		if i == 0 && header != "" {
			msg = header + "\n" + q
		}
		a, err := pr.Prompt(msg, !echos[i])
		if err != nil {
			return nil, fmt.Errorf("sshclient: keyboard-interactive: %w", err)
		}
		answers[i] = a
	}
	return answers, nil
}

// password asks for the password as ssh does.
func (p *authPlan) password() (string, error) {
	pw, err := p.cfg.prompter().Prompt(fmt.Sprintf("%s@%s's password: ", p.user, p.cfg.HostName), true)
	if err != nil {
		return "", fmt.Errorf("sshclient: password: %w", err)
	}
	return pw, nil
}
