package ssmclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sso"
	"github.com/aws/aws-sdk-go-v2/service/ssooidc"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
)

// ErrNoRegion is returned by [LoadAWSConfig] when neither the options, the
// environment nor the profile name a region.
var ErrNoRegion = errors.New("ssmclient: no AWS region: pass --region or set AWS_REGION")

// AWSOptions are the user's choices for [LoadAWSConfig]; the zero value
// follows the environment and the shared config files, as the AWS CLI does.
type AWSOptions struct {
	// Profile is the shared-config profile (--profile). Empty means
	// AWS_PROFILE, then AWS_DEFAULT_PROFILE, then "default".
	Profile string

	// Region (--region) overrides AWS_REGION, AWS_DEFAULT_REGION and the
	// profile's region.
	Region string

	// EndpointURL (--endpoint-url, as the AWS CLI spells it) is the base
	// endpoint of every service called, like AWS_ENDPOINT_URL or a
	// profile's endpoint_url, which it overrides; a service-specific
	// setting (AWS_ENDPOINT_URL_SSM and the like) still wins for its
	// service, as the SDK resolves it.
	EndpointURL string

	// Prompter asks for MFA token codes. Nil means a [TTYPrompter] on the
	// controlling terminal.
	Prompter Prompter

	// Logf receives the SDK's own log lines (its warnings, such as a
	// response body it could not drain because a call was cancelled),
	// prefixed "aws sdk". Nil drops them: the SDK's default logger writes
	// to stderr, where a ProxyCommand's or a script's one-line error must
	// stay alone.
	Logf func(format string, args ...any)

	// LoadOptions are passed to config.LoadDefaultConfig after the ones
	// derived from the fields above, so they take precedence (for example
	// config.WithRetryMaxAttempts, or config.WithHTTPClient in tests).
	// Passing config.WithAssumeRoleCredentialOptions,
	// WithSSOProviderOptions or WithSSOTokenProviderOptions here replaces
	// this package's (MFA prompting and endpoint fixes).
	LoadOptions []func(*config.LoadOptions) error
}

// LoadAWSConfig loads the AWS configuration for opts through the SDK's
// config package (see the package documentation for what that covers) and
// sets up MFA prompting for assume-role profiles with mfa_serial.
//
// Credentials are resolved lazily, on the first API call: that is when an
// MFA code is asked for, or when missing credentials are noticed. The
// returned error is [ErrNoRegion] when no region is configured.
func LoadAWSConfig(ctx context.Context, opts AWSOptions) (aws.Config, error) {
	profile := opts.Profile
	if profile == "" {
		env, err := config.NewEnvConfig()
		if err != nil {
			return aws.Config{}, fmt.Errorf("ssmclient: reading AWS environment: %w", err)
		}
		profile = env.SharedConfigProfile
	}
	if profile == "" {
		profile = "default"
	}
	prompter := opts.Prompter
	if prompter == nil {
		prompter = &TTYPrompter{}
	}

	var load []func(*config.LoadOptions) error
	if opts.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	base := new(lateEndpoint)
	load = append(load,
		config.WithAssumeRoleCredentialOptions(func(o *stscreds.AssumeRoleOptions) {
			// The SDK has already set SerialNumber from the profile's
			// mfa_serial when this runs; only then is a code needed.
			if o.SerialNumber != nil {
				o.TokenProvider = MFATokenProvider(prompter, profile, aws.ToString(o.SerialNumber))
			}
			o.Client = stsWithEndpoint{o.Client, base}
		}),
		config.WithSSOProviderOptions(func(o *ssocreds.Options) {
			o.Client = ssoWithEndpoint{o.Client, base}
		}),
		config.WithSSOTokenProviderOptions(func(o *ssocreds.SSOTokenProviderOptions) {
			o.ClientOptions = append(o.ClientOptions, func(o *ssooidc.Options) { base.apply(&o.BaseEndpoint) })
		}),
	)
	load = append(load, config.WithLogger(sdkLogger(opts.Logf)))
	load = append(load, opts.LoadOptions...)

	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		var notExist config.SharedConfigProfileNotExistError
		if errors.As(err, &notExist) {
			return aws.Config{}, fmt.Errorf("ssmclient: AWS profile %q not found in the shared config or credentials file: %w", notExist.Profile, err)
		}
		return aws.Config{}, fmt.Errorf("ssmclient: loading AWS config for profile %q: %w", profile, err)
	}
	if cfg.Region == "" {
		return aws.Config{}, ErrNoRegion
	}
	if opts.EndpointURL != "" {
		if u, err := url.Parse(opts.EndpointURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return aws.Config{}, fmt.Errorf("ssmclient: endpoint URL %q is not an http(s)://host URL", opts.EndpointURL)
		}
		cfg.BaseEndpoint = aws.String(opts.EndpointURL)
	}
	base.set(cfg.BaseEndpoint)
	return cfg, nil
}

