package sshclient

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// DefaultPort is the SSH port used when none is configured.
const DefaultPort = 22

// Config is a resolved SSH configuration for one destination, as
// [Resolve] computes it from the command line and ssh_config files, or as
// a program fills it in. Dial uses the connection fields and the hooks at
// the end; the rest is for the program (forwarding, the proxy, the TTY).
type Config struct {
	// Host is the destination's host as typed (ssh's %n), which Host
	// patterns are matched against.
	Host string
	// HostName is the host to reach: HostName with %h expanded, else
	// Host in lower case. A program that resolves it to an instance id
	// should store the id here, so known_hosts is keyed by it.
	HostName string
	// User is the login name; empty when neither the command line, the
	// destination nor a file gave one (the program picks a default).
	User string
	// Port is the remote port (0 means DefaultPort).
	Port int

	// IdentityFiles are the private key files to try, in order, ~ and
	// tokens expanded. DefaultIdentities is true when none were
	// configured and these are OpenSSH's defaults.
	IdentityFiles     []string
	DefaultIdentities bool
	// IdentitiesOnly restricts agent keys to those of IdentityFiles.
	IdentitiesOnly bool
	// IdentityAgent is the agent socket: "" means $SSH_AUTH_SOCK, "none"
	// disables the agent.
	IdentityAgent string
	// BatchMode disables every prompt (passphrases, host keys,
	// passwords).
	BatchMode bool
	// PreferredAuthentications are the methods to use, in order, from
	// publickey, keyboard-interactive and password (nil: all three, in
	// that order). Resolve leaves out those PubkeyAuthentication,
	// KbdInteractiveAuthentication and PasswordAuthentication disable.
	PreferredAuthentications []string
	// NumberOfPasswordPrompts bounds passphrase and password attempts
	// (0: 3).
	NumberOfPasswordPrompts int

	// StrictHostKeyChecking is the policy for unknown host keys.
	StrictHostKeyChecking StrictHostKeyChecking
	// UserKnownHostsFiles are read and the first is written; expanded.
	// GlobalKnownHostsFiles are only read.
	UserKnownHostsFiles   []string
	GlobalKnownHostsFiles []string
	// HashKnownHosts writes new known_hosts entries with hashed names.
	HashKnownHosts bool
	// HostKeyAlias replaces the host name in known_hosts.
	HostKeyAlias string

	// ServerAliveInterval is how often a keepalive@openssh.com request is
	// sent (0: never); ServerAliveCountMax how many may go unanswered
	// before the connection is closed (0: 3).
	ServerAliveInterval time.Duration
	ServerAliveCountMax int
	// Sessions is SSMSessions, ssmssh's own keyword: how many Session
	// Manager sessions (SSH connections) ssmscp and ssmsftp may copy over
	// at once (0: the program's default). OpenSSH rejects keywords it
	// does not know: a file shared with ssh needs "IgnoreUnknown
	// SSMSessions" before it.
	Sessions int
	// ConnectTimeout bounds the SSH handshake and authentication (0: no
	// limit beyond the context).
	ConnectTimeout time.Duration

	// LocalForwards are the -L and LocalForward specifications.
	LocalForwards []Forward
	// ExitOnForwardFailure: a forwarding that cannot be set up is fatal.
	ExitOnForwardFailure bool
	// RequestTTY is RequestTTY: "" (auto), "yes", "no", "force".
	RequestTTY string
	// EscapeChar is the interactive escape character (0: '~'); -1
	// disables escapes ("EscapeChar none").
	EscapeChar rune

	// ProxyCommand is the ProxyCommand as configured, tokens unexpanded
	// ("" for none). UsesSSMProxy is true when it runs ssmproxy or the AWS
	// CLI's AWS-StartSSHSession session; SSMProxy then holds its
	// arguments, tokens expanded.
	ProxyCommand string
	UsesSSMProxy bool
	SSMProxy     SSMProxy

	// Prompter asks for passphrases, passwords and host-key confirmation
	// (nil: a ssmclient.TTYPrompter on the controlling terminal; never
	// stdin).
	Prompter ssmclient.Prompter
	// ExtraSigners are offered before any other key, e.g. the ephemeral
	// key pushed with PushInstanceConnectKey.
	ExtraSigners []ssh.Signer
	// KeyDecrypted, when set, is called with each identity file a login
	// decrypted with a passphrase and the key it holds, so that later
	// connections to the same host can offer the key (in ExtraSigners)
	// without asking again, as OpenSSH's multiplexed connections share
	// one login. It may be called from the goroutine of any Dial.
	KeyDecrypted func(file string, s ssh.Signer)
	// HostKeyCallback, when set, replaces known_hosts verification.
	HostKeyCallback ssh.HostKeyCallback
	// Warnf receives what OpenSSH prints even without -v (added host
	// keys, inaccessible identity files, keepalive timeouts); nil
	// discards it. Logf receives diagnostics (-v).
	Warnf func(format string, args ...any)
	Logf  func(format string, args ...any)

	set *settings // every keyword's value, for Lookup
	tok *tokens   // for SetUser
	raw rawPaths
}

