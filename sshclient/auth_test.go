package sshclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/ssmssh/ssmssh/internal/sshdtest"
)

// keyFile is a private key file written for a test.
type keyFile struct {
	name       string
	path       string
	pub        ssh.PublicKey
	passphrase string // "" for unencrypted keys
}

func writeKeyFile(t *testing.T, dir, name string, block *pem.Block, pub ssh.PublicKey, passphrase string) keyFile {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile{name: name, path: path, pub: pub, passphrase: passphrase}
}

// goKeys writes RSA, ECDSA and Ed25519 keys in every format x/crypto and
// the standard library produce, and encrypted ones.
func goKeys(t *testing.T, dir string) []keyFile {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pubOf := func(k crypto.Signer) ssh.PublicKey {
		p, err := ssh.NewPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var out []keyFile
	for _, k := range []struct {
		name string
		key  crypto.Signer
	}{{"rsa", rsaKey}, {"ecdsa", ecKey}, {"ed25519", edKey}} {
		openssh, err := ssh.MarshalPrivateKey(k.key, "go "+k.name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, writeKeyFile(t, dir, "go_"+k.name+"_openssh", openssh, pubOf(k.key), ""))
		enc, err := ssh.MarshalPrivateKeyWithPassphrase(k.key, "go "+k.name, []byte("secret "+k.name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, writeKeyFile(t, dir, "go_"+k.name+"_openssh_encrypted", enc, pubOf(k.key), "secret "+k.name))
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, writeKeyFile(t, dir, "go_"+k.name+"_pkcs8", &pem.Block{Type: "PRIVATE KEY", Bytes: der}, pubOf(k.key), ""))
	}
	out = append(out, writeKeyFile(t, dir, "go_rsa_pkcs1",
		&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}, pubOf(rsaKey), ""))
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, writeKeyFile(t, dir, "go_ecdsa_sec1", &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}, pubOf(ecKey), ""))
	//lint:ignore SA1019 legacy encrypted PEM is what old keys on disk look like.
	legacy, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), []byte("legacy"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	// Without a .pub file, its public key is unknown until decrypted.
	out = append(out, writeKeyFile(t, dir, "go_rsa_pem_encrypted_nopub", legacy, pubOf(rsaKey), "legacy"))
	return out
}

// keygenKeys writes keys with the real ssh-keygen (nil when it is not
// installed).
func keygenKeys(t *testing.T, dir string) []keyFile {
	t.Helper()
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Log("ssh-keygen not installed; only keys made with x/crypto are tested")
		return nil
	}
	var out []keyFile
	for _, k := range []struct {
		name, typ, format, pass string
	}{
		{"rsa", "rsa", "", ""},
		{"ecdsa", "ecdsa", "", ""},
		{"ed25519", "ed25519", "", ""},
		{"rsa_pem", "rsa", "PEM", ""},
		{"ecdsa_pem", "ecdsa", "PEM", ""},
		{"rsa_pkcs8", "rsa", "PKCS8", ""},
		{"ecdsa_pkcs8", "ecdsa", "PKCS8", ""},
		{"rsa_encrypted", "rsa", "", "pass rsa"},
		{"ecdsa_encrypted", "ecdsa", "", "pass ecdsa"},
		{"ed25519_encrypted", "ed25519", "", "pass ed25519"},
		{"rsa_pem_encrypted", "rsa", "PEM", "pass rsa pem"},
	} {
		path := filepath.Join(dir, "keygen_"+k.name)
		// Two bcrypt rounds instead of 16: the same format, decrypted
		// faster under the race detector.
		args := []string{"-q", "-t", k.typ, "-N", k.pass, "-a", "2", "-C", "keygen " + k.name, "-f", path}
		if k.typ == "rsa" {
			args = append(args, "-b", "2048")
		}
		if k.format != "" {
			args = append(args, "-m", k.format)
		}
		if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %q: %v\n%s", args, err, out)
		}
		pub := readPublicKeyFile(path + ".pub")
		if pub == nil {
			t.Fatalf("ssh-keygen wrote no readable %s.pub", path)
		}
		out = append(out, keyFile{name: "keygen_" + k.name, path: path, pub: pub, passphrase: k.pass})
	}
	return out
}

