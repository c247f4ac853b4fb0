package ssmtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/protocol"
	"github.com/ssmssh/ssmssh/ssmtest/agent"
)

// Options configure a Server. The zero value is a working emulator of the
// default fleet in us-east-1.
type Options struct {
	// Fleet is the set of instances and KMS keys (nil: DefaultFleet()).
	Fleet *Fleet
	// Region is the AWS region served (default "us-east-1").
	Region string
	// CallerARN is the identity every request is taken to come from
	// (default "arn:aws:iam::123456789012:user/ssmtest"). Its account is the
	// account of every ARN, and its last path element prefixes session ids.
	CallerARN string
	// Logf receives diagnostics; nil discards them. Tokens and
	// Authorization headers are never logged.
	Logf func(format string, args ...any)
	// Clock is the time source for timestamps, token and key lifetimes and
	// session deadlines (nil: Timers.Now, or time.Now). Waiting runs on
	// Timers.
	Clock func() time.Time
	// Timers runs the service's deadlines: idle timeout, maximum session
	// duration, unused token expiry, client reconnect window, websocket
	// lifetime (nil: the time package, with Clock's time). A *FakeClock
	// here lets a test reach an hour's deadline at once; it is also the
	// time source when Clock is nil.
	Timers Clock
	// Faults are injected misbehaviours (nil: a fresh, empty set, reachable
	// through Server.Faults).
	Faults *Faults
	// IdleSessionTimeout ends sessions without data for this long
	// (0: 20 minutes, AWS's default; negative: never).
	IdleSessionTimeout time.Duration
	// MaxSessionDuration ends sessions this long after they start
	// (0: never).
	MaxSessionDuration time.Duration
	// KMSKeyID is the session preferences' KMS key (id, ARN or alias);
	// empty leaves sessions unencrypted.
	KMSKeyID string
	// RunAsEnabled and RunAsDefaultUser are the Run As preferences: shell
	// sessions then run as RunAsDefaultUser instead of ssm-user.
	RunAsEnabled     bool
	RunAsDefaultUser string
	// ShellProfileLinux and ShellProfileWindows are the shell profile
	// preferences, run at the start of shell sessions.
	ShellProfileLinux, ShellProfileWindows string

	// NoBuiltinAgents starts no built-in agents: instances are served by
	// agents that connect on their own (a real amazon-ssm-agent, or
	// StartAgent later).
	NoBuiltinAgents bool
	// AllowUnsignedGateway makes the gateway accept requests that are not
	// signed, or not signed right, with SigV4: for a peer that cannot sign,
	// such as an official plugin older than 1.2.764.0. By default both
	// faces check (the client's websocket upgrade, the agent's channel
	// POSTs and upgrades), as the service does; see sigv4.go.
	AllowUnsignedGateway bool
	// PresignStreamURLs makes StartSession and ResumeSession hand out
	// StreamUrls presigned with SigV4 (X-Amz-Signature in the query, valid
	// for a minute), which clients must dial without signing again.
	PresignStreamURLs bool
	// ClientReconnectWindow is how long a session whose client websocket
	// dropped waits for the client to resume before it is terminated
	// (0: 30 s).
	ClientReconnectWindow time.Duration
	// AgentHandshakeTimeout is how long the built-in agents wait for the
	// client's answers in a session handshake before they fail the session
	// with "Handshake timed out…" (0: 15 s, as amazon-ssm-agent).
	AgentHandshakeTimeout time.Duration
	// AuthorizedKeysFile holds the keys the built-in SSH servers accept
	// (besides keys pushed with EC2 Instance Connect).
	AuthorizedKeysFile string
	// HostKeyDir keeps the built-in SSH servers' host keys across runs
	// (empty: fresh keys for each server).
	HostKeyDir string
	// Shell runs the built-in agents' shell sessions and the built-in SSH
	// servers' commands (default /bin/sh).
	Shell string
	// AgentPace paces what the built-in agents send to clients (the zero
	// value: unpaced, for fast bulk tests). RealAgentPace paces as
	// amazon-ssm-agent does, about 1 MB/s per session; benchmarks and
	// ssmlocal use it. Server.SetAgentPace changes it while sessions run.
	AgentPace Pace

	// Addr is the address to listen on (default "127.0.0.1:0": loopback,
	// a port chosen by the system). A fixed port lets an external agent's
	// configuration name the endpoints across restarts.
	Addr string
	// CADir keeps the emulator's CA (ca.pem and its key, ca-key.pem)
	// across runs, as HostKeyDir keeps host keys, so that a real agent or a
	// trust store given ca.pem need not change when the emulator restarts
	// (empty: a fresh CA in a temporary directory that Close removes).
	CADir string
	// DisableConnectProxy stops the server's port from serving as an
	// HTTPS CONNECT proxy for *.amazonaws.com (proxy.go), and leaves
	// HTTPS_PROXY and NO_PROXY out of Env.
	DisableConnectProxy bool
}