// rawPaths are the unexpanded values SetUser expands again.
type rawPaths struct {
	identityFiles []string
	userKnown     []string
	identityAgent string
	getenv        func(string) (string, bool)
}

// Options are the command-line side of [Resolve].
type Options struct {
	// ConfigFile is -F: read only this file ("none": no file at all).
	// Empty reads ~/.ssh/config and then SystemConfigFile.
	ConfigFile string
	// Settings are the command-line settings in the order given, each
	// "Keyword=value" or "Keyword value": -o arguments as they are, and
	// -l, -p, -i, -L as returned by [FlagSetting]. As in OpenSSH the first
	// value given for a keyword wins, and these come before the
	// destination's user@ and :port and before any file.
	Settings []string

	// Home is the home directory for ~, %d, ~/.ssh/config and the default
	// identities (default os.UserHomeDir()).
	Home string
	// SystemConfigFile is read after the user's file (default
	// /etc/ssh/ssh_config; "none" skips it).
	SystemConfigFile string
	// LocalUser (%u), LocalHost (%l) and UID (%i) default to the current
	// process's.
	LocalUser string
	LocalHost string
	UID       *int
	// LookupEnv looks up ${VAR} references (default os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// Logf receives diagnostics.
	Logf func(format string, args ...any)
}

// FlagSetting turns an ssh command-line flag into the Settings entry that
// means the same: -l user, -p port, -i file, -L spec, -o option.
func FlagSetting(flag, value string) (string, error) {
	switch strings.TrimLeft(flag, "-") {
	case "l":
		return "User=" + value, nil
	case "p":
		return "Port=" + value, nil
	case "i":
		return "IdentityFile=" + quoteArg(value), nil
	case "L":
		f, err := ParseForward(value)
		if err != nil {
			return "", err
		}
		return "LocalForward=" + f.configValue(), nil
	case "o":
		return value, nil
	}
	return "", fmt.Errorf("sshclient: flag %s has no ssh_config equivalent", flag)
}

