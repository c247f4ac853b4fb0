package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/sshclient"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// Connect is how ssmssh, ssmscp and ssmsftp reach a destination: one
// implementation of ssh_config resolution, AWS configuration, target
// resolution, the default user, the Session Manager session and the SSH
// login, so the three commands agree on every one of them.
type Connect struct {
	// Program names the command in diagnostics ("ssmssh").
	Program string
	// Destination is "[user@]target" as given on the command line.
	Destination string
	// ConfigFile is -F ("" for ~/.ssh/config, "none" for no file).
	ConfigFile string
	// Settings are ssh_config settings from flags, in order, as
	// [sshclient.FlagSetting] makes them.
	Settings []string
	// Profile and Region override the AWS configuration.
	Profile, Region string
	// InstanceConnect logs in with a key pushed through EC2 Instance
	// Connect instead of trying the configured keys first.
	InstanceConnect bool
	// Verbose prints diagnostics to Stderr; Quiet suppresses warnings.
	Verbose, Quiet bool
	// Stderr receives diagnostics and warnings (nil: os.Stderr).
	Stderr io.Writer
	// Env looks up environment variables (nil: os.Getenv).
	Env func(string) string
	// TargetCache and UserCache are the cache files of resolved names
	// and default users ("": the files in the user's cache directory;
	// "none": no cache).
	TargetCache, UserCache string

	st *dialState // what Dial found, for DialMore
}

func (o *Connect) getenv(k string) string {
	if o.Env != nil {
		return o.Env(k)
	}
	return os.Getenv(k)
}

func (o *Connect) stderr() io.Writer {
	if o.Stderr != nil {
		return o.Stderr
	}
	return os.Stderr
}

// dialState is what Dial resolved once, for the sessions after the first.
type dialState struct {
	prog     string
	logf     func(string, ...any)
	cfg      *sshclient.Config
	client   *ssmclient.Client
	resolver ssmclient.Resolver
	target   ssmclient.Target
	port     int

	mu        sync.Mutex
	decrypted []ssh.Signer // keys the logins so far decrypted, for DialMore
}

