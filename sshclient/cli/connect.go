package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/crypto/ssh"

	"github.com/ssmssh/ssmssh/sshclient"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// connect resolves the destination, starts a Session Manager session to
// it and logs in over SSH. When login fails without any key to offer, or
// with --instance-connect, an ephemeral key is pushed through EC2
// Instance Connect and a new session tried once.
func (c *SSH) connect(ctx context.Context, o options) (*ssh.Client, *sshclient.Config, error) {
	logf := func(string, ...any) {}
	if o.verbose {
		logf = func(format string, args ...any) { fmt.Fprintf(c.Stderr, format+"\n", args...) }
	}
	cfg, err := sshclient.Resolve(o.destination, sshclient.Options{
		ConfigFile: o.configFile,
		Settings:   o.settings,
		Home:       c.getenv("HOME"),
		LookupEnv: func(k string) (string, bool) {
			v := c.getenv(k)
			return v, v != ""
		},
		Logf: logf,
	})
	if err != nil {
		return nil, nil, err
	}
	cfg.Logf = logf
	cfg.Warnf = func(format string, args ...any) {
		if !o.quiet {
			fmt.Fprintf(c.Stderr, format+"\n", args...)
		}
	}

	aws := ssmclient.AWSOptions{Profile: o.profile, Region: o.region}
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
	logf("ssmssh: %s is %s", cfg.HostName, target.ID)
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
		logf("ssmssh: default user %s (%s)", user, source)
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
		logf("ssmssh: pushed an ephemeral key for %s@%s through EC2 Instance Connect", cfg.User, target.InstanceID)
		cfg.ExtraSigners = append([]ssh.Signer{signer}, cfg.ExtraSigners...)
		return nil
	}
	if o.instanceConnect {
		if err := push(); err != nil {
			return nil, nil, err
		}
		sc, err := dial()
		return sc, cfg, err
	}
	sc, err := dial()
	var authErr *sshclient.AuthError
	if err != nil && errors.As(err, &authErr) && len(authErr.Offered) == 0 && target.InstanceID != "" {
		logf("ssmssh: no key to offer; trying EC2 Instance Connect")
		if perr := push(); perr != nil {
			return nil, nil, fmt.Errorf("%s; %s", userMessage(err), userMessage(perr))
		}
		sc, err = dial()
	}
	return sc, cfg, err
}