// TestIdentityFiles logs in with every key type and format, plain and
// encrypted, made by x/crypto and by ssh-keygen, to the built-in server
// and a real sshd. Encrypted keys ask for their passphrase exactly once.
func TestIdentityFiles(t *testing.T) {
	dir := t.TempDir()
	keys := append(goKeys(t, dir), keygenKeys(t, dir)...)
	var pubs []ssh.PublicKey
	for _, k := range keys {
		pubs = append(pubs, k.pub)
	}
	b := startBuiltin(t)
	b.authorize(t, pubs...)
	srvs := []*testServer{b}
	if fileExists(sshdtest.SshdPath) {
		srvs = append(srvs, startSshd(t, sshdOptions(pubs...)))
	}
	for _, srv := range srvs {
		for i, k := range keys {
			// Decryption happens here, not on the server: against sshd,
			// one encrypted key is enough.
			if srv.sshd != nil && k.passphrase != "" && i != len(keys)-1 {
				continue
			}
			t.Run(srv.name+"/"+k.name, func(t *testing.T) {
				cfg := srv.testConfig(t)
				cfg.IdentityFiles = []string{k.path}
				p := &scriptedPrompter{}
				if k.passphrase != "" {
					p.answers = []string{k.passphrase}
				}
				cfg.Prompter = p
				var decrypted []string
				cfg.KeyDecrypted = func(file string, s ssh.Signer) {
					if !keysEqual(s.PublicKey(), k.pub) {
						t.Errorf("KeyDecrypted(%s) gave another key", file)
					}
					decrypted = append(decrypted, file)
				}
				c := srv.mustDial(t, cfg)
				c.Close()
				want := 0
				if k.passphrase != "" {
					want = 1
				}
				if len(decrypted) != want {
					t.Errorf("KeyDecrypted called for %q, want %d calls", decrypted, want)
				}
				if k.passphrase != "" {
					// A second login offering the decrypted key asks nothing.
					cfg.ExtraSigners = []ssh.Signer{mustSigner(t, k)}
					p2 := &scriptedPrompter{}
					cfg.Prompter = p2
					srv.mustDial(t, cfg).Close()
					if len(p2.asked()) != 0 {
						t.Errorf("the second login asked %q", p2.asked())
					}
				}
				asked := p.asked()
				if k.passphrase == "" && len(asked) != 0 {
					t.Errorf("asked %q for an unencrypted key", asked)
				}
				if k.passphrase != "" && (len(asked) != 1 || asked[0] != "Enter passphrase for key '"+k.path+"': ") {
					t.Errorf("asked %q", asked)
				}
			})
		}
	}
}

// mustSigner decrypts k's file with its passphrase.
func mustSigner(t *testing.T, k keyFile) ssh.Signer {
	t.Helper()
	data, err := os.ReadFile(k.path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKeyWithPassphrase(data, []byte(k.passphrase))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// recordingServer is a pipe server that records the keys offered, in
// order, and accepts only authorized.
func recordingServer(t *testing.T, authorized ssh.PublicKey, edit func(*ssh.ServerConfig)) (*pipeServer, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var offered []string
	srv := &pipeServer{hostKeys: []ssh.Signer{newSigner(t)}, authorized: authorized}
	srv.edit = func(c *ssh.ServerConfig) {
		c.MaxAuthTries = 20
		c.PublicKeyCallback = func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			mu.Lock()
			defer mu.Unlock()
			fp := ssh.FingerprintSHA256(key)
			if len(offered) == 0 || offered[len(offered)-1] != fp {
				offered = append(offered, fp) // the query and the signed request are one offer
			}
			if authorized != nil && keysEqual(key, authorized) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("no")
		}
		if edit != nil {
			edit(c)
		}
	}
	return srv, &offered
}

// knownPipeConfig is pipeConfig with the server's host key on file and
// no extra signers.
func knownPipeConfig(t *testing.T, srv *pipeServer) *Config {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := appendKnownHost(kh, "pipe-host "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.hostKeys[0].PublicKey())))); err != nil {
		t.Fatal(err)
	}
	cfg := pipeConfig(t, kh, nil)
	cfg.ExtraSigners = nil
	cfg.StrictHostKeyChecking = StrictYes
	return cfg
}