const (
	defaultRegion      = "us-east-1"
	defaultCallerARN   = "arn:aws:iam::123456789012:user/ssmtest"
	defaultIdleTimeout = 20 * time.Minute

	// FakeAccessKeyID and FakeSecretAccessKey are the credentials Env and
	// AWSConfig hand out; the emulator accepts any.
	FakeAccessKeyID     = "SSMTESTFAKEACCESSKEY"
	FakeSecretAccessKey = "ssmtest-fake-secret-access-key-not-a-real-secret"
)

// Server is a running (or, before Start, configured) emulator of the AWS
// APIs Session Manager users call: SSM, EC2, EC2 Instance Connect, KMS and
// STS, all on one HTTPS endpoint on 127.0.0.1.
type Server struct {
	opts      Options
	fleet     *Fleet
	faultsSet *Faults
	logf      func(string, ...any)
	clock     func() time.Time
	timers    Clock
	region    string
	account   string
	callerARN string
	userName  string
	sessions  *Sessions
	gw        *gateway
	builtins  builtins
	pace      agent.PaceSetting
	kms       *kmsService
	creds     credentialStore

	hostKeysMu sync.Mutex
	hostKeys   map[string]ssh.Signer
	eic        *eicStore

	mux     *http.ServeMux
	jsonOps map[string]jsonOp
	ec2Ops  map[string]queryOp
	stsOps  map[string]queryOp
	iamOps  map[string]queryOp
	active  sync.WaitGroup // running handlers
	calls   callCounter

	mu        sync.Mutex
	started   bool
	closed    bool
	tls       *serverTLS
	sniff     *sniffListener
	srv       *http.Server
	host      string // 127.0.0.1:port
	serveDone chan struct{}
}

// NewUnstartedServer returns a configured server that does not listen
// yet: mount extra handlers (Handle) and set hooks (SetHooks), then Start.
func NewUnstartedServer(opts Options) *Server {
	s := &Server{opts: opts, fleet: opts.Fleet, faultsSet: opts.Faults, logf: opts.Logf, clock: opts.Clock}
	if s.fleet == nil {
		s.fleet = DefaultFleet()
	}
	if s.faultsSet == nil {
		s.faultsSet = &Faults{}
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	if s.clock == nil && opts.Timers != nil {
		s.clock = opts.Timers.Now
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	s.timers = opts.Timers
	if s.timers == nil {
		s.timers = realClock{s.clock}
	}
	s.region = opts.Region
	if s.region == "" {
		s.region = defaultRegion
	}
	s.callerARN = opts.CallerARN
	if s.callerARN == "" {
		s.callerARN = defaultCallerARN
	}
	s.account, s.userName = parseCallerARN(s.callerARN)
	s.pace.Set(opts.AgentPace)
	s.sessions = newSessions(s.clock, s.idleTimeout(), max(opts.MaxSessionDuration, 0), s.logf)
	s.sessions.after = s.timers.AfterFunc
	s.kms = newKMSService(s)
	s.eic = &eicStore{keys: make(map[eicKey][]eicEntry)}

	s.jsonOps = s.ssmOps()
	for k, v := range s.kmsOps() {
		s.jsonOps[k] = v
	}
	for k, v := range s.eicOps() {
		s.jsonOps[k] = v
	}
	for k, v := range s.ecsOps() {
		s.jsonOps[k] = v
	}
	s.ec2Ops = s.ec2QueryOps()
	s.stsOps = s.stsQueryOps()
	s.iamOps = s.iamQueryOps()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/", s.serveAPI)
	s.gw = newGateway(s)
	s.gw.register(s.mux)
	s.sessions.setHooks(Hooks{
		OnStart:     s.gw.startSession,
		OnTerminate: s.gw.terminateSession,
	})
	return s
}

// NewServer returns a started server; Close it when done.
func NewServer(opts Options) (*Server, error) {
	s := NewUnstartedServer(opts)
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseCallerARN returns the account and the name (last path element) of
// an IAM or STS ARN.
func parseCallerARN(arn string) (account, name string) {
	parts := strings.SplitN(arn, ":", 6)
	account, name = "123456789012", "ssmtest"
	if len(parts) == 6 {
		if parts[4] != "" {
			account = parts[4]
		}
		res := parts[5]
		name = res[strings.LastIndex(res, "/")+1:]
	}
	return account, name
}

func (s *Server) idleTimeout() time.Duration {
	switch d := s.opts.IdleSessionTimeout; {
	case d == 0:
		return defaultIdleTimeout
	case d < 0:
		return 0
	default:
		return d
	}
}

// Handle mounts a handler on the server's mux (the gateway mounts
// "/v1/…"). Call it before Start.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// SetHooks connects the session registry to the gateway. Call it before
// Start.
func (s *Server) SetHooks(h Hooks) { s.sessions.setHooks(h) }

// Start loads or generates the CA, issues the serving certificate and
// starts serving HTTPS (and CONNECT) on Options.Addr: 127.0.0.1 with a
// port chosen by the system unless it says otherwise.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("ssmtest: server already started")
	}
	addr := s.opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ssmtest: listen: %w", err)
	}
	host, ips := listenHost(ln.Addr())
	t, err := newServerTLS(s.opts.CADir, ips)
	if err != nil {
		ln.Close()
		return err
	}
	s.sniff = newSniffListener(ln, !s.opts.DisableConnectProxy, s.logf)
	s.tls, s.host, s.started = t, host, true
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.track),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(logfWriter(s.logf), "ssmtest: http: ", 0),
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only
	}
	s.serveDone = make(chan struct{})
	tlsLn := tls.NewListener(protocol.BatchingListener(s.sniff), t.serverConfig())
	go func() {
		defer close(s.serveDone)
		if err := s.srv.Serve(tlsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("ssmtest: serve: %v", err)
		}
	}()
	s.sessions.run()
	s.logf("ssmtest: serving https://%s", s.host)
	s.mu.Unlock()
	err = s.startBuiltins()
	s.mu.Lock()
	return err
}

