package sshdtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SshdPath is where sshd must be: sshd re-executes itself and insists on
// being started by absolute path.
const SshdPath = "/usr/sbin/sshd"

// startTimeout bounds the wait for sshd to report that it listens.
const startTimeout = 15 * time.Second

// bindAttempts is how often Start picks a new port when another process
// took the free one before sshd could bind it.
const bindAttempts = 5

// sftpServers are the usual homes of OpenSSH's sftp-server; when none
// exists the daemon uses its built-in internal-sftp.
var sftpServers = []string{
	"/usr/lib/openssh/sftp-server",
	"/usr/libexec/openssh/sftp-server",
	"/usr/libexec/sftp-server",
	"/usr/lib/ssh/sftp-server",
}

// Options configures the daemon. The zero value gives a daemon that
// accepts only the generated client key.
type Options struct {
	// AuthorizedKeys are authorised for login in addition to the
	// generated client key.
	AuthorizedKeys []ssh.PublicKey

	// AuthorizedKeysLines are extra authorized_keys lines, options
	// included.
	AuthorizedKeysLines []string

	// AuthorizedKeysCommand is sshd's AuthorizedKeysCommand, run as
	// AuthorizedKeysCommandUser (default the current user). sshd refuses
	// a command that is not owned by root or the user, or that sits in a
	// group- or world-writable directory such as /tmp.
	AuthorizedKeysCommand     string
	AuthorizedKeysCommandUser string

	// ExtraConfig lines are placed before the defaults, so they override
	// them (sshd keeps the first value of a keyword). Lines from the first
	// "Match" on go after the defaults, where Match blocks belong.
	ExtraConfig []string
}

// Sshd is a running sshd.
type Sshd struct {
	// Addr is the daemon's address, 127.0.0.1:port.
	Addr string
	// User is the login name: the current OS user, the only one an sshd
	// started by this process can serve (unless that is root).
	User string
	// ClientKeyFile is an unencrypted OpenSSH private key file authorised
	// for login; ClientSigner is the same key.
	ClientKeyFile string
	ClientSigner  ssh.Signer
	// Dir is the temporary directory holding the configuration, keys and
	// KnownHostsFile.
	Dir string
	// KnownHostsFile holds KnownHostsLine("").
	KnownHostsFile string

	hostKey ssh.PublicKey
	proc    *daemon
}

// Start starts sshd and registers its shutdown with t.Cleanup. It skips
// the test if sshd is not installed and fails it if the daemon does not
// come up.
func Start(t testing.TB, opts Options) *Sshd {
	t.Helper()
	if _, err := os.Stat(SshdPath); err != nil {
		t.Skipf("sshdtest: OpenSSH server not installed (%v); install openssh-server to run this test", err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshdtest: current user: %v", err)
	}
	if os.Geteuid() == 0 {
		// The privilege separation directory sshd chroots into.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
	}
	dir := t.TempDir()
	s := &Sshd{User: u.Username, Dir: dir}

	hostKeyFile, hostSigner := KeyPair(t, dir, "ssh_host_ed25519_key")
	s.hostKey = hostSigner.PublicKey()
	s.ClientKeyFile, s.ClientSigner = KeyPair(t, dir, "id_ed25519")

	var ak bytes.Buffer
	for _, k := range append([]ssh.PublicKey{s.ClientSigner.PublicKey()}, opts.AuthorizedKeys...) {
		ak.Write(ssh.MarshalAuthorizedKey(k))
	}
	for _, l := range opts.AuthorizedKeysLines {
		ak.WriteString(strings.TrimRight(l, "\n") + "\n")
	}
	akFile := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(akFile, ak.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	var lastLog string
	for range bindAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cfgFile := filepath.Join(dir, "sshd_config")
		cfg := config(s.Addr, hostKeyFile, akFile, u.Username, opts)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := startDaemon(cfgFile)
		if err != nil {
			t.Fatalf("sshdtest: %v", err)
		}
		if err := d.waitListening(startTimeout); err != nil {
			lastLog = d.log()
			d.stop()
			if errors.Is(err, errBind) {
				continue
			}
			t.Fatalf("sshdtest: %v\nsshd log:\n%s", err, lastLog)
		}
		s.proc = d
		t.Cleanup(func() {
			d.stop()
			if t.Failed() {
				t.Logf("sshdtest: sshd log:\n%s", d.log())
			}
		})
		break
	}
	if s.proc == nil {
		t.Fatalf("sshdtest: no free port after %d attempts; last sshd log:\n%s", bindAttempts, lastLog)
	}

	s.KnownHostsFile = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(s.KnownHostsFile, []byte(s.KnownHostsLine("")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// config is the sshd_config text for a daemon on addr.
func config(addr, hostKey, authorizedKeys, user string, opts Options) string {
	var before, after []string
	for i, l := range opts.ExtraConfig {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "Match") {
			after = opts.ExtraConfig[i:]
			break
		}
		before = append(before, l)
	}
	sftp := "internal-sftp"
	for _, p := range sftpServers {
		if _, err := os.Stat(p); err == nil {
			sftp = p
			break
		}
	}
	lines := append(before,
		"ListenAddress "+addr,
		"HostKey "+hostKey,
		"AuthorizedKeysFile "+authorizedKeys,
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		"MaxStartups 100",
		"MaxSessions 100",
		"AcceptEnv LANG LC_*",
		"Subsystem sftp "+sftp,
		// VERBOSE is the level that reports "Server listening on".
		"LogLevel VERBOSE",
	)
	if opts.AuthorizedKeysCommand != "" {
		cmdUser := opts.AuthorizedKeysCommandUser
		if cmdUser == "" {
			cmdUser = user
		}
		lines = append(lines,
			"AuthorizedKeysCommand "+opts.AuthorizedKeysCommand,
			"AuthorizedKeysCommandUser "+cmdUser)
	}
	lines = append(lines, after...)
	return strings.Join(lines, "\n") + "\n"
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// KeyPair writes a new unencrypted Ed25519 private key in OpenSSH format
// to dir/name (mode 0600) and returns the path and the key.
func KeyPair(t testing.TB, dir, name string) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return path, signer
}

// HostKey returns the daemon's public host key.
func (s *Sshd) HostKey() ssh.PublicKey { return s.hostKey }

// KnownHostsLine returns a known_hosts line for the daemon's host key
// naming [127.0.0.1]:port and, if not empty, alias (a Host alias or a
// HostKeyAlias).
func (s *Sshd) KnownHostsLine(alias string) string {
	hosts := []string{knownhosts.Normalize(s.Addr)}
	if alias != "" {
		hosts = append([]string{alias}, hosts...)
	}
	return knownhosts.Line(hosts, s.hostKey)
}

// ClientConfig logs in as User with the client key and verifies the host
// key.
func (s *Sshd) ClientConfig() *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(s.ClientSigner)},
		HostKeyCallback: ssh.FixedHostKey(s.hostKey),
		Timeout:         10 * time.Second,
	}
}