func writeSigner(t *testing.T, dir, name string, s crypto.Signer, passphrase string) keyFile {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(s, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(s, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return writeKeyFile(t, dir, name, block, pub, passphrase)
}

// writeLegacyEncrypted writes an ECDSA key in passphrase-protected legacy
// PEM form, with its .pub file.
func writeLegacyEncrypted(t *testing.T, dir, name, passphrase string) keyFile {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 legacy encrypted PEM is what old keys on disk look like.
	block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte(passphrase), x509.PEMCipherAES128)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	kf := writeKeyFile(t, dir, name, block, pub, passphrase)
	if err := os.WriteFile(kf.path+".pub", ssh.MarshalAuthorizedKey(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	return kf
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestEncryptedKeyPrompts: an encrypted key the server does not accept
// is never decrypted; wrong passphrases are asked again up to three
// times; an empty answer or BatchMode skips the key and the next one is
// tried; the problems are reported.
func TestEncryptedKeyPrompts(t *testing.T) {
	dir := t.TempDir()
	good := writeSigner(t, dir, "good", newEd25519(t), "")
	// Legacy PEM encryption with a .pub beside: the public key is known
	// before decryption, and each wrong guess costs no bcrypt rounds.
	encAuthorized := writeLegacyEncrypted(t, dir, "enc_authorized", "right")
	encOther := writeLegacyEncrypted(t, dir, "enc_other", "other")

	tests := []struct {
		name       string
		authorized ssh.PublicKey
		files      []keyFile
		answers    []string
		batch      bool
		asks       int
		problem    error // in the AuthError when login fails, or nil
		ok         bool
	}{
		{name: "refused encrypted key is not decrypted", authorized: good.pub, files: []keyFile{encOther, good}, asks: 0, ok: true},
		{name: "wrong, then right", authorized: encAuthorized.pub, files: []keyFile{encAuthorized}, answers: []string{"wrong", "right"}, asks: 2, ok: true},
		{name: "three wrong, next key", authorized: encAuthorized.pub, files: []keyFile{encAuthorized, good}, answers: []string{"a", "b", "c"}, asks: 3, problem: ErrWrongPassphrase},
		{name: "empty answer skips", authorized: encAuthorized.pub, files: []keyFile{encAuthorized}, answers: []string{""}, asks: 1, problem: ErrPassphraseDeclined},
		{name: "batch mode skips", authorized: encAuthorized.pub, files: []keyFile{encAuthorized}, batch: true, asks: 0, problem: ErrPassphraseDeclined},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, offered := recordingServer(t, tt.authorized, nil)
			cfg := knownPipeConfig(t, srv)
			for _, f := range tt.files {
				cfg.IdentityFiles = append(cfg.IdentityFiles, f.path)
			}
			p := &scriptedPrompter{answers: tt.answers}
			cfg.Prompter, cfg.BatchMode = p, tt.batch
			c, err := Dial(t.Context(), srv.connect(t), cfg)
			if got := len(p.asked()); got != tt.asks {
				t.Errorf("asked %d times (%q), want %d", got, p.asked(), tt.asks)
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close()
				return
			}
			var authErr *AuthError
			if !errors.As(err, &authErr) {
				t.Fatalf("Dial = %v, want *AuthError", err)
			}
			var kerr *KeyFileError
			found := false
			for _, pr := range authErr.Problems {
				if errors.As(pr, &kerr) && kerr.File == tt.files[0].path && errors.Is(pr, tt.problem) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %v lack %v for %s", authErr.Problems, tt.problem, tt.files[0].path)
			}
			if !strings.Contains(err.Error(), "permission denied (publickey)") || !strings.Contains(err.Error(), tt.files[0].path) {
				t.Errorf("error %q", err)
			}
			t.Logf("offered %q", *offered)
		})
	}
}

// serveAgent serves an in-process agent keyring on a unix socket.
func serveAgent(t *testing.T, keys ...crypto.Signer) string {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				agent.ServeAgent(kr, c)
			})
		}
	})
	return sock
}