// track counts running handlers so that Close can wait for them; once
// Close has begun, new requests are refused.
func (s *Server) track(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "ssmtest: server closing", http.StatusServiceUnavailable)
		return
	}
	s.active.Add(1)
	s.mu.Unlock()
	defer s.active.Done()
	s.mux.ServeHTTP(w, r)
}

type logfWriter func(string, ...any)

func (l logfWriter) Write(p []byte) (int, error) {
	l("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ErrSessionsLeaked is wrapped by Close's error when sessions were still
// live: a test forgot to end them.
var ErrSessionsLeaked = errors.New("ssmtest: sessions still live at Close")

// closeWait bounds how long Close waits for handlers to return.
const closeWait = 10 * time.Second

// Close terminates live sessions, runs Hooks.OnClose, stops the listener,
// waits for handlers and the session sweeper, and removes the CA file.
// It reports sessions that were still live (ErrSessionsLeaked) and
// handlers that did not return in time.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.started || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	var errs []error
	if live := s.sessions.live(); len(live) > 0 {
		desc := make([]string, 0, len(live))
		for _, sess := range live {
			desc = append(desc, fmt.Sprintf("%s (%s on %s, %s)", sess.ID, sess.DocumentName, sess.Target, sess.State()))
			s.sessions.terminate(sess.ID, ReasonShutdown)
		}
		errs = append(errs, fmt.Errorf("%w: %s", ErrSessionsLeaked, strings.Join(desc, ", ")))
	}
	if h := s.sessions.getHooks(); h.OnClose != nil {
		h.OnClose()
	}
	// The built-in agents stop first, so that they do not reconnect, then
	// the gateway closes its websockets (http.Server.Close does not reach
	// hijacked connections).
	s.stopBuiltins()
	s.gw.close()
	s.sessions.close()
	if err := s.srv.Close(); err != nil {
		errs = append(errs, fmt.Errorf("ssmtest: close listener: %w", err))
	}
	<-s.serveDone
	s.sniff.wait()
	handlersDone := make(chan struct{})
	go func() {
		s.active.Wait()
		close(handlersDone)
	}()
	timer := time.NewTimer(closeWait)
	defer timer.Stop()
	select {
	case <-handlersDone:
	case <-timer.C:
		errs = append(errs, fmt.Errorf("ssmtest: handlers still running %v after Close", closeWait))
	}
	if err := s.tls.remove(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// URL is the endpoint of every service: https://127.0.0.1:<port>.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.host == "" {
		return ""
	}
	return "https://" + s.host
}

// CAFile is the path of the PEM file holding the CA that issued the
// server's certificate (valid until Close).
func (s *Server) CAFile() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tls == nil {
		return ""
	}
	return s.tls.caFile
}

