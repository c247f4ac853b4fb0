package doctor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ssmssh/ssmssh/ssmclient"
)

// Defaults of Options.
const (
	DefaultStartTimeout = 30 * time.Second
	DefaultShellWait    = 5 * time.Second
	DefaultAPITimeout   = 15 * time.Second
)

// Options configure Run.
type Options struct {
	// Client is the AWS client of the user's profile and region
	// (required).
	Client *ssmclient.Client
	// Target is the target as the user names it: an instance id, a
	// managed node id, a Name tag, a private DNS name or IP address.
	Target string
	// DocumentName is the document of the session start check (empty:
	// the account's shell, SSM-SessionManagerRunShell).
	DocumentName string
	// Parameters are the document's parameters for the session start.
	Parameters map[string][]string
	// SSH adds the SSH check (port 22 answers with an SSH banner through an
	// AWS-StartSSHSession session). It is implied when DocumentName is
	// AWS-StartSSHSession.
	SSH bool
	// StartTimeout bounds each real session start, handshake included
	// (0: DefaultStartTimeout).
	StartTimeout time.Duration
	// ShellWait is how long a shell may stay silent before it counts as
	// a blank screen (0: DefaultShellWait).
	ShellWait time.Duration
	// APITimeout bounds each AWS API call (0: DefaultAPITimeout).
	APITimeout time.Duration
	// Logf receives diagnostics (nil: none). Credentials, tokens and
	// signatures are never passed to it.
	Logf func(format string, args ...any)
}

// Run performs the checks in the order a session needs them and returns
// the report; it fails only for bad Options. A check that depends on one
// that failed is reported Unknown without being tried, so that exactly
// the check that found the cause is marked failed.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Client == nil {
		return nil, errors.New("doctor: no AWS client")
	}
	if opts.Target == "" {
		return nil, errors.New("doctor: no target")
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.ShellWait <= 0 {
		opts.ShellWait = DefaultShellWait
	}
	if opts.APITimeout <= 0 {
		opts.APITimeout = DefaultAPITimeout
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.DocumentName == ssmclient.DocumentSSH {
		opts.SSH = true
	}
	r := &run{opts: opts, ctx: ctx,
		iam: iam.NewFromConfig(opts.Client.Config), sts: sts.NewFromConfig(opts.Client.Config),
		region: opts.Client.Config.Region}
	rep := &Report{Target: opts.Target}
	steps := []struct {
		check string
		needs []string
		run   func() Result
	}{
		{CheckCredentials, nil, r.checkCredentials},
		{CheckTarget, []string{CheckCredentials}, r.checkTarget},
		{CheckEC2, []string{CheckTarget}, r.checkEC2},
		{CheckManaged, []string{CheckEC2}, r.checkManaged},
		{CheckIAM, []string{CheckTarget}, r.checkIAM},
		{CheckPreferences, []string{CheckTarget}, r.checkPreferences},
		{CheckSession, []string{CheckManaged, CheckIAM, CheckPreferences}, r.checkSession},
		{CheckSSH, []string{CheckSession}, r.checkSSH},
	}
	blocked := map[string]string{} // check → the failed check it waited for
	for _, st := range steps {
		if st.check == CheckSSH && !opts.SSH {
			continue
		}
		var res Result
		for _, n := range st.needs {
			if cause, ok := blocked[n]; ok {
				blocked[st.check] = cause
				res = Result{Status: Unknown, Evidence: fmt.Sprintf("not checked: the %s check failed", titles[cause])}
				break
			}
		}
		if res.Evidence == "" {
			res = st.run()
			if res.Status == Fail {
				blocked[st.check] = st.check
			}
		}
		res.Check = st.check
		rep.Results = append(rep.Results, res)
	}
	rep.TargetID = r.target.ID
	rep.OK = true
	for _, res := range rep.Results {
		if res.Status == Fail || res.Status == Unknown {
			rep.OK = false
		}
	}
	return rep, nil
}

// run is the state the checks share.
type run struct {
	opts   Options
	ctx    context.Context
	iam    *iam.Client
	sts    *sts.Client
	region string

	account   string // from GetCallerIdentity
	callerARN string
	principal string // the caller's IAM user or role ARN, "" when unknown

	target    ssmclient.Target
	platform  string // SSM platform type, when known
	agent     string // agent version, when known
	prefs     *preferences
	prefsErr  error
	prefsDone bool
}

// apiCtx bounds one AWS call.
func (r *run) apiCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.ctx, r.opts.APITimeout)
}

func pass(format string, args ...any) Result {
	return Result{Status: Pass, Evidence: fmt.Sprintf(format, args...)}
}

func fail(evidence, fix string) Result { return Result{Status: Fail, Evidence: evidence, Fix: fix} }

func unknown(evidence, fix string) Result {
	return Result{Status: Unknown, Evidence: evidence, Fix: fix}
}

func skip(format string, args ...any) Result {
	return Result{Status: Skip, Evidence: fmt.Sprintf(format, args...)}
}