// TestAgentAuth logs in to the real sshd with a key that only the agent
// holds, found through SSH_AUTH_SOCK and through IdentityAgent.
func TestAgentAuth(t *testing.T) {
	key := newEd25519(t)
	pub, _ := ssh.NewPublicKey(key.Public())
	srv := startSshd(t, sshdOptions(pub))
	sock := serveAgent(t, newEd25519(t), key)

	t.Run("SSH_AUTH_SOCK", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", sock)
		cfg := srv.testConfig(t)
		cfg.IdentityAgent = ""
		srv.mustDial(t, cfg).Close()
	})
	t.Run("IdentityAgent", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", "")
		cfg := srv.testConfig(t)
		cfg.IdentityAgent = sock
		srv.mustDial(t, cfg).Close()
	})
	t.Run("IdentityAgent none", func(t *testing.T) {
		t.Setenv("SSH_AUTH_SOCK", sock)
		cfg := srv.testConfig(t)
		cfg.IdentityAgent = "none"
		if _, err := srv.dial(t, cfg); err == nil {
			t.Error("logged in without the agent")
		}
	})
	t.Run("IdentitiesOnly with the public key file selects the agent key", func(t *testing.T) {
		dir := t.TempDir()
		pubFile := filepath.Join(dir, "id.pub")
		os.WriteFile(pubFile, ssh.MarshalAuthorizedKey(pub), 0o600)
		cfg := srv.testConfig(t)
		cfg.IdentityAgent, cfg.IdentitiesOnly, cfg.IdentityFiles = sock, true, []string{pubFile}
		srv.mustDial(t, cfg).Close()
	})
	t.Run("IdentitiesOnly excludes other agent keys", func(t *testing.T) {
		dir := t.TempDir()
		other := writeSigner(t, dir, "other", newEd25519(t), "")
		cfg := srv.testConfig(t)
		cfg.IdentityAgent, cfg.IdentitiesOnly, cfg.IdentityFiles = sock, true, []string{other.path}
		_, err := srv.dial(t, cfg)
		var authErr *AuthError
		if !errors.As(err, &authErr) {
			t.Errorf("Dial = %v, want *AuthError", err)
		}
	})
}

// TestKeyOrder checks OpenSSH's order: extra signers, agent keys that
// match an identity file (in the agent's order), other agent keys, then
// the files the agent lacks (in file order).
func TestKeyOrder(t *testing.T) {
	dir := t.TempDir()
	extra := newSigner(t)
	a1, a2, a3 := newEd25519(t), newEd25519(t), newEd25519(t)
	f1 := writeSigner(t, dir, "f1", newEd25519(t), "")
	fa2 := writeSigner(t, dir, "fa2", a2, "") // a2 is also in the agent
	f3 := writeSigner(t, dir, "f3", newEd25519(t), "")
	sock := serveAgent(t, a1, a2, a3)
	fp := func(k crypto.Signer) string {
		p, _ := ssh.NewPublicKey(k.Public())
		return ssh.FingerprintSHA256(p)
	}
	for _, only := range []bool{false, true} {
		t.Run(fmt.Sprintf("IdentitiesOnly=%v", only), func(t *testing.T) {
			srv, offered := recordingServer(t, nil, nil)
			cfg := knownPipeConfig(t, srv)
			cfg.ExtraSigners = []ssh.Signer{extra}
			cfg.IdentityAgent, cfg.IdentitiesOnly = sock, only
			cfg.IdentityFiles = []string{f1.path, fa2.path, f3.path}
			_, err := Dial(t.Context(), srv.connect(t), cfg)
			var authErr *AuthError
			if !errors.As(err, &authErr) {
				t.Fatalf("Dial = %v, want *AuthError", err)
			}
			want := []string{ssh.FingerprintSHA256(extra.PublicKey()), fp(a2)}
			if !only {
				want = append(want, fp(a1), fp(a3))
			}
			want = append(want, ssh.FingerprintSHA256(f1.pub), ssh.FingerprintSHA256(f3.pub))
			if !slices.Equal(*offered, want) {
				t.Errorf("offered\n%q\nwant\n%q", *offered, want)
			}
			if len(authErr.Offered) != len(want) {
				t.Errorf("AuthError.Offered = %q", authErr.Offered)
			}
		})
	}
}

