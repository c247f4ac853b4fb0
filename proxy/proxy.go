package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/ssmssh/ssmssh/internal/iox"
	"github.com/ssmssh/ssmssh/ssmclient"
)

// Config configures one proxied connection.
type Config struct {
	// Host is the target as ssh passes it (%h): an instance id (i-…,
	// mi-…), an ECS target (ecs:cluster_task_container), or a name that
	// resolves through EC2 (Name tag, private DNS name, private IP).
	Host string
	// Port is the remote port (%p); it becomes the portNumber parameter.
	Port string
	// DocumentName is the session document (default AWS-StartSSHSession).
	DocumentName string
	// Parameters are extra document parameters.
	Parameters map[string][]string
	// HostSuffix is stripped from Host before resolving (default ".ssm",
	// so a "Host *.ssm" block maps web-1.ssm to the instance named web-1).
	HostSuffix string
	// AWS selects the profile and region.
	AWS ssmclient.AWSOptions
	// Client, when set, is used instead of loading AWS configuration.
	Client *ssmclient.Client
	// Logf receives diagnostics (stderr with -v); nil discards them.
	Logf func(format string, args ...any)
}

// Run starts an SSH session to cfg.Host and joins its data stream to rw
// (stdin/stdout in ProxyCommand mode, or an accepted TCP connection) until
// either side ends or ctx is cancelled. The session is always terminated
// on the way out. An ordinary end returns nil; a session the service or
// agent ended with a reason returns a *ssmclient.SessionEndedError.
func Run(ctx context.Context, cfg Config, rw io.ReadWriteCloser) error {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	client := cfg.Client
	if client == nil {
		var err error
		if client, err = ssmclient.NewClient(ctx, cfg.AWS); err != nil {
			return err
		}
	}
	suffix := cfg.HostSuffix
	if suffix == "" {
		suffix = ssmclient.DefaultHostSuffix
	}
	resolver := ssmclient.Resolver{API: client.EC2, ECS: client.ECS, Suffix: suffix}
	target, err := resolver.Resolve(ctx, cfg.Host)
	if err != nil {
		return explainResolve(cfg.Host, err)
	}
	if target.Name != "" {
		logf("%s is %s", cfg.Host, target.ID)
	}
	doc := cfg.DocumentName
	if doc == "" {
		doc = ssmclient.DocumentSSH
	}
	params := maps.Clone(cfg.Parameters)
	if params == nil {
		params = map[string][]string{}
	}
	if _, ok := params["portNumber"]; !ok && cfg.Port != "" {
		params["portNumber"] = []string{cfg.Port}
	}
	sess, err := client.StartSession(ctx, ssmclient.StartInput{
		Target: target.ID, DocumentName: doc, Parameters: params, Logf: logf,
	})
	if err != nil {
		return diagnoseNotConnected(ctx, client.EC2, client.Config.Region, target, err)
	}
	logf("session %s open to %s", sess.ID, target.ID)
	return Serve(ctx, sess, rw, logf)
}

// Serve joins an open session's data stream to rw until either side ends
// or ctx is cancelled, then closes the session (TerminateSession). It is
// Run after the session has started, shared with session-manager-plugin,
// which is handed a started session. logf may be nil.
func Serve(ctx context.Context, sess *ssmclient.Session, rw io.ReadWriteCloser, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	stop := context.AfterFunc(ctx, func() {
		sess.Close()
		rw.Close()
	})
	defer stop()
	err := iox.Join(sess, rw, DrainTimeout)
	if cerr := sess.Close(); err == nil && cerr != nil {
		logf("closing session %s: %v", sess.ID, cerr)
	}
	st := sess.Stats()
	logf("session %s closed: %d messages sent (%d resent), %d received (%d duplicates, %d out of order), RTT %v, %d reconnects",
		sess.ID, st.Sent, st.Resent, st.Received, st.Duplicates, st.OutOfOrder, st.RTT.Round(time.Millisecond), st.Reconnects)
	var ended *ssmclient.SessionEndedError
	switch {
	case errors.As(err, &ended) && ended.Output == "":
		return nil
	case ended != nil:
		// The agent or the service ended the session with a reason. Once
		// stdout closed, ssh hangs up (SIGHUP) before the reason is out:
		// that signal must not swallow it.
		return fmt.Errorf("proxy: %w", err)
	case ctx.Err() != nil:
		return nil // a signal: the session was terminated on purpose
	case err != nil:
		return fmt.Errorf("proxy: %w", err)
	}
	return nil
}