// Dial connects and logs in with ClientConfig; the client is closed in
// t.Cleanup.
func (s *Sshd) Dial(t testing.TB) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig())
	if err != nil {
		t.Fatalf("sshdtest: dial %s: %v\nsshd log:\n%s", s.Addr, err, s.Log())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// SSHOptions are command-line options that make OpenSSH's ssh, scp and
// sftp log in to this daemon with the client key, verify its host key
// against KnownHostsFile and read nothing from ~/.ssh, /etc/ssh or an
// agent. The destination is the host 127.0.0.1 (the port and user are in
// the options); with HostKeyAlias or a ProxyCommand, add a KnownHostsLine
// for the alias to KnownHostsFile.
func (s *Sshd) SSHOptions() []string {
	_, port, _ := net.SplitHostPort(s.Addr)
	opts := []string{"-F", "/dev/null"}
	for _, kv := range []string{
		"UserKnownHostsFile=" + s.KnownHostsFile,
		"GlobalKnownHostsFile=/dev/null",
		"StrictHostKeyChecking=yes",
		"UpdateHostKeys=no",
		"IdentitiesOnly=yes",
		"IdentityAgent=none",
		"IdentityFile=" + s.ClientKeyFile,
		"BatchMode=yes",
		"ControlPath=none",
		"ConnectTimeout=10",
		"LogLevel=ERROR",
		"Port=" + port,
		"User=" + s.User,
	} {
		opts = append(opts, "-o", kv)
	}
	return opts
}

// Log returns what sshd has written to its log so far.
func (s *Sshd) Log() string { return s.proc.log() }

// errBind is a daemon that could not bind its port.
var errBind = errors.New("sshd could not bind its port")

// daemon is one sshd process and its log.
type daemon struct {
	cmd    *exec.Cmd
	logR   *os.File
	exited chan struct{} // closed after cmd.Wait returned
	read   chan struct{} // closed when the log reader stopped

	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan struct{} // closed at "Server listening on"
}

func startDaemon(cfgFile string) (*daemon, error) {
	logR, logW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(SshdPath, "-D", "-e", "-f", cfgFile)
	cmd.Stdout, cmd.Stderr = logW, logW
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	logW.Close()
	if err != nil {
		logR.Close()
		return nil, fmt.Errorf("start %s: %w", SshdPath, err)
	}
	d := &daemon{
		cmd:       cmd,
		logR:      logR,
		exited:    make(chan struct{}),
		read:      make(chan struct{}),
		listening: make(chan struct{}),
	}
	go func() {
		defer close(d.read)
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			d.mu.Lock()
			d.buf.Write(sc.Bytes())
			d.buf.WriteByte('\n')
			if strings.HasPrefix(sc.Text(), "Server listening on ") {
				select {
				case <-d.listening:
				default:
					close(d.listening)
				}
			}
			d.mu.Unlock()
		}
	}()
	go func() {
		cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

// waitListening waits until sshd reports it listens, it exits (errBind if
// its port was taken) or timeout passes.
func (d *daemon) waitListening(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-d.listening:
		return nil
	case <-d.exited:
		<-d.read // the whole log, to tell why
		if strings.Contains(d.log(), "Cannot bind any address") {
			return errBind
		}
		return fmt.Errorf("sshd exited at start: %v", d.cmd.ProcessState)
	case <-timer.C:
		return fmt.Errorf("sshd did not report listening within %v", timeout)
	}
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}

// stop kills sshd and every process it forked. Each connection is served
// by a child that calls setsid, so the process group is not enough: the
// tree is collected from /proc while the listener still holds it together,
// then killed.
func (d *daemon) stop() {
	select {
	case <-d.exited:
	default:
		pid := d.cmd.Process.Pid
		tree := Descendants(pid)
		d.cmd.Process.Kill()
		for _, p := range tree {
			syscall.Kill(p, syscall.SIGKILL)
		}
		<-d.exited
	}
	// Killed children close their ends of the log pipe at once; closing
	// ours ends the reader even if one escaped.
	d.logR.Close()
	<-d.read
}

// Descendants returns the pids of all processes below pid, read from
// /proc/*/stat.
func Descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