// quoteArg quotes s for splitArgs when it needs it.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\#") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Resolve computes the configuration for destination ("[user@]host" or
// "ssh://[user@]host[:port]") as OpenSSH does: command-line settings
// first, then the destination's user and port, then the configuration
// files, the first value of each keyword winning; then HostName and the
// %-tokens. Host and Match blocks (criteria all, host, originalhost, user,
// localuser, canonical, final) and Include are evaluated here; "Match
// exec" is never run and does not match. Nothing but the configuration
// files is read.
func Resolve(destination string, opts Options) (*Config, error) {
	destUser, host, destPort, err := splitDestination(destination)
	if err != nil {
		return nil, err
	}
	t, lookupEnv, err := opts.tokens()
	if err != nil {
		return nil, err
	}
	t.original = host

	set := newSettings()
	for _, s := range opts.Settings {
		keyword, rest := splitLine(s)
		if keyword == "" {
			continue
		}
		args, err := splitArgs(rest)
		if err != nil {
			return nil, fmt.Errorf("sshclient: option %q: %w", s, err)
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("sshclient: option %q has no value", s)
		}
		set.add(keyword, setting{rest: rest, args: args, source: "command line"})
	}
	if _, ok := set.get("user"); !ok && destUser != "" {
		set.add("user", setting{rest: destUser, args: []string{destUser}, source: "destination"})
	}
	if _, ok := set.get("port"); !ok && destPort != "" {
		set.add("port", setting{rest: destPort, args: []string{destPort}, source: "destination"})
	}

	state := &matchState{host: host, original: host, localUser: t.localUser, logf: opts.Logf}
	state.user = func() string {
		if v, ok := set.get("user"); ok && len(v.args) > 0 {
			return v.args[0]
		}
		return t.localUser
	}
	state.hostName = func() string {
		if _, ok := set.get("hostname"); ok {
			if hn, err := resolveHostName(set, host); err == nil {
				return hn
			}
		}
		return state.host
	}
	r := &fileReader{home: t.home, set: set, state: state}
	readAll := func() error {
		switch opts.ConfigFile {
		case "none":
			return nil
		case "":
			if err := r.readFile(filepath.Join(t.home, ".ssh", "config"), false, true, 0); err != nil {
				return err
			}
			sys := opts.SystemConfigFile
			if sys == "" {
				sys = "/etc/ssh/ssh_config"
			}
			if sys == "none" {
				return nil
			}
			return r.readFile(sys, true, true, 0)
		default:
			p, err := expandTilde(opts.ConfigFile, t.home)
			if err != nil {
				return fmt.Errorf("sshclient: -F: %w", err)
			}
			return r.readFile(p, false, false, 0)
		}
	}
	if err := readAll(); err != nil {
		return nil, err
	}
	hostName, err := resolveHostName(set, host)
	if err != nil {
		return nil, err
	}
	if state.wantFinal {
		// "Match final": read everything again with the host name known,
		// as OpenSSH's second pass does. Values already set stay.
		state.final, state.host = true, hostName
		if err := readAll(); err != nil {
			return nil, err
		}
		if hostName, err = resolveHostName(set, host); err != nil {
			return nil, err
		}
	}
	t.host = hostName

	c := &Config{Host: host, HostName: hostName, set: set, tok: t}
	c.raw.getenv = lookupEnv
	if err := c.interpret(set); err != nil {
		return nil, err
	}
	return c, nil
}

// resolveHostName applies HostName (with %h) or lower-cases the alias.
func resolveHostName(set *settings, host string) (string, error) {
	v, ok := set.get("hostname")
	if !ok || len(v.args) == 0 {
		return strings.ToLower(host), nil
	}
	t := tokens{host: host}
	hn, err := t.expand(v.args[0], tokensHostName)
	if err != nil {
		return "", fmt.Errorf("sshclient: %s: HostName: %w", v.source, err)
	}
	return hn, nil
}

// splitDestination parses "[user@]host" and "ssh://[user@]host[:port]".
func splitDestination(dest string) (user, host, port string, err error) {
	if strings.HasPrefix(dest, "ssh://") {
		u, err := url.Parse(dest)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", "", "", fmt.Errorf("sshclient: bad destination %q", dest)
		}
		if u.User != nil {
			user = u.User.Username()
		}
		return user, u.Hostname(), u.Port(), nil
	}
	if i := strings.LastIndexByte(dest, '@'); i >= 0 {
		user, dest = dest[:i], dest[i+1:]
	}
	if dest == "" {
		return "", "", "", errors.New("sshclient: no host in destination")
	}
	return user, dest, "", nil
}

// tokens returns the local side of the %-tokens.
func (o *Options) tokens() (*tokens, func(string) (string, bool), error) {
	t := &tokens{home: o.Home, localUser: o.LocalUser, localHost: o.LocalHost, uid: os.Getuid()}
	if o.UID != nil {
		t.uid = *o.UID
	}
	if t.home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, nil, fmt.Errorf("sshclient: %w", err)
		}
		t.home = h
	}
	if t.localUser == "" {
		u, err := user.Current()
		if err != nil {
			return nil, nil, fmt.Errorf("sshclient: current user: %w", err)
		}
		t.localUser = u.Username
	}
	if t.localHost == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, nil, fmt.Errorf("sshclient: %w", err)
		}
		t.localHost = h
	}
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return t, lookup, nil
}

