package ssmtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// startServer starts an emulator for one test and closes it (expecting no
// error) when the test ends.
func startServer(t *testing.T, opts Options) (*Server, aws.Config) {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	cfg, err := s.AWSConfig(t.Context())
	if err != nil {
		t.Fatalf("AWSConfig: %v", err)
	}
	return s, cfg
}

// apiCode asserts that err is an API error with the given code.
func apiCode(t *testing.T, err error, code string) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not a smithy.APIError", err, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code %q (%v), want %q", ae.ErrorCode(), err, code)
	}
	return ae
}

// fakeClock is a settable clock for Options.Clock.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestServerEndpointAndCA(t *testing.T) {
	s, _ := startServer(t, Options{})
	u, err := url.Parse(s.URL())
	if err != nil || u.Scheme != "https" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
		t.Fatalf("URL %q is not https://127.0.0.1:<port>", s.URL())
	}
	pem, err := os.ReadFile(s.CAFile())
	if err != nil || !bytes.Contains(pem, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("CA file %s: %v", s.CAFile(), err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		cfg := s.ClientTLSConfig()
		cfg.ServerName = host
		conn, err := tls.Dial("tcp", u.Host, cfg)
		if err != nil {
			t.Fatalf("TLS with server name %s: %v", host, err)
		}
		conn.Close()
	}
	// A client that does not trust the CA is refused.
	if conn, err := tls.Dial("tcp", u.Host, &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		conn.Close()
		t.Fatal("TLS handshake succeeded without trusting the CA")
	}
	if got := s.Region(); got != "us-east-1" {
		t.Errorf("Region = %q", got)
	}
	env := strings.Join(s.Env(), "\n")
	for _, want := range []string{
		"AWS_ENDPOINT_URL=" + s.URL(), "AWS_CA_BUNDLE=" + s.CAFile(), "AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_EC2_METADATA_DISABLED=true",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("Env lacks %q:\n%s", want, env)
		}
	}
}