func TestIdentityFileProblems(t *testing.T) {
	dir := t.TempDir()
	good := writeSigner(t, dir, "good", newEd25519(t), "")
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not a key\n"), 0o600)
	missing := filepath.Join(dir, "missing")
	pkcs8enc := filepath.Join(dir, "pkcs8enc")
	os.WriteFile(pkcs8enc, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)

	srv, _ := recordingServer(t, good.pub, nil)
	cfg := knownPipeConfig(t, srv)
	cfg.IdentityFiles = []string{missing, junk, pkcs8enc, good.path}
	var warnings []string
	cfg.Warnf = func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }
	c, err := Dial(t.Context(), srv.connect(t), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	want := []string{
		"Warning: Identity file " + missing + " not accessible: no such file or directory.",
		`Load key "` + junk + `": invalid format: ssh: no key found`,
		`Load key "` + pkcs8enc + `": encrypted PKCS#8 keys are not supported; convert it with: ssh-keygen -p -f ` + pkcs8enc,
	}
	if !slices.Equal(warnings, want) {
		t.Errorf("warnings\n%q\nwant\n%q", warnings, want)
	}

	// Missing default identities are not worth a warning.
	cfg.IdentityFiles, cfg.DefaultIdentities, warnings = []string{missing, good.path}, true, nil
	c, err = Dial(t.Context(), srv.connect(t), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	if len(warnings) != 0 {
		t.Errorf("warnings for default identities: %q", warnings)
	}
}

// TestInteractiveMethods: keyboard-interactive and password through the
// Prompter, in the configured order, after publickey.
func TestInteractiveMethods(t *testing.T) {
	srv, _ := recordingServer(t, nil, func(c *ssh.ServerConfig) {
		c.KeyboardInteractiveCallback = func(md ssh.ConnMetadata, ch ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			ans, err := ch("Login", "Say the words", []string{"Code: ", "Name: "}, []bool{false, true})
			if err != nil {
				return nil, err
			}
			if len(ans) == 2 && ans[0] == "123456" && ans[1] == "u" {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("wrong")
		}
		c.PasswordCallback = func(md ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) == "hunter2" {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("wrong")
		}
	})
	t.Run("keyboard-interactive", func(t *testing.T) {
		cfg := knownPipeConfig(t, srv)
		p := &scriptedPrompter{answers: []string{"123456", "u"}}
		cfg.Prompter = p
		c, err := Dial(t.Context(), srv.connect(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if q := p.asked(); len(q) != 2 || q[0] != "Login\nSay the words\nCode: " || q[1] != "Name: " {
			t.Errorf("questions %q", q)
		}
	})
	t.Run("password after three keyboard-interactive failures", func(t *testing.T) {
		cfg := knownPipeConfig(t, srv)
		p := &scriptedPrompter{answers: []string{"1", "u", "2", "u", "3", "u", "hunter2"}}
		cfg.Prompter = p
		c, err := Dial(t.Context(), srv.connect(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if q := p.asked(); len(q) != 7 || q[6] != "u@pipe-host's password: " {
			t.Errorf("questions %q", q)
		}
	})
	t.Run("password only", func(t *testing.T) {
		cfg := knownPipeConfig(t, srv)
		cfg.PreferredAuthentications = []string{"password"}
		cfg.Prompter = &scriptedPrompter{answers: []string{"bad", "hunter2"}}
		c, err := Dial(t.Context(), srv.connect(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
	t.Run("batch mode asks nothing", func(t *testing.T) {
		cfg := knownPipeConfig(t, srv)
		cfg.BatchMode = true
		_, err := Dial(t.Context(), srv.connect(t), cfg)
		var authErr *AuthError
		if !errors.As(err, &authErr) || !slices.Contains(authErr.Methods, "password") {
			t.Errorf("Dial = %v", err)
		}
	})
}