// ClientTLSConfig returns a TLS configuration trusting the server's CA
// (for websocket dialers and HTTP clients in tests).
func (s *Server) ClientTLSConfig() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tls == nil {
		return nil
	}
	return s.tls.clientConfig()
}

// Region is the AWS region the server answers for.
func (s *Server) Region() string { return s.region }

// Account is the AWS account id of the caller and of every resource.
func (s *Server) Account() string { return s.account }

// Fleet is the server's fleet; change it at run time through its methods.
func (s *Server) Fleet() *Fleet { return s.fleet }

// Faults is the server's fault set; change it at run time.
func (s *Server) Faults() *Faults { return s.faultsSet }

// Sessions is the session registry.
func (s *Server) Sessions() *Sessions { return s.sessions }

func (s *Server) faults() FaultSet { return s.faultsSet.Snapshot() }

// Env returns the environment assignments that point AWS SDKs, the AWS
// CLI and other AWS tools at the server, with fake credentials and
// instance metadata off:
//
//   - AWS_ENDPOINT_URL, for the SDKs and CLIs that take it;
//   - AWS_CA_BUNDLE (SDKs, the AWS CLI) and SSL_CERT_FILE (Go's and
//     OpenSSL's trust store: the official session-manager-plugin's
//     websocket and KMS client, amazon-ssm-agent, curl), both naming the
//     emulator's CA;
//   - HTTPS_PROXY and https_proxy naming the server as a CONNECT proxy,
//     for clients that dial *.amazonaws.com whatever the endpoint says,
//     with NO_PROXY and no_proxy listing loopback, so that what the
//     server hands out on 127.0.0.1 is reached directly (both spellings:
//     Python prefers the lower-case one, Go the upper-case one); left out
//     with Options.DisableConnectProxy.
func (s *Server) Env() []string {
	ca := s.CAFile()
	env := []string{
		"AWS_ENDPOINT_URL=" + s.URL(),
		"AWS_CA_BUNDLE=" + ca,
		"SSL_CERT_FILE=" + ca,
		"AWS_REGION=" + s.region,
		"AWS_DEFAULT_REGION=" + s.region,
		"AWS_ACCESS_KEY_ID=" + FakeAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + FakeSecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if !s.opts.DisableConnectProxy {
		proxy := "http://" + s.hostPort()
		env = append(env, "HTTPS_PROXY="+proxy, "https_proxy="+proxy,
			"NO_PROXY="+noProxy, "no_proxy="+noProxy)
	}
	return env
}

// noProxy is the NO_PROXY list of Env: the loopback names.
const noProxy = "127.0.0.1,localhost,::1"

// ProxyURL is the server as an HTTP CONNECT proxy (http://127.0.0.1:<port>),
// or "" with Options.DisableConnectProxy.
func (s *Server) ProxyURL() string {
	if s.opts.DisableConnectProxy || s.hostPort() == "" {
		return ""
	}
	return "http://" + s.hostPort()
}

func (s *Server) hostPort() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host
}

// listenHost is the host:port clients use for a listening address (the
// loopback address when it listens on every address) and the addresses
// besides loopback that its certificate must name.
func listenHost(a net.Addr) (string, []net.IP) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String(), nil
	}
	port := strconv.Itoa(ta.Port)
	switch {
	case ta.IP.IsUnspecified():
		if ta.IP.To4() == nil {
			return net.JoinHostPort("::1", port), nil
		}
		return net.JoinHostPort("127.0.0.1", port), nil
	case ta.IP.IsLoopback():
		return a.String(), nil
	}
	return a.String(), []net.IP{ta.IP}
}

// AWSConfig returns an aws-sdk-go-v2 configuration for the server: its
// URL as base endpoint of every service, an *http.Client trusting its CA,
// fake static credentials and its region. Nothing is read from the
// environment or shared config files. ctx is reserved for future use.
func (s *Server) AWSConfig(ctx context.Context) (aws.Config, error) {
	if err := ctx.Err(); err != nil {
		return aws.Config{}, err
	}
	tlsCfg := s.ClientTLSConfig()
	if tlsCfg == nil {
		return aws.Config{}, errors.New("ssmtest: AWSConfig: server not started")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	client := &http.Client{Transport: tr}
	return aws.Config{
		Region:       s.region,
		Credentials:  credentials.NewStaticCredentialsProvider(FakeAccessKeyID, FakeSecretAccessKey, ""),
		BaseEndpoint: aws.String(s.URL()),
		HTTPClient:   client,
	}, nil
}