// lateEndpoint carries the general endpoint override (AWS_ENDPOINT_URL, or
// endpoint_url in the profile) to the STS, SSO and SSO OIDC clients that
// the SDK builds for credential providers.
//
// The SDK's config package (v1.33) resolves aws.Config.BaseEndpoint only
// after the credential providers are built, and the service clients skip
// their own lookup when AWS_ENDPOINT_URL is set but the service-specific
// variable is not, expecting BaseEndpoint to be filled in. So the STS
// client of an assume-role profile would ignore AWS_ENDPOINT_URL and call
// the public STS endpoint. The providers are only called after
// LoadDefaultConfig returns, by which time BaseEndpoint is known: the
// wrappers below apply it per call, and only when the client has no
// endpoint of its own (AWS_ENDPOINT_URL_STS and the like still win).
type lateEndpoint struct{ p atomic.Pointer[string] }

func (l *lateEndpoint) set(v *string) {
	if v != nil {
		l.p.Store(v)
	}
}

func (l *lateEndpoint) apply(dst **string) {
	if *dst == nil {
		*dst = l.p.Load()
	}
}

type stsWithEndpoint struct {
	stscreds.AssumeRoleAPIClient
	base *lateEndpoint
}

func (c stsWithEndpoint) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	optFns = append(optFns, func(o *sts.Options) { c.base.apply(&o.BaseEndpoint) })
	return c.AssumeRoleAPIClient.AssumeRole(ctx, in, optFns...)
}

type ssoWithEndpoint struct {
	ssocreds.GetRoleCredentialsAPIClient
	base *lateEndpoint
}

func (c ssoWithEndpoint) GetRoleCredentials(ctx context.Context, in *sso.GetRoleCredentialsInput, optFns ...func(*sso.Options)) (*sso.GetRoleCredentialsOutput, error) {
	optFns = append(optFns, func(o *sso.Options) { c.base.apply(&o.BaseEndpoint) })
	return c.GetRoleCredentialsAPIClient.GetRoleCredentials(ctx, in, optFns...)
}

// Client holds a loaded AWS configuration and the service clients built
// from it. The service clients honour per-service endpoint overrides
// (AWS_ENDPOINT_URL_SSM and the like) through cfg's config sources.
type Client struct {
	Config             aws.Config
	SSM                *ssm.Client
	EC2                *ec2.Client
	KMS                *kms.Client
	EC2InstanceConnect *ec2instanceconnect.Client
	ECS                *ecs.Client
}

// NewClient loads the configuration with [LoadAWSConfig] and builds the
// service clients from it.
func NewClient(ctx context.Context, opts AWSOptions) (*Client, error) {
	cfg, err := LoadAWSConfig(ctx, opts)
	if err != nil {
		return nil, err
	}
	return NewClientFromConfig(cfg), nil
}

// NewClientFromConfig builds the service clients from an already loaded
// configuration.
func NewClientFromConfig(cfg aws.Config) *Client {
	return &Client{
		Config:             cfg,
		SSM:                ssm.NewFromConfig(cfg),
		EC2:                ec2.NewFromConfig(cfg),
		KMS:                kms.NewFromConfig(cfg),
		EC2InstanceConnect: ec2instanceconnect.NewFromConfig(cfg),
		ECS:                ecs.NewFromConfig(cfg),
	}
}

// sdkLogger is the SDK's logger for AWSOptions.Logf.
func sdkLogger(logf func(string, ...any)) logging.Logger {
	if logf == nil {
		return logging.Nop{}
	}
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		logf("aws sdk: "+strings.ToLower(string(c))+": "+format, v...)
	})
}