// Dial resolves the destination, starts a Session Manager session to it
// and logs in over SSH. When login fails without any key to offer, or
// with InstanceConnect, an ephemeral key is pushed through EC2 Instance
// Connect and a new session tried once. The returned Config is the
// resolved one, with Logf and Warnf writing to Stderr.
//
// Dial makes the fewest AWS calls it can, and makes them at once where
// they do not depend on each other: an instance id needs no lookup, and a
// name looked up in the last [ssmclient.DefaultTargetTTL] is answered by
// the target cache (an entry whose instance no longer answers is dropped
// and the name looked up again); the default user (cached per instance)
// is looked up while StartSession, the data channel and its handshake go
// on, so an instance id with an explicit user costs StartSession and
// nothing else. With Verbose each step's time is logged.
func (o *Connect) Dial(ctx context.Context) (*ssh.Client, *sshclient.Config, error) {
	began := time.Now()
	st, err := o.prepare(ctx)
	if err != nil {
		return nil, nil, err
	}
	name := st.cfg.HostName
	userGiven := st.cfg.User != ""
	target, age, err := o.resolve(ctx, st, name)
	if err != nil {
		return nil, nil, err
	}
	sc, err := o.reach(ctx, st, target, userGiven)
	if err != nil && age >= 0 && notConnected(err) {
		st.logf(st.prog+": %s, cached as %s, does not answer: looking it up again", name, target.ID)
		st.resolver.Forget(name)
		fresh, _, rerr := o.resolve(ctx, st, name)
		if rerr == nil && fresh.ID != target.ID {
			sc, err = o.reach(ctx, st, fresh, userGiven)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	st.logf(st.prog+": connected in %s", ms(time.Since(began)))
	o.st = st
	return sc, st.cfg, nil
}

// notConnected reports whether StartSession answered TargetNotConnected,
// also when the answer has since been refined (ssmclient.DiagnoseNotConnected
// wraps it in an error naming a stopped, terminated or missing instance,
// all of which make a cached name stale).
func notConnected(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if ae, ok := err.(*ssmclient.Error); ok && ae.Code == ssmclient.CodeTargetNotConnected {
			return true
		}
	}
	return false
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// prepare resolves the SSH configuration and loads the AWS one.
func (o *Connect) prepare(ctx context.Context) (*dialState, error) {
	stderr := o.stderr()
	logf := func(string, ...any) {}
	if o.Verbose {
		logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	cfg, err := sshclient.Resolve(o.Destination, sshclient.Options{
		ConfigFile: o.ConfigFile,
		Settings:   o.Settings,
		Home:       o.getenv("HOME"),
		LookupEnv: func(k string) (string, bool) {
			v := o.getenv(k)
			return v, v != ""
		},
		Logf: logf,
	})
	if err != nil {
		return nil, err
	}
	cfg.Logf = logf
	cfg.Warnf = func(format string, args ...any) {
		if !o.Quiet {
			fmt.Fprintf(stderr, format+"\n", args...)
		}
	}
	prog := o.Program
	if prog == "" {
		prog = "ssmssh"
	}

	aws := ssmclient.AWSOptions{Profile: o.Profile, Region: o.Region, Logf: logf}
	suffix := ssmclient.DefaultHostSuffix
	if cfg.UsesSSMProxy {
		if aws.Profile == "" {
			aws.Profile = cfg.SSMProxy.Profile
		}
		if aws.Region == "" {
			aws.Region = cfg.SSMProxy.Region
		}
		if cfg.SSMProxy.HasSuffix {
			suffix = cfg.SSMProxy.Suffix
		}
	}
	client, err := ssmclient.NewClient(ctx, aws)
	if err != nil {
		return nil, ssmclient.Explain(err)
	}
	port := cfg.Port
	if port == 0 {
		port = sshclient.DefaultPort
	}
	st := &dialState{prog: prog, logf: logf, cfg: cfg, client: client, port: port,
		resolver: ssmclient.Resolver{API: client.EC2, Suffix: suffix}}
	cfg.KeyDecrypted = st.keep
	if file := o.cacheFile(o.TargetCache, ssmclient.DefaultTargetCacheFile); file != "" {
		profile := aws.Profile
		if profile == "" {
			profile = o.getenv("AWS_PROFILE")
		}
		endpoint := ""
		if client.Config.BaseEndpoint != nil {
			endpoint = *client.Config.BaseEndpoint
		}
		st.resolver.Cache = &ssmclient.TargetCache{File: file}
		st.resolver.Scope = client.Config.Region + " " + profile + " " + endpoint + " " + o.getenv("AWS_ENDPOINT_URL_EC2")
	}
	return st, nil
}

// cacheFile is the cache file to use: set ("none": none), else the
// default one.
func (o *Connect) cacheFile(set string, def func() (string, error)) string {
	switch set {
	case "none":
		return ""
	case "":
		f, _ := def()
		return f
	}
	return set
}

// resolve turns name into a target, saying at -v how and how fast.
func (o *Connect) resolve(ctx context.Context, st *dialState, name string) (ssmclient.Target, time.Duration, error) {
	t0 := time.Now()
	target, age, err := st.resolver.ResolveCached(ctx, name)
	if err != nil {
		return target, age, ssmclient.Explain(err)
	}
	switch {
	case target.ID == name:
		st.logf(st.prog+": %s is a target id: no lookup", name)
	case age >= 0:
		st.logf(st.prog+": %s is %s (cached %s ago)", name, target.ID, age.Round(time.Second))
	default:
		st.logf(st.prog+": %s is %s (EC2 DescribeInstances, %s)", name, target.ID, ms(time.Since(t0)))
	}
	return target, age, nil
}

// userResult is the outcome of a default-user lookup.
type userResult struct {
	user, source string
	took         time.Duration
	err          error
}

// reach starts a session to target and logs in; the default user, when
// none was given, is looked up at the same time as the session starts.
func (o *Connect) reach(ctx context.Context, st *dialState, target ssmclient.Target, userGiven bool) (*ssh.Client, error) {
	cfg := st.cfg
	cfg.HostName = target.ID
	st.target = target
	var users chan userResult
	if !userGiven {
		if target.InstanceID == "" {
			return nil, fmt.Errorf("no user name for %s: give one with -l or user@", target.ID)
		}
		users = make(chan userResult, 1)
		go func() {
			t0 := time.Now()
			g := ssmclient.UserGuesser{API: st.client.EC2, CacheFile: o.cacheFile(o.UserCache, ssmclient.DefaultUserCacheFile)}
			user, source, err := g.DefaultUser(ctx, target.InstanceID)
			users <- userResult{user, source, time.Since(t0), err}
		}()
	}
	sess, err := st.start(ctx)
	if users != nil {
		u := <-users
		if err == nil && u.err != nil {
			sess.Close()
			err = ssmclient.Explain(u.err)
		}
		if err == nil {
			st.logf(st.prog+": default user %s (%s; %s, beside StartSession)", u.user, u.source, ms(u.took))
			if err = cfg.SetUser(u.user); err != nil {
				sess.Close()
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if o.InstanceConnect {
		if err := st.push(ctx); err != nil {
			sess.Close()
			return nil, err
		}
	}
	sc, err := st.login(ctx, sess, cfg)
	var authErr *sshclient.AuthError
	if err != nil && !o.InstanceConnect && errors.As(err, &authErr) && len(authErr.Offered) == 0 && target.InstanceID != "" {
		st.logf(st.prog + ": no key to offer; trying EC2 Instance Connect")
		if perr := st.push(ctx); perr != nil {
			return nil, fmt.Errorf("%s; %s", UserMessage(err), UserMessage(perr))
		}
		if sess, err = st.start(ctx); err != nil {
			return nil, err
		}
		sc, err = st.login(ctx, sess, cfg)
	}
	return sc, err
}

// start starts a session of AWS-StartSSHSession to the target, timed at -v.
func (st *dialState) start(ctx context.Context) (*ssmclient.Session, error) {
	t0 := time.Now()
	sess, err := st.client.StartSession(ctx, ssmclient.StartInput{
		Target:       st.target.ID,
		DocumentName: ssmclient.DocumentSSH,
		Parameters:   map[string][]string{"portNumber": {strconv.Itoa(st.port)}},
		Logf:         st.logf,
	})
	if err != nil {
		return nil, ssmclient.DiagnoseNotConnected(ctx, st.client.EC2, st.client.Config.Region, st.target, ssmclient.Explain(err))
	}
	st.logf(st.prog+": session %s: StartSession, data channel and handshake in %s", sess.ID, ms(time.Since(t0)))
	return sess, nil
}

// login runs SSH over sess, timed at -v.
func (st *dialState) login(ctx context.Context, sess *ssmclient.Session, cfg *sshclient.Config) (*ssh.Client, error) {
	t0 := time.Now()
	sc, err := sshclient.Dial(ctx, sess, cfg)
	if err == nil {
		st.logf(st.prog+": session %s: SSH login in %s", sess.ID, ms(time.Since(t0)))
	}
	return sc, err
}

// push sends an ephemeral key through EC2 Instance Connect and offers it
// first from now on (on every later session too).
func (st *dialState) push(ctx context.Context) error {
	cfg := st.cfg
	if st.target.InstanceID == "" {
		return fmt.Errorf("EC2 Instance Connect needs an EC2 instance, not %s", st.target.ID)
	}
	signer, err := sshclient.PushInstanceConnectKey(ctx, st.client.EC2InstanceConnect, st.target.InstanceID, cfg.User)
	if err != nil {
		return ssmclient.Explain(err)
	}
	st.logf(st.prog+": pushed an ephemeral key for %s@%s through EC2 Instance Connect", cfg.User, st.target.InstanceID)
	cfg.ExtraSigners = append([]ssh.Signer{signer}, cfg.ExtraSigners...)
	return nil
}

// keep remembers a key a login decrypted with a passphrase
// (sshclient.Config.KeyDecrypted).
func (st *dialState) keep(file string, s ssh.Signer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.decrypted = append(st.decrypted, s)
	st.logf(st.prog+": %s decrypted; later sessions offer it without asking", file)
}

// DialMore opens one more SSH connection to the destination a successful
// Dial reached, over a session of its own: the same target, user, keys
// and host key, with no lookup. A key pushed through EC2 Instance Connect
// for Dial is offered again, not pushed again (the instance accepts it
// for 60 seconds), and so is a key Dial decrypted with a passphrase, held
// in memory, not asked for again. Nothing is asked on the terminal
// (BatchMode): a login that needed a password or keyboard-interactive
// answers the first time fails here, and the caller goes on with the
// connections it has. DialMore may be called from several goroutines at
// once.
func (o *Connect) DialMore(ctx context.Context) (*ssh.Client, error) {
	st := o.st
	if st == nil {
		return nil, errors.New("DialMore before a successful Dial")
	}
	st.mu.Lock()
	cfg := *st.cfg
	cfg.BatchMode = true
	cfg.ExtraSigners = append(slices.Clip(st.decrypted), st.cfg.ExtraSigners...)
	st.mu.Unlock()
	sess, err := st.start(ctx)
	if err != nil {
		return nil, err
	}
	return st.login(ctx, sess, &cfg)
}

// ParseSessions parses --sessions: a number from 1 to MaxSessions.
func ParseSessions(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxSessions {
		return 0, fmt.Errorf("want a number of sessions from 1 to %d", MaxSessions)
	}
	return n, nil
}

// MaxSessions bounds --sessions and SSMSessions: each session is a
// StartSession, a websocket and an SSH login, and Session Manager limits
// how many a caller starts per second.
const MaxSessions = 16

// Sessions is the number of sessions a copy may use: flag (--sessions)
// when given, else cfg's SSMSessions, else def; at most MaxSessions.
func Sessions(flag int, cfg *sshclient.Config, def int) int {
	n := flag
	if n == 0 && cfg != nil {
		n = cfg.Sessions
	}
	if n == 0 {
		n = def
	}
	return min(n, MaxSessions)
}

// SFTPDialer returns a function that opens one more SFTP connection to
// the destination c reached (see Connect.DialMore), for
// scp.Options.Dial; the function it returns closes the SFTP client and
// the SSH connection.
func SFTPDialer(c *Connect, opts ...sftp.ClientOption) func(context.Context) (*sftp.Client, func(), error) {
	return func(ctx context.Context) (*sftp.Client, func(), error) {
		sc, err := c.DialMore(ctx)
		if err != nil {
			return nil, nil, errors.New(UserMessage(err))
		}
		client, err := sftp.NewClient(sc, opts...)
		if err != nil {
			sc.Close()
			return nil, nil, fmt.Errorf("start SFTP: %s", UserMessage(err))
		}
		return client, func() { client.Close(); sc.Close() }, nil
	}
}
