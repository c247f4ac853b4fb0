package ssmclient

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ssocreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// awsEnv gives a test an empty AWS environment: every AWS_* variable
// cleared, HOME in a temporary directory (so ~/.aws and the SSO cache are
// empty), EC2 instance metadata disabled (nothing may leave loopback), and
// the shared config and credentials files set to the given contents.
func awsEnv(t *testing.T, configFile, credentialsFile string) (home string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)  // the SDK tells unset from empty for some
		}
	}
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfgPath := filepath.Join(home, "config")
	credPath := filepath.Join(home, "credentials")
	if err := os.WriteFile(cfgPath, []byte(configFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credPath, []byte(credentialsFile), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgPath)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credPath)
	return home
}

// closedEndpoint returns an https URL on loopback where nothing listens.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

// noRetry keeps failing calls from backing off and retrying.
var noRetry = []func(*config.LoadOptions) error{config.WithRetryMaxAttempts(1)}

func TestLoadAWSConfigRegion(t *testing.T) {
	const profiles = "[default]\nregion = eu-west-1\n[profile other]\nregion = ap-south-1\n[profile none]\n"
	const creds = "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n"
	tests := []struct {
		name string
		env  map[string]string
		opts AWSOptions
		want string // "" for ErrNoRegion
	}{
		{"default profile", nil, AWSOptions{}, "eu-west-1"},
		{"named profile", nil, AWSOptions{Profile: "other"}, "ap-south-1"},
		{"AWS_PROFILE", map[string]string{"AWS_PROFILE": "other"}, AWSOptions{}, "ap-south-1"},
		{"AWS_DEFAULT_REGION beats profile", map[string]string{"AWS_DEFAULT_REGION": "us-west-1"}, AWSOptions{}, "us-west-1"},
		{"AWS_REGION beats AWS_DEFAULT_REGION", map[string]string{"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-west-1"}, AWSOptions{}, "us-east-2"},
		{"option beats all", map[string]string{"AWS_REGION": "us-east-2"}, AWSOptions{Profile: "other", Region: "sa-east-1"}, "sa-east-1"},
		{"no region anywhere", nil, AWSOptions{Profile: "none"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			awsEnv(t, profiles, creds)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := LoadAWSConfig(t.Context(), tc.opts)
			if tc.want == "" {
				if !errors.Is(err, ErrNoRegion) {
					t.Fatalf("err = %v, want ErrNoRegion", err)
				}
				if err.Error() != "ssmclient: no AWS region: pass --region or set AWS_REGION" {
					t.Errorf("message %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tc.want {
				t.Errorf("region = %q, want %q", cfg.Region, tc.want)
			}
		})
	}
}

func TestLoadAWSConfigUnknownProfile(t *testing.T) {
	awsEnv(t, "[default]\nregion = eu-west-1\n", "")
	_, err := LoadAWSConfig(t.Context(), AWSOptions{Profile: "nosuch"})
	var notExist config.SharedConfigProfileNotExistError
	if !errors.As(err, &notExist) || !strings.Contains(err.Error(), `AWS profile "nosuch" not found`) {
		t.Fatalf("err = %v", err)
	}
}

// TestNoCredentials: with no credentials anywhere the first call fails
// before leaving the machine, and Explain says what to configure.
func TestNoCredentials(t *testing.T) {
	awsEnv(t, "", "")
	t.Setenv("AWS_ENDPOINT_URL", closedEndpoint(t))
	c, err := NewClient(t.Context(), AWSOptions{Region: "us-east-1", LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EC2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	e := explained(t, err, CodeNoCredentials)
	if e.Op != "EC2 DescribeInstances" || !strings.Contains(e.Error(), "no AWS credentials found") {
		t.Errorf("explained as %q (op %q)", e, e.Op)
	}
}

// TestSSOLoginNeeded: an SSO profile with no cached token (never logged
// in) is reported as "run aws sso login", without any network traffic.
func TestSSOLoginNeeded(t *testing.T) {
	awsEnv(t, `[profile sso]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = Admin
region = us-east-1
`, "")
	t.Setenv("AWS_ENDPOINT_URL", closedEndpoint(t))
	c, err := NewClient(t.Context(), AWSOptions{Profile: "sso", LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EC2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	e := explained(t, err, CodeSSOLogin)
	if !strings.Contains(e.Error(), "aws sso login") {
		t.Errorf("explained as %q", e)
	}
}

// TestSSOUsesEndpointURL: with a cached SSO token, the SSO call for role
// credentials goes to AWS_ENDPOINT_URL (here a closed port), not to the
// public SSO portal.
func TestSSOUsesEndpointURL(t *testing.T) {
	const startURL = "https://example.awsapps.com/start"
	awsEnv(t, `[profile sso]
sso_start_url = `+startURL+`
sso_region = us-east-1
sso_account_id = 123456789012
sso_role_name = Admin
region = us-east-1
`, "")
	cache, err := ssocreds.StandardCachedTokenFilepath(startURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o700); err != nil {
		t.Fatal(err)
	}
	tok := `{"accessToken":"tok","expiresAt":"2099-01-01T00:00:00Z","region":"us-east-1","startUrl":"` + startURL + `"}`
	if err := os.WriteFile(cache, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	ep := closedEndpoint(t)
	t.Setenv("AWS_ENDPOINT_URL", ep)
	cfg, err := LoadAWSConfig(t.Context(), AWSOptions{Profile: "sso", LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Credentials.Retrieve(t.Context())
	e := explained(t, err, CodeNetwork)
	if e.Op != "SSO GetRoleCredentials" || !strings.Contains(e.Error(), "cannot reach "+ep) {
		t.Errorf("explained as %q (op %q)", e, e.Op)
	}
}

const mfaProfiles = `[profile base]
region = us-east-1
[profile admin]
role_arn = arn:aws:iam::123456789012:role/Admin
source_profile = base
mfa_serial = arn:aws:iam::123456789012:mfa/alice
region = us-east-1
`

const baseCredentials = "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = basesecret\n"

// recordingPrompter answers MFA prompts with a fixed code and records the
// questions.
type recordingPrompter struct {
	mu     sync.Mutex
	asked  []string
	hidden []bool
	code   string
}

func (p *recordingPrompter) Prompt(msg string, hidden bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, msg)
	p.hidden = append(p.hidden, hidden)
	return p.code, nil
}

// TestMFAPromptWiring checks at the SDK level that an assume-role profile
// with mfa_serial asks the injected Prompter (and nothing else) for the
// code when credentials are first needed. STS here is a closed port, so
// the call then fails; the emulator test checks the code reaches STS.
func TestMFAPromptWiring(t *testing.T) {
	awsEnv(t, mfaProfiles, baseCredentials)
	t.Setenv("AWS_ENDPOINT_URL", closedEndpoint(t))
	p := &recordingPrompter{code: "123456"}
	cfg, err := LoadAWSConfig(t.Context(), AWSOptions{Profile: "admin", Prompter: p, LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.asked) != 0 {
		t.Fatal("prompted while loading config, before any credentials were needed")
	}
	_, err = cfg.Credentials.Retrieve(t.Context())
	if err == nil {
		t.Fatal("assumed a role against a closed port")
	}
	if len(p.asked) != 1 || !strings.Contains(p.asked[0], "arn:aws:iam::123456789012:mfa/alice") ||
		!strings.Contains(p.asked[0], "admin") || !p.hidden[0] {
		t.Fatalf("prompts = %q (hidden %v)", p.asked, p.hidden)
	}
	// The failure is the endpoint, named by Explain.
	e := explained(t, err, CodeNetwork)
	if e.Op != "STS AssumeRole" || !strings.Contains(e.Error(), strings.TrimPrefix(os.Getenv("AWS_ENDPOINT_URL"), "https://")) {
		t.Errorf("explained as %q (op %q)", e, e.Op)
	}
}

// TestMFANoTerminal: without a terminal the MFA code cannot be asked for,
// and the error says so, naming the profile.
func TestMFANoTerminal(t *testing.T) {
	awsEnv(t, mfaProfiles, baseCredentials)
	t.Setenv("AWS_ENDPOINT_URL", closedEndpoint(t))
	t.Setenv("AWS_PROFILE", "admin")
	p := &TTYPrompter{Path: filepath.Join(t.TempDir(), "no-tty")}
	c, err := NewClient(t.Context(), AWSOptions{Prompter: p, LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EC2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	e := explained(t, err, CodeNoTerminal)
	if !strings.Contains(e.Error(), "MFA token needed for profile admin but no terminal is available") {
		t.Errorf("explained as %q", e)
	}
	if !errors.Is(err, ErrNoTerminal) {
		t.Error("ErrNoTerminal not in the chain")
	}
}

// TestUnreachableEndpoint: a refused connection names the endpoint.
func TestUnreachableEndpoint(t *testing.T) {
	awsEnv(t, "", baseCredentials)
	ep := closedEndpoint(t)
	t.Setenv("AWS_ENDPOINT_URL_EC2", ep)
	c, err := NewClient(t.Context(), AWSOptions{Profile: "base", Region: "us-east-1", LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EC2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	e := explained(t, err, CodeNetwork)
	if !strings.Contains(e.Error(), "cannot reach "+ep) {
		t.Errorf("explained as %q", e)
	}
	var opErr *net.OpError
	if !errors.As(e, &opErr) {
		t.Error("the net.OpError is no longer in the chain")
	}
}

// explained runs Explain on err and checks it gives an *Error with code,
// keeping err in the chain.
func explained(t *testing.T, err error, code string) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	x := Explain(err)
	var e *Error
	if !errors.As(x, &e) {
		t.Fatalf("Explain(%v) = %v, not an *Error", err, x)
	}
	if e.Code != code {
		t.Fatalf("Explain(%v) code %q, want %q (%v)", err, e.Code, code, x)
	}
	if !errors.Is(x, err) {
		t.Fatal("Explain dropped the original error")
	}
	if !strings.HasPrefix(x.Error(), "ssmclient: ") || strings.Contains(x.Error(), "\n") {
		t.Errorf("message %q is not one prefixed line", x)
	}
	for _, secret := range []string{"basesecret", ssmtest.FakeSecretAccessKey, "emusecret"} {
		if strings.Contains(x.Error(), secret) {
			t.Errorf("message %q shows a secret", x)
		}
	}
	return e
}

const emuCredentials = "[emu]\naws_access_key_id = AKIDEMU\naws_secret_access_key = emusecret\n"

// useEmulator checks that c reaches the emulator for EC2 and SSM through
// the unmodified SDK clients.
func useEmulator(t *testing.T, c *Client) {
	t.Helper()
	got, err := ResolveTarget(t.Context(), c.EC2, "app-ubuntu.ssm")
	if err != nil || got.ID != ssmtest.InstanceUbuntu {
		t.Fatalf("ResolveTarget through the emulator: %+v, %v", got, err)
	}
	user, _, err := (&UserGuesser{API: c.EC2}).DefaultUser(t.Context(), got.InstanceID)
	if err != nil || user != "ubuntu" {
		t.Fatalf("DefaultUser through the emulator: %q, %v", user, err)
	}
	err = startSSH(t.Context(), c, ssmtest.InstanceRHEL)
	explained(t, err, CodeTargetNotConnected)
}

// TestConfigFromEnvironment: shared files name the profile and its keys;
// AWS_ENDPOINT_URL and AWS_CA_BUNDLE point every service at the emulator,
// which the SDK's config package honours by itself.
func TestConfigFromEnvironment(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	awsEnv(t, "[profile emu]\nregion = us-east-1\n", emuCredentials)
	t.Setenv("AWS_ENDPOINT_URL", s.URL())
	t.Setenv("AWS_CA_BUNDLE", s.CAFile())
	c, err := NewClient(t.Context(), AWSOptions{Profile: "emu", LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	useEmulator(t, c)
}

// TestConfigFromProfile: endpoint_url and ca_bundle in the profile do the
// same.
func TestConfigFromProfile(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	awsEnv(t, "[profile emu]\nregion = us-east-1\nendpoint_url = "+s.URL()+"\nca_bundle = "+s.CAFile()+"\n", emuCredentials)
	t.Setenv("AWS_PROFILE", "emu")
	c, err := NewClient(t.Context(), AWSOptions{LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	useEmulator(t, c)
}

// TestConfigFromServerEnv: the emulator's own Env() assignments suffice.
func TestConfigFromServerEnv(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	awsEnv(t, "", "")
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c, err := NewClient(t.Context(), AWSOptions{LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	if c.Config.Region != s.Region() {
		t.Errorf("region %q, want %q", c.Config.Region, s.Region())
	}
	useEmulator(t, c)
}

// TestServiceEndpointOverride: AWS_ENDPOINT_URL_EC2 beats AWS_ENDPOINT_URL
// for EC2 only.
func TestServiceEndpointOverride(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	awsEnv(t, "", emuCredentials)
	closed := closedEndpoint(t)
	t.Setenv("AWS_ENDPOINT_URL", closed)
	t.Setenv("AWS_ENDPOINT_URL_EC2", s.URL())
	t.Setenv("AWS_CA_BUNDLE", s.CAFile())
	c, err := NewClient(t.Context(), AWSOptions{Profile: "emu", Region: "us-east-1", LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveTarget(t.Context(), c.EC2, "web-al2023"); err != nil {
		t.Fatalf("EC2 through AWS_ENDPOINT_URL_EC2: %v", err)
	}
	e := explained(t, startSSH(t.Context(), c, ssmtest.InstanceAmazonLinux), CodeNetwork)
	if !strings.Contains(e.Error(), "cannot reach "+closed) {
		t.Errorf("SSM should have gone to AWS_ENDPOINT_URL: %s", e)
	}
}

// TestUntrustedEndpoint: without AWS_CA_BUNDLE the emulator's certificate
// is not trusted, and Explain says which endpoint and what to set.
func TestUntrustedEndpoint(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	awsEnv(t, "", emuCredentials)
	t.Setenv("AWS_ENDPOINT_URL", s.URL())
	c, err := NewClient(t.Context(), AWSOptions{Profile: "emu", Region: "us-east-1", LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EC2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	e := explained(t, err, CodeTLS)
	want := "ssmclient: EC2 DescribeInstances: the TLS certificate of " + s.URL() + " is not trusted: if a proxy or private endpoint uses its own certificate authority, set AWS_CA_BUNDLE (or ca_bundle in the profile) to its PEM file"
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e, want)
	}
}

// TestAssumeRoleReachesEmulator: the STS call of an assume-role profile
// with mfa_serial, made after the injected prompt, goes to AWS_ENDPOINT_URL
// over TLS trusting AWS_CA_BUNDLE. The emulator has no AssumeRole, so its
// answer is InvalidAction: proof the request arrived there.
func TestAssumeRoleReachesEmulator(t *testing.T) {
	s := newEmulator(t, ssmtest.Options{})
	awsEnv(t, mfaProfiles, baseCredentials)
	t.Setenv("AWS_ENDPOINT_URL", s.URL())
	t.Setenv("AWS_CA_BUNDLE", s.CAFile())
	p := &recordingPrompter{code: "123456"}
	c, err := NewClient(t.Context(), AWSOptions{Profile: "admin", Prompter: p, LoadOptions: noRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EC2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidAction" || !strings.Contains(err.Error(), "STS: AssumeRole") {
		t.Fatalf("DescribeInstances with an assume-role profile: %v; want the emulator's STS to answer AssumeRole", err)
	}
	if len(p.asked) != 1 {
		t.Errorf("prompted %d times, want once", len(p.asked))
	}
}

// TestSDKLogger: the SDK's own warnings reach AWSOptions.Logf, and
// nowhere (not stderr) without one.
func TestSDKLogger(t *testing.T) {
	if _, ok := sdkLogger(nil).(logging.Nop); !ok {
		t.Errorf("no Logf: the SDK logs through %T, want logging.Nop", sdkLogger(nil))
	}
	var got []string
	l := sdkLogger(func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) })
	l.Logf(logging.Warn, "failed to discard remaining HTTP response body: %v", "closed")
	if len(got) != 1 || got[0] != "aws sdk: warn: failed to discard remaining HTTP response body: closed" {
		t.Errorf("logged %q", got)
	}
	cfg, err := LoadAWSConfig(t.Context(), AWSOptions{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Logger.(logging.Nop); !ok {
		t.Errorf("LoadAWSConfig: cfg.Logger is %T, want logging.Nop", cfg.Logger)
	}
}