func TestCloseRemovesCAFile(t *testing.T) {
	s, err := NewServer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ca := s.CAFile()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ca); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("CA file still there after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// rawPost sends a request without the SDK, to check what unsigned or odd
// requests get.
func rawPost(t *testing.T, s *Server, header map[string]string, body string) (int, string) {
	t.Helper()
	return rawRequest(t, s, "/", header, body)
}

// rawRequest POSTs body to path with the header, and returns the answer's
// status and body.
func rawRequest(t *testing.T, s *Server, path string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: s.ClientTLSConfig()}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func TestUnsignedRequestsRefused(t *testing.T) {
	s, _ := startServer(t, Options{})
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name   string
		header map[string]string
		body   string
		status int
		want   []string
	}{
		{"json", map[string]string{"X-Amz-Target": "AmazonSSM.DescribeSessions", "Content-Type": "application/x-amz-json-1.1"},
			`{"State":"Active"}`, 400, []string{`"__type":"MissingAuthenticationTokenException"`}},
		{"ec2", map[string]string{"Content-Type": form}, "Action=DescribeInstances&Version=2016-11-15", 403,
			[]string{"<Response><Errors><Error><Code>MissingAuthenticationToken</Code>"}},
		{"sts", map[string]string{"Content-Type": form}, "Action=GetCallerIdentity&Version=2011-06-15", 403,
			[]string{"<ErrorResponse", "<Type>Sender</Type><Code>MissingAuthenticationToken</Code>"}},
		{"unknown target", map[string]string{
			"X-Amz-Target": "AmazonSSM.SendCommand", "Content-Type": "application/x-amz-json-1.1",
			"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=00",
		}, `{}`, 400, []string{`"__type":"UnknownOperationException"`}},
		{"unknown action", map[string]string{
			"Content-Type":  form,
			"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00",
		}, "Action=RunInstances&Version=2016-11-15", 400, []string{"<Code>InvalidAction</Code>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := rawPost(t, s, tt.header, tt.body)
			if status != tt.status {
				t.Errorf("status %d, want %d (%s)", status, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestGetCallerIdentity(t *testing.T) {
	_, cfg := startServer(t, Options{CallerARN: "arn:aws:sts::210987654321:assumed-role/Dev/alice"})
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Arn) != "arn:aws:sts::210987654321:assumed-role/Dev/alice" || aws.ToString(out.Account) != "210987654321" ||
		aws.ToString(out.UserId) == "" {
		t.Fatalf("GetCallerIdentity = %+v", out)
	}
}

// TestCloseReportsLeakedSessions: a session nobody ended makes Close fail
// and is terminated through the hook.
func TestCloseReportsLeakedSessions(t *testing.T) {
	s, err := NewServer(Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var terminated []string
	closed := false
	s.SetHooks(Hooks{
		OnTerminate: func(sess *Session, reason string) { terminated = append(terminated, sess.ID+": "+reason) },
		OnClose:     func() { closed = true },
	})
	cfg, _ := s.AWSConfig(t.Context())
	out, err := ssm.NewFromConfig(cfg).StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(InstanceUbuntu)})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Close()
	if !errors.Is(err, ErrSessionsLeaked) || !strings.Contains(err.Error(), *out.SessionId) {
		t.Fatalf("Close = %v, want ErrSessionsLeaked naming %s", err, *out.SessionId)
	}
	if len(terminated) != 1 || terminated[0] != *out.SessionId+": "+ReasonShutdown || !closed {
		t.Fatalf("hooks: terminated %q, OnClose called %v", terminated, closed)
	}
	if st := s.Sessions().All()[0].State(); st != SessionTerminated {
		t.Fatalf("state after Close = %s", st)
	}
}

// TestCloseLeavesNoGoroutines runs every service once and checks that
// Close returns the process to its goroutine count.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := NewServer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := s.AWSConfig(t.Context())
	sc := ssm.NewFromConfig(cfg)
	out, err := sc.StartSession(t.Context(), &ssm.StartSessionInput{Target: aws.String(InstanceAmazonLinux)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.TerminateSession(t.Context(), &ssm.TerminateSessionInput{SessionId: out.SessionId}); err != nil {
		t.Fatal(err)
	}
	if _, err := ec2.NewFromConfig(cfg).DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	cfg.HTTPClient.(*http.Client).CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAWSCLI drives the server with the real AWS CLI through Env, when it
// is installed.
func TestAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws CLI not installed")
	}
	s, _ := startServer(t, Options{})
	home := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(t.Context(), awsPath, append(args, "--output", "text")...)
		cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"),
			"AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials"}, s.Env()...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	checks := []struct {
		args []string
		want string
	}{
		{[]string{"sts", "get-caller-identity", "--query", "Arn"}, defaultCallerARN},
		{[]string{"ec2", "describe-instances", "--filters", "Name=tag:Name,Values=web-*", "--query", "Reservations[].Instances[].InstanceId"}, InstanceAmazonLinux},
		{[]string{"ssm", "describe-instance-information", "--filters", "Key=PingStatus,Values=ConnectionLost", "--query", "InstanceInformationList[].InstanceId"}, InstanceRHEL},
		{[]string{"ssm", "get-document", "--name", DocStartSSHSession, "--query", "DocumentType"}, "Session"},
		{[]string{"kms", "describe-key", "--key-id", DefaultKMSAlias, "--query", "KeyMetadata.KeyId"}, DefaultKMSKeyID},
		{[]string{"ssm", "start-session", "--target", "i-0000000000000dead"}, "TargetNotConnected"},
	}
	for _, c := range checks {
		out, err := run(c.args...)
		if !strings.Contains(out, c.want) {
			t.Errorf("aws %s: %v\n%s\nwant %q", strings.Join(c.args, " "), err, out, c.want)
		}
	}
}