// expand computes the token-dependent fields from the raw values.
func (c *Config) expand() error {
	t := c.tok
	t.port = c.Port
	t.user = c.User
	if t.user == "" {
		t.user = t.localUser // what OpenSSH would log in as
	}
	t.alias = c.HostKeyAlias
	if t.alias == "" {
		t.alias = t.original
	}
	var err error
	c.IdentityFiles = c.IdentityFiles[:0]
	for _, f := range c.raw.identityFiles {
		p, e := t.expandPath(f, c.raw.getenv)
		if e != nil {
			return fmt.Errorf("sshclient: IdentityFile: %w", e)
		}
		c.IdentityFiles = append(c.IdentityFiles, p)
	}
	c.UserKnownHostsFiles = nil
	if !(len(c.raw.userKnown) == 1 && c.raw.userKnown[0] == "none") {
		for _, f := range c.raw.userKnown {
			p, e := t.expandPath(f, c.raw.getenv)
			if e != nil {
				return fmt.Errorf("sshclient: UserKnownHostsFile: %w", e)
			}
			c.UserKnownHostsFiles = append(c.UserKnownHostsFiles, p)
		}
	}
	c.IdentityAgent = ""
	switch a := c.raw.identityAgent; {
	case a == "", a == "SSH_AUTH_SOCK":
	case strings.EqualFold(a, "none"):
		c.IdentityAgent = "none"
	case strings.HasPrefix(a, "$"):
		v, _ := c.raw.getenv(strings.TrimPrefix(a, "$"))
		c.IdentityAgent = v
	default:
		if c.IdentityAgent, err = t.expandPath(a, c.raw.getenv); err != nil {
			return fmt.Errorf("sshclient: IdentityAgent: %w", err)
		}
	}
	c.UsesSSMProxy, c.SSMProxy = false, SSMProxy{}
	if c.ProxyCommand != "" {
		cmd, err := t.expand(c.ProxyCommand, tokensFile)
		if err != nil {
			return fmt.Errorf("sshclient: ProxyCommand: %w", err)
		}
		c.SSMProxy, c.UsesSSMProxy = parseSSMProxy(cmd)
	}
	return nil
}

// SetUser sets User after Resolve (to the default user a program picked)
// and expands the %r token again where it was used.
func (c *Config) SetUser(user string) error {
	c.User = user
	if c.tok == nil {
		return nil
	}
	return c.expand()
}

// Lookup returns the raw value of any ssh_config keyword as resolved (the
// first value; for list keywords such as IdentityFile, the first of
// them), and whether it was set.
func (c *Config) Lookup(keyword string) (string, bool) {
	if c.set == nil {
		return "", false
	}
	k := strings.ToLower(keyword)
	if multiKeywords[k] {
		if vs := c.set.multi[k]; len(vs) > 0 {
			return vs[0].rest, true
		}
		return "", false
	}
	v, ok := c.set.first[k]
	return v.rest, ok
}

// HostKeyName is the name the host key is filed under in known_hosts:
// HostKeyAlias if set, else HostName, as "[name]:port" when the port is
// not 22.
func (c *Config) HostKeyName() string {
	if c.HostKeyAlias != "" {
		return c.HostKeyAlias
	}
	port := c.Port
	if port == 0 {
		port = DefaultPort
	}
	if port == DefaultPort {
		return c.HostName
	}
	return "[" + c.HostName + "]:" + strconv.Itoa(port)
}

// hostKeyAddr is HostKeyName as the host:port the knownhosts package
// wants.
func (c *Config) hostKeyAddr() string {
	if c.HostKeyAlias != "" {
		return net.JoinHostPort(c.HostKeyAlias, strconv.Itoa(DefaultPort))
	}
	port := c.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(c.HostName, strconv.Itoa(port))
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

func (c *Config) warnf(format string, args ...any) {
	if c.Warnf != nil {
		c.Warnf(format, args...)
	}
}

// prompter is the configured Prompter, a terminal one by default, or
// one that fails in BatchMode.
func (c *Config) prompter() ssmclient.Prompter {
	if c.BatchMode {
		return ssmclient.PrompterFunc(func(string, bool) (string, error) {
			return "", errBatchMode
		})
	}
	if c.Prompter != nil {
		return c.Prompter
	}
	return &ssmclient.TTYPrompter{}
}

// errBatchMode is what prompting fails with in BatchMode.
var errBatchMode = errors.New("sshclient: prompting is disabled (BatchMode)")

// authMethods is PreferredAuthentications or the default.
func (c *Config) authMethods() []string {
	if c.PreferredAuthentications == nil {
		return defaultAuthMethods
	}
	return c.PreferredAuthentications
}
