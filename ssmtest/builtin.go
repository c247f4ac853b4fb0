package ssmtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmtest/agent"
	"github.com/ssmssh/ssmssh/ssmtest/sshserver"
)

// defaultClientReconnectWindow is how long a session waits for a client
// whose websocket dropped before the service ends it.
const defaultClientReconnectWindow = 30 * time.Second

func (s *Server) clientReconnectWindow() time.Duration {
	if s.opts.ClientReconnectWindow > 0 {
		return s.opts.ClientReconnectWindow
	}
	return defaultClientReconnectWindow
}

// builtin is one emulated instance's machinery: the built-in agent and,
// for ports that lead to it, the built-in SSH server.
type builtin struct {
	id      string
	ssh     *sshserver.Server
	sshAddr string
	agent   *agent.Agent
	cancel  context.CancelFunc
	done    chan struct{}
}

// builtins runs the built-in agents of a server.
type builtins struct {
	mu        sync.Mutex
	instances map[string]*builtin
	stopped   bool
}

// startBuiltins starts a built-in agent for every running, online instance
// of the fleet (unless Options.NoBuiltinAgents) and waits, briefly, until
// their control channels are connected.
func (s *Server) startBuiltins() error {
	if s.opts.NoBuiltinAgents {
		return nil
	}
	builtin := func(in *Instance) bool {
		return in.State == StateRunning && in.PingStatus == PingOnline && !in.ExternalAgent && !in.Unmanaged
	}
	machines := append(s.fleet.Instances(), s.fleet.Containers()...)
	for _, in := range machines {
		if !builtin(&in) {
			continue
		}
		if err := s.StartAgent(in.InstanceID); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, in := range machines {
		if !builtin(&in) {
			continue
		}
		if err := s.AwaitAgent(in.InstanceID, time.Until(deadline)); err != nil {
			return err
		}
	}
	return nil
}

// AwaitAgent waits up to d for the agent of an instance (built-in or
// external) to have its control channel open, as after StartAgent, which
// returns before the agent has connected.
func (s *Server) AwaitAgent(instanceID string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !s.gw.agentConnected(instanceID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("ssmtest: the agent of %s did not connect within %v", instanceID, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// StartAgent starts the built-in agent of an instance (the emulator does
// so at Start for every online instance; use it after StopAgent). An
// instance served by an external agent has none. It returns before the
// agent has connected; AwaitAgent waits for that.
func (s *Server) StartAgent(instanceID string) error {
	in, ok := s.fleet.Instance(instanceID)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoSuchInstance, instanceID)
	}
	if in.ExternalAgent {
		return fmt.Errorf("ssmtest: %s is served by an external agent, not a built-in one", instanceID)
	}
	s.builtins.mu.Lock()
	defer s.builtins.mu.Unlock()
	if s.builtins.stopped {
		return errors.New("ssmtest: server closed")
	}
	if s.builtins.instances == nil {
		s.builtins.instances = make(map[string]*builtin)
	}
	if _, running := s.builtins.instances[instanceID]; running {
		return nil
	}
	b := &builtin{id: instanceID, done: make(chan struct{})}
	awsCfg, err := s.AWSConfig(context.Background())
	if err != nil {
		return err
	}
	// The agent calls KMS as its instance profile's role, so that a
	// denial names that role, not the user.
	// It signs its gateway requests with the same credentials.
	awsCfg.Credentials = credentials.NewStaticCredentialsProvider(instanceKeyPrefix+instanceID, FakeSecretAccessKey, "")
	b.agent = agent.New(agent.Config{
		Endpoint:    s.URL(),
		TLS:         s.ClientTLSConfig(),
		InstanceID:  instanceID,
		Credentials: awsCfg.Credentials,
		Region:      s.region,
		Now:         s.clock,
		KMS:         &instanceKMS{s: s, id: instanceID, next: protocol.NewKMSClient(kms.NewFromConfig(awsCfg))},
		Version:     in.AgentVersion,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return s.dialFrom(ctx, b, network, addr)
		},
		LookupHost:       func(_ context.Context, host string) ([]string, error) { return []string{host}, nil },
		Shell:            s.opts.Shell,
		Pacer:            &agent.Pacer{Pace: s.pace.Get},
		HandshakeTimeout: s.opts.AgentHandshakeTimeout,
		Logf:             s.logf,
	})
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	s.builtins.instances[instanceID] = b
	go func() {
		defer close(b.done)
		_ = b.agent.Run(ctx)
	}()
	return nil
}

// StopAgent stops an instance's built-in agent, as if the agent process
// ended: its control channel closes and its sessions end.
func (s *Server) StopAgent(instanceID string) {
	s.builtins.mu.Lock()
	b := s.builtins.instances[instanceID]
	delete(s.builtins.instances, instanceID)
	s.builtins.mu.Unlock()
	if b != nil {
		b.stop()
	}
}

func (b *builtin) stop() {
	b.cancel()
	<-b.done
	if b.ssh != nil {
		b.ssh.Close()
	}
}

// stopBuiltins stops every built-in agent and SSH server.
func (s *Server) stopBuiltins() {
	s.builtins.mu.Lock()
	s.builtins.stopped = true
	all := s.builtins.instances
	s.builtins.instances = nil
	s.builtins.mu.Unlock()
	for _, b := range all {
		b.stop()
	}
}

// dialFrom is how an instance's agent reaches "localhost:<port>" and
// remote hosts: through the fleet's port and remote-host maps, onto
// loopback addresses or the built-in SSH server. Anything else is refused,
// as a closed port would be.
func (s *Server) dialFrom(ctx context.Context, b *builtin, network, addr string) (net.Conn, error) {
	in, ok := s.fleet.Instance(b.id)
	if !ok {
		return nil, fmt.Errorf("dial %s: %w", addr, syscall.ECONNREFUSED)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var target string
	switch host {
	case "localhost", "127.0.0.1", "::1", "":
		target, ok = in.PortTarget(port)
	default:
		target, ok = in.RemoteHostTarget(addr)
	}
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%s: %w", addr, syscall.ECONNREFUSED)}
	}
	if target == BuiltinSSH {
		if target, err = s.builtinSSH(b); err != nil {
			return nil, err
		}
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target)
}

// builtinSSH starts the instance's built-in SSH server on first use and
// returns its loopback address. It accepts the keys of
// Options.AuthorizedKeysFile and those pushed with EC2 Instance Connect
// (for 60 seconds).
func (s *Server) builtinSSH(b *builtin) (string, error) {
	s.builtins.mu.Lock()
	defer s.builtins.mu.Unlock()
	if b.ssh != nil {
		return b.sshAddr, nil
	}
	srv, err := sshserver.New(sshserver.Config{
		HostSigner:         s.hostSigner(b.id),
		AuthorizedKeysFile: s.opts.AuthorizedKeysFile,
		AuthorizedKeys:     func(user string) []string { return s.InstanceConnectKeys(b.id, user) },
		Shell:              s.opts.Shell,
		Logf:               s.logf,
	})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = srv.Serve(ln) }()
	b.ssh, b.sshAddr = srv, ln.Addr().String()
	return b.sshAddr, nil
}

