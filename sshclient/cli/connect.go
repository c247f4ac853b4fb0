package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

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

// Dial resolves the destination, starts a Session Manager session to it
// and logs in over SSH. When login fails without any key to offer, or
// with InstanceConnect, an ephemeral key is pushed through EC2 Instance
// Connect and a new session tried once. The returned Config is the
// resolved one, with Logf and Warnf writing to Stderr.
func (o *Connect) Dial(ctx context.Context) (*ssh.Client, *sshclient.Config, error) {
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
		return nil, nil, err
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

	aws := ssmclient.AWSOptions{Profile: o.Profile, Region: o.Region}
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
		return nil, nil, ssmclient.Explain(err)
	}
	resolver := ssmclient.Resolver{API: client.EC2, Suffix: suffix}
	target, err := resolver.Resolve(ctx, cfg.HostName)
	if err != nil {
		return nil, nil, ssmclient.Explain(err)
	}
	logf(prog+": %s is %s", cfg.HostName, target.ID)
	cfg.HostName = target.ID

	if cfg.User == "" {
		if target.InstanceID == "" {
			return nil, nil, fmt.Errorf("no user name for %s: give one with -l or user@", target.ID)
		}
		cache, _ := ssmclient.DefaultUserCacheFile()
		g := ssmclient.UserGuesser{API: client.EC2, CacheFile: cache}
		user, source, err := g.DefaultUser(ctx, target.InstanceID)
		if err != nil {
			return nil, nil, ssmclient.Explain(err)
		}
		logf(prog+": default user %s (%s)", user, source)
		if err := cfg.SetUser(user); err != nil {
			return nil, nil, err
		}
	}

	port := cfg.Port
	if port == 0 {
		port = sshclient.DefaultPort
	}
	dial := func() (*ssh.Client, error) {
		sess, err := client.StartSession(ctx, ssmclient.StartInput{
			Target:       target.ID,
			DocumentName: ssmclient.DocumentSSH,
			Parameters:   map[string][]string{"portNumber": {strconv.Itoa(port)}},
			Logf:         logf,
		})
		if err != nil {
			return nil, ssmclient.Explain(err)
		}
		return sshclient.Dial(ctx, sess, cfg)
	}
	push := func() error {
		if target.InstanceID == "" {
			return fmt.Errorf("EC2 Instance Connect needs an EC2 instance, not %s", target.ID)
		}
		signer, err := sshclient.PushInstanceConnectKey(ctx, client.EC2InstanceConnect, target.InstanceID, cfg.User)
		if err != nil {
			return ssmclient.Explain(err)
		}
		logf(prog+": pushed an ephemeral key for %s@%s through EC2 Instance Connect", cfg.User, target.InstanceID)
		cfg.ExtraSigners = append([]ssh.Signer{signer}, cfg.ExtraSigners...)
		return nil
	}
	if o.InstanceConnect {
		if err := push(); err != nil {
			return nil, nil, err
		}
		sc, err := dial()
		return sc, cfg, err
	}
	sc, err := dial()
	var authErr *sshclient.AuthError
	if err != nil && errors.As(err, &authErr) && len(authErr.Offered) == 0 && target.InstanceID != "" {
		logf(prog + ": no key to offer; trying EC2 Instance Connect")
		if perr := push(); perr != nil {
			return nil, nil, fmt.Errorf("%s; %s", UserMessage(err), UserMessage(perr))
		}
		sc, err = dial()
	}
	return sc, cfg, err
}
