package sshclient

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// scriptedPrompter answers prompts in order and records the questions.
type scriptedPrompter struct {
	mu        sync.Mutex
	answers   []string
	questions []string
}

func (p *scriptedPrompter) Prompt(msg string, hidden bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.questions = append(p.questions, msg)
	if len(p.answers) == 0 {
		return "", ssmclient.ErrNoTerminal
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return a, nil
}

func (p *scriptedPrompter) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.questions...)
}

// pipeServer is an in-process SSH server over net.Pipe that counts what
// reaches it.
type pipeServer struct {
	hostKeys   []ssh.Signer
	authorized ssh.PublicKey
	authTries  atomic.Int32 // public-key callbacks
	// globalRequests receives the client's global requests, unanswered
	// unless the test answers them.
	globalRequests chan *ssh.Request
	// edit adjusts the server configuration.
	edit func(*ssh.ServerConfig)
	wg   sync.WaitGroup
}

// connect returns the client end of a new connection to the server.
func (s *pipeServer) connect(t *testing.T) net.Conn {
	t.Helper()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.authTries.Add(1)
			if s.authorized != nil && keysEqual(key, s.authorized) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("not authorized")
		},
	}
	for _, k := range s.hostKeys {
		cfg.AddHostKey(k)
	}
	if s.edit != nil {
		s.edit(cfg)
	}
	client, server := memPipe()
	t.Cleanup(func() {
		client.Close()
		server.Close()
		s.wg.Wait()
	})
	s.wg.Go(func() {
		conn, chans, reqs, err := ssh.NewServerConn(server, cfg)
		if err != nil {
			server.Close()
			return
		}
		defer conn.Close()
		s.wg.Go(func() {
			for nc := range chans {
				nc.Reject(ssh.Prohibited, "no channels here")
			}
		})
		for r := range reqs {
			if s.globalRequests != nil {
				s.globalRequests <- r
			} else if r.WantReply {
				r.Reply(false, nil)
			}
		}
	})
	return client
}

func newPipeServer(t *testing.T, hostKeys ...ssh.Signer) (*pipeServer, ssh.Signer) {
	user := newSigner(t)
	if len(hostKeys) == 0 {
		hostKeys = []ssh.Signer{newSigner(t)}
	}
	return &pipeServer{hostKeys: hostKeys, authorized: user.PublicKey()}, user
}

// pipeConfig is a Config for the pipe server filed under host "pipe-host",
// with known_hosts at kh.
func pipeConfig(t *testing.T, kh string, user ssh.Signer) *Config {
	return &Config{
		Host: "pipe-host", HostName: "pipe-host", Port: 22, User: "u",
		IdentityAgent:       "none",
		UserKnownHostsFiles: []string{kh},
		ExtraSigners:        signers(user),
		Prompter:            noPrompter(t),
		Logf:                t.Logf,
	}
}