// hostSigner returns the instance's SSH host key: loaded from (or created
// in) Options.HostKeyDir so that known_hosts entries survive restarts, or
// generated once per server.
func (s *Server) hostSigner(id string) ssh.Signer {
	s.hostKeysMu.Lock()
	defer s.hostKeysMu.Unlock()
	if k := s.hostKeys[id]; k != nil {
		return k
	}
	signer, err := loadOrCreateHostKey(s.opts.HostKeyDir, id)
	if err != nil {
		s.logf("ssmtest: host key of %s: %v; using a fresh one", id, err)
		signer, _ = loadOrCreateHostKey("", id)
	}
	if s.hostKeys == nil {
		s.hostKeys = make(map[string]ssh.Signer)
	}
	s.hostKeys[id] = signer
	return signer
}

func loadOrCreateHostKey(dir, id string) (ssh.Signer, error) {
	var path string
	if dir != "" {
		path = filepath.Join(dir, id+"_ed25519")
		if pemBytes, err := os.ReadFile(path); err == nil {
			return ssh.ParsePrivateKey(pemBytes)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if path != "" {
		block, err := ssh.MarshalPrivateKey(priv, "ssmtest host key "+id)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	return ssh.NewSignerFromKey(priv)
}

// HostKey returns the SSH host key of an instance's built-in SSH server,
// for known_hosts files in tests.
func (s *Server) HostKey(instanceID string) ssh.PublicKey {
	return s.hostSigner(instanceID).PublicKey()
}