func signers(s ssh.Signer) []ssh.Signer {
	if s == nil {
		return nil
	}
	return []ssh.Signer{s}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

func TestFirstContact(t *testing.T) {
	hostKey := newSigner(t)
	fp := ssh.FingerprintSHA256(hostKey.PublicKey())
	line := knownhosts.Line([]string{"pipe-host"}, hostKey.PublicKey()) + "\n"
	tests := []struct {
		name    string
		policy  StrictHostKeyChecking
		batch   bool
		answers []string
		accept  bool
		asks    int
	}{
		{name: "accept-new", policy: StrictAcceptNew, accept: true},
		{name: "no", policy: StrictNo, accept: true},
		{name: "yes refuses", policy: StrictYes},
		{name: "ask, yes", policy: StrictAsk, answers: []string{"yes"}, accept: true, asks: 1},
		{name: "ask, YES", policy: StrictAsk, answers: []string{"YES"}, accept: true, asks: 1},
		{name: "ask, no", policy: StrictAsk, answers: []string{"no"}, asks: 1},
		{name: "ask, maybe then the fingerprint", policy: StrictAsk, answers: []string{"maybe", fp}, accept: true, asks: 2},
		{name: "ask without a terminal", policy: StrictAsk, asks: 1},
		{name: "ask in batch mode", policy: StrictAsk, batch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, user := newPipeServer(t, hostKey)
			kh := filepath.Join(t.TempDir(), "ssh", "known_hosts") // the directory is created
			cfg := pipeConfig(t, kh, user)
			cfg.StrictHostKeyChecking = tt.policy
			cfg.BatchMode = tt.batch
			p := &scriptedPrompter{answers: tt.answers}
			cfg.Prompter = p
			var warnings []string
			cfg.Warnf = func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }

			c, err := Dial(t.Context(), srv.connect(t), cfg)
			if got := len(p.asked()); got != tt.asks {
				t.Errorf("asked %d times, want %d: %q", got, tt.asks, p.asked())
			}
			if tt.asks > 0 {
				q := p.asked()[0]
				want := "The authenticity of host 'pipe-host (mem)' can't be established.\n" +
					"ED25519 key fingerprint is " + fp + ".\n" +
					"This key is not known by any other names.\n" +
					"Are you sure you want to continue connecting (yes/no/[fingerprint])? "
				if q != want {
					t.Errorf("question:\n%s\nwant:\n%s", q, want)
				}
				if tt.asks > 1 && p.asked()[1] != "Please type 'yes', 'no' or the fingerprint: " {
					t.Errorf("second question %q", p.asked()[1])
				}
			}
			if !tt.accept {
				var unknown *HostKeyUnknownError
				var ke *knownhosts.KeyError
				if !errors.As(err, &unknown) || !errors.Is(err, ErrHostKeyVerification) || !errors.As(err, &ke) || len(ke.Want) != 0 {
					t.Fatalf("Dial = %v, want a *HostKeyUnknownError", err)
				}
				if srv.authTries.Load() != 0 {
					t.Error("the client authenticated to an unverified server")
				}
				if got := readFile(t, kh); got != "" {
					t.Errorf("known_hosts written: %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			c.Close()
			if got := readFile(t, kh); got != line {
				t.Errorf("known_hosts = %q, want %q", got, line)
			}
			if len(warnings) != 1 || warnings[0] != "Warning: Permanently added 'pipe-host' (ED25519) to the list of known hosts." {
				t.Errorf("warnings %q", warnings)
			}
			// The second time the key is known: no question, no change.
			cfg.Prompter, cfg.StrictHostKeyChecking, warnings = noPrompter(t), StrictYes, nil
			c, err = Dial(t.Context(), srv.connect(t), cfg)
			if err != nil {
				t.Fatalf("second Dial: %v", err)
			}
			c.Close()
			if got := readFile(t, kh); got != line || len(warnings) != 0 {
				t.Errorf("second Dial changed known_hosts to %q, warnings %q", got, warnings)
			}
		})
	}
}

func TestHostKeyChanged(t *testing.T) {
	for _, policy := range []StrictHostKeyChecking{StrictAsk, StrictYes, StrictAcceptNew, StrictNo} {
		t.Run(policy.String(), func(t *testing.T) {
			srv, user := newPipeServer(t)
			old := newSigner(t)
			kh := filepath.Join(t.TempDir(), "known_hosts")
			content := "# comment\nother-host " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(old.PublicKey()))) + "\n" +
				knownhosts.Line([]string{"pipe-host"}, old.PublicKey()) + "\n"
			if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := pipeConfig(t, kh, user)
			cfg.StrictHostKeyChecking = policy
			_, err := Dial(t.Context(), srv.connect(t), cfg)
			var changed *HostKeyChangedError
			var ke *knownhosts.KeyError
			if !errors.As(err, &changed) || !errors.Is(err, ErrHostKeyVerification) || !errors.As(err, &ke) {
				t.Fatalf("Dial = %v, want a *HostKeyChangedError", err)
			}
			if srv.authTries.Load() != 0 {
				t.Error("the client authenticated to a server with a changed key")
			}
			if got := readFile(t, kh); got != content {
				t.Errorf("known_hosts changed to %q", got)
			}
			if len(ke.Want) != 1 || ke.Want[0].Line != 3 || ke.Want[0].Filename != kh {
				t.Errorf("Want = %+v", ke.Want)
			}
			want := "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n" +
				"@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n" +
				"@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n" +
				"IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n" +
				"Someone could be eavesdropping on you right now (man-in-the-middle attack)!\n" +
				"It is also possible that a host key has just been changed.\n" +
				"The fingerprint for the ED25519 key sent by the remote host is\n" +
				ssh.FingerprintSHA256(srv.hostKeys[0].PublicKey()) + ".\n" +
				"Please contact your system administrator.\n" +
				"Add correct host key in " + kh + " to get rid of this message.\n" +
				"Offending ED25519 key in " + kh + ":3\n" +
				"  remove with:\n" +
				"  ssh-keygen -f \"" + kh + "\" -R \"pipe-host\"\n" +
				"Host key for pipe-host has changed and you have requested strict checking.\n" +
				"Host key verification failed.\n"
			if changed.Warning() != want {
				t.Errorf("Warning:\n%s\nwant:\n%s", changed.Warning(), want)
			}
			if !strings.Contains(err.Error(), kh+":3") {
				t.Errorf("error %q does not name the offending line", err)
			}
		})
	}
}

func TestHostKeyOtherNamesAliasHashRevoked(t *testing.T) {
	hostKey := newSigner(t)
	dir := t.TempDir()

	// Filed under HostKeyAlias, hashed, and known under another name.
	kh := filepath.Join(dir, "known_hosts")
	other := knownhosts.Line([]string{"old-name"}, hostKey.PublicKey())
	if err := os.WriteFile(kh, []byte(other), 0o600); err != nil { // no final newline
		t.Fatal(err)
	}
	srv, user := newPipeServer(t, hostKey)
	cfg := pipeConfig(t, kh, user)
	cfg.HostKeyAlias = "my-alias"
	cfg.HashKnownHosts = true
	p := &scriptedPrompter{answers: []string{"yes"}}
	cfg.Prompter = p
	c, err := Dial(t.Context(), srv.connect(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if q := p.asked(); len(q) != 1 || !strings.Contains(q[0], "host 'my-alias (mem)'") ||
		!strings.Contains(q[0], "This host key is known by the following other names/addresses:\n    "+kh+":1: old-name\n") {
		t.Errorf("question %q", q)
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, kh)), "\n")
	if len(lines) != 2 || lines[0] != other || !strings.HasPrefix(lines[1], "|1|") || strings.Contains(lines[1], "my-alias") {
		t.Errorf("known_hosts lines %q, want the old line and a hashed one", lines)
	}
	cfg.Prompter = noPrompter(t)
	c, err = Dial(t.Context(), srv.connect(t), cfg)
	if err != nil {
		t.Fatalf("hashed entry not matched: %v", err)
	}
	c.Close()

	// A revoked key is refused.
	if err := os.WriteFile(kh, []byte("@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey.PublicKey())))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.StrictHostKeyChecking = StrictNo
	_, err = Dial(t.Context(), srv.connect(t), cfg)
	var revoked *HostKeyRevokedError
	if !errors.As(err, &revoked) || !errors.Is(err, ErrHostKeyVerification) {
		t.Errorf("Dial with a revoked key = %v", err)
	}

	// A malformed known_hosts file is an error naming it, not a pass.
	if err := os.WriteFile(kh, []byte("pipe-host ssh-ed25519 !!!notbase64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Dial(t.Context(), srv.connect(t), cfg)
	if err == nil || !strings.Contains(err.Error(), kh) {
		t.Errorf("Dial with a malformed known_hosts = %v", err)
	}
}

// TestHostKeyAlgorithmPreference: a server with Ed25519 and ECDSA host
// keys, of which only the ECDSA one is on file, must be asked for that
// one (as OpenSSH asks), not refused as changed.
func TestHostKeyAlgorithmPreference(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	srv, user := newPipeServer(t, newSigner(t), ec)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{"pipe-host"}, ec.PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := pipeConfig(t, kh, user)
	cfg.StrictHostKeyChecking = StrictYes
	c, err := Dial(t.Context(), srv.connect(t), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()

	// With nothing on file, Ed25519 is preferred.
	h := &hostKeyChecker{cfg: &Config{}}
	if algos := h.hostKeyAlgorithms("pipe-host:22"); algos[0] != ssh.KeyAlgoED25519 {
		t.Errorf("default preference %q", algos)
	}
}

// TestHostKeyMismatchRealSSHD: the real sshd's key against a wrong
// known_hosts entry; nothing gets as far as authentication.
func TestHostKeyMismatchRealSSHD(t *testing.T) {
	key := newSigner(t)
	srv := startSshd(t, sshdOptions(key.PublicKey()))
	cfg := srv.testConfig(t, key)
	kh := cfg.UserKnownHostsFiles[0]
	if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.addr)}, newSigner(t).PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := srv.dial(t, cfg)
	var changed *HostKeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("Dial = %v, want *HostKeyChangedError", err)
	}
	if !strings.Contains(changed.Warning(), `ssh-keygen -f "`+kh+`" -R "`+knownhosts.Normalize(srv.addr)+`"`) {
		t.Errorf("warning:\n%s", changed.Warning())
	}
	if log := srv.sshd.Log(); strings.Contains(log, "Accepted") || strings.Contains(log, "Failed publickey") {
		t.Errorf("sshd saw an authentication attempt:\n%s", log)
	}
}
