package ssmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// logRecorder keeps what a server logs, for tests that check which way a
// request came.
type logRecorder struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	l.t.Log(line)
}

func (l *logRecorder) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			return true
		}
	}
	return false
}

// envWithout returns env without the variables named.
func envWithout(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && k != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// TestEnvNamesCAAndProxy: Env has SSL_CERT_FILE naming the CA, and the
// proxy lines (both spellings) unless the proxy is disabled.
func TestEnvNamesCAAndProxy(t *testing.T) {
	s, _ := startServer(t, Options{})
	env := strings.Join(s.Env(), "\n") + "\n"
	proxy := "http://" + strings.TrimPrefix(s.URL(), "https://")
	for _, want := range []string{"SSL_CERT_FILE=" + s.CAFile() + "\n", "HTTPS_PROXY=" + proxy + "\n",
		"https_proxy=" + proxy + "\n", "NO_PROXY=127.0.0.1,localhost,::1\n", "no_proxy=127.0.0.1,localhost,::1\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("Env lacks %q:\n%s", want, env)
		}
	}
	if s.ProxyURL() != proxy {
		t.Errorf("ProxyURL %q, want %q", s.ProxyURL(), proxy)
	}
	off, _ := startServer(t, Options{DisableConnectProxy: true})
	if env := strings.Join(off.Env(), "\n"); strings.Contains(strings.ToUpper(env), "PROXY") || off.ProxyURL() != "" {
		t.Errorf("proxy disabled, yet Env has proxy lines:\n%s", env)
	}
	if got := connectStatus(t, off, "kms.us-east-1.amazonaws.com:443"); got != http.StatusMethodNotAllowed {
		t.Errorf("CONNECT with the proxy disabled: %d", got)
	}
}

// TestHelperEnvClient is not a test: TestEnvOnlySDKClient runs the test
// binary with it to call the server as a program that knows nothing but
// its environment would, with the SDK's default configuration.
func TestHelperEnvClient(t *testing.T) {
	if os.Getenv("SSMTEST_HELPER_ENV_CLIENT") != "1" {
		t.Skip("helper process only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, err := kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(DefaultKMSAlias)})
	if err != nil {
		t.Fatalf("kms DescribeKey: %v", err)
	}
	info, err := ssm.NewFromConfig(cfg).DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	if err != nil {
		t.Fatalf("ssm DescribeInstanceInformation: %v", err)
	}
	fmt.Printf("key=%s instances=%d\n", aws.ToString(key.KeyMetadata.KeyId), len(info.InstanceInformationList))
}

// TestEnvOnlySDKClient runs an aws-sdk-go-v2 program whose only
// configuration is Env's lines: with AWS_CA_BUNDLE left out, it trusts the
// emulator through SSL_CERT_FILE; with AWS_ENDPOINT_URL left out as well
// (as the official plugin's KMS client ignores it), it reaches
// kms.us-east-1.amazonaws.com and ssm.us-east-1.amazonaws.com through
// HTTPS_PROXY, and the server's log shows the tunnels.
func TestEnvOnlySDKClient(t *testing.T) {
	rec := &logRecorder{t: t}
	s, _ := startServer(t, Options{Logf: rec.logf})
	for _, tc := range []struct {
		name    string
		drop    []string
		proxied bool
	}{
		{"SSL_CERT_FILE", []string{"AWS_CA_BUNDLE"}, false},
		{"HTTPS_PROXY", []string{"AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperEnvClient$", "-test.count=1")
			home := t.TempDir()
			cmd.Env = append([]string{"SSMTEST_HELPER_ENV_CLIENT=1", "HOME=" + home,
				"AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials"},
				envWithout(s.Env(), tc.drop...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			want := fmt.Sprintf("key=%s instances=%d", DefaultKMSKeyID, len(s.Fleet().Instances()))
			if !strings.Contains(string(out), want) {
				t.Fatalf("helper printed %q, want %q", out, want)
			}
			if got := rec.has("proxy: CONNECT kms.us-east-1.amazonaws.com:443"); got != tc.proxied {
				t.Errorf("KMS call went through the proxy: %v, want %v", got, tc.proxied)
			}
			if got := rec.has("proxy: CONNECT ssm.us-east-1.amazonaws.com:443"); got != tc.proxied {
				t.Errorf("SSM call went through the proxy: %v, want %v", got, tc.proxied)
			}
		})
	}
}

// TestConnectProxyInProcess: an SDK client with an explicit proxy and the
// CA, and no endpoint, reaches the emulated KMS and SSM; the certificate
// it gets names the AWS host it asked for.
func TestConnectProxyInProcess(t *testing.T) {
	s, _ := startServer(t, Options{})
	proxy, _ := url.Parse(s.ProxyURL())
	var names []string
	var mu sync.Mutex
	tlsCfg := s.ClientTLSConfig()
	tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
		mu.Lock()
		defer mu.Unlock()
		names = append(names, cs.PeerCertificates[0].DNSNames...)
		return nil
	}
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: tlsCfg, ForceAttemptHTTP2: false}
	defer tr.CloseIdleConnections()
	cfg := aws.Config{Region: s.Region(), HTTPClient: &http.Client{Transport: tr},
		Credentials: aws.NewCredentialsCache(staticCreds())}
	key, err := kms.NewFromConfig(cfg).DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(DefaultKMSAlias)})
	if err != nil || aws.ToString(key.KeyMetadata.KeyId) != DefaultKMSKeyID {
		t.Fatalf("DescribeKey through the proxy: %v", err)
	}
	if _, err := ssm.NewFromConfig(cfg).DescribeInstanceInformation(t.Context(), &ssm.DescribeInstanceInformationInput{}); err != nil {
		t.Fatalf("DescribeInstanceInformation through the proxy: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(names, ",") != "kms.us-east-1.amazonaws.com,ssm.us-east-1.amazonaws.com" {
		t.Errorf("certificates named %v", names)
	}
}

func staticCreds() aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: FakeAccessKeyID, SecretAccessKey: FakeSecretAccessKey}, nil
	})
}

// connectStatus sends a CONNECT for target to the server's port and
// returns the status of the answer.
func connectStatus(t *testing.T, s *Server, target string) int {
	t.Helper()
	code, _ := plainRequest(t, s, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	return code
}

// plainRequest writes a raw HTTP request to the server's port and reads
// the answer's status and body.
func plainRequest(t *testing.T, s *Server, raw string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL(), "https://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestConnectProxyRefuses: the proxy tunnels to AWS names only, never
// out; other requests on the port get an answer that says what it is.
func TestConnectProxyRefuses(t *testing.T) {
	s, _ := startServer(t, Options{})
	for _, tc := range []struct {
		raw  string
		code int
		body string
	}{
		{"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", http.StatusForbidden, "not example.com"},
		{"CONNECT 10.0.0.1:22 HTTP/1.1\r\nHost: 10.0.0.1:22\r\n\r\n", http.StatusForbidden, "*.amazonaws.com"},
		{"CONNECT evil-amazonaws.com:443 HTTP/1.1\r\nHost: evil-amazonaws.com:443\r\n\r\n", http.StatusForbidden, "not evil-amazonaws.com"},
		{"CONNECT kms.us-east-1.amazonaws.com HTTP/1.1\r\nHost: kms.us-east-1.amazonaws.com\r\n\r\n", http.StatusBadRequest, "not host:port"},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusMethodNotAllowed, "CONNECT only, not GET"},
		{"hello\r\n\r\n", http.StatusBadRequest, "speaks HTTPS"},
		{"CONNECT sts.amazonaws.com:443 HTTP/1.1\r\nHost: sts.amazonaws.com:443\r\n\r\n", http.StatusOK, ""},
	} {
		code, body := plainRequest(t, s, tc.raw)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%q: %d %q, want %d with %q", tc.raw, code, body, tc.code, tc.body)
		}
	}
}

// TestCAPersists: with CADir, a restarted server presents a certificate
// from the same CA, so a client that trusted the first run trusts the
// second; a damaged CA is replaced.
func TestCAPersists(t *testing.T) {
	dir := t.TempDir()
	s1, err := NewServer(Options{CADir: dir})
	if err != nil {
		t.Fatal(err)
	}
	trust := s1.ClientTLSConfig()
	pem1, _ := os.ReadFile(s1.CAFile())
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/ca.pem"); err != nil {
		t.Fatalf("Close removed the kept CA: %v", err)
	}
	if fi, err := os.Stat(dir + "/ca-key.pem"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v %v", fi, err)
	}
	s2, err := NewServer(Options{CADir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	pem2, _ := os.ReadFile(s2.CAFile())
	if string(pem1) != string(pem2) || s2.CAFile() != dir+"/ca.pem" {
		t.Fatalf("the CA changed across restarts")
	}
	c, err := tls.Dial("tcp", strings.TrimPrefix(s2.URL(), "https://"), trust)
	if err != nil {
		t.Fatalf("the first run's trust does not verify the second run: %v", err)
	}
	c.Close()
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(dir+"/ca-key.pem", []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, err := NewServer(Options{CADir: dir})
	if err != nil {
		t.Fatalf("a damaged CA is not replaced: %v", err)
	}
	defer s3.Close()
	pem3, _ := os.ReadFile(s3.CAFile())
	if string(pem3) == string(pem1) {
		t.Fatal("a CA whose key is damaged was kept")
	}
	c, err = tls.Dial("tcp", strings.TrimPrefix(s3.URL(), "https://"), s3.ClientTLSConfig())
	if err != nil {
		t.Fatalf("the new CA does not verify: %v", err)
	}
	c.Close()
}

// TestListenAddr: Options.Addr fixes where the server listens.
func TestListenAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, _ := startServer(t, Options{Addr: addr})
	if s.URL() != "https://"+addr {
		t.Fatalf("URL %s, want https://%s", s.URL(), addr)
	}
	if _, err := NewServer(Options{Addr: addr}); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("a second server on the same address: %v", err)
	}
}

// awsCLIv2 is the AWS CLI v2 that tests drive (Debian's awscli; the aws
// first on PATH may be a v1).
const awsCLIv2 = "/usr/bin/aws"

// TestAWSCLIv2EnvOnly runs the unmodified AWS CLI v2 with Env's lines and
// nothing else (no --endpoint-url, no config file): a CLI that knows no
// AWS_ENDPOINT_URL, as 2.9 does not, dials kms.us-east-1.amazonaws.com
// and ssm.us-east-1.amazonaws.com through HTTPS_PROXY and gets answers.
func TestAWSCLIv2EnvOnly(t *testing.T) {
	if _, err := os.Stat(awsCLIv2); err != nil {
		t.Skip("AWS CLI v2 not installed at " + awsCLIv2)
	}
	rec := &logRecorder{t: t}
	s, _ := startServer(t, Options{Logf: rec.logf})
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), awsCLIv2, append(args, "--output", "text")...)
		cmd.Env = append([]string{"HOME=" + home, "PATH=/usr/bin:/bin",
			"AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials"}, s.Env()...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run("kms", "describe-key", "--key-id", DefaultKMSAlias, "--query", "KeyMetadata.KeyId"); got != DefaultKMSKeyID {
		t.Errorf("kms describe-key: %q", got)
	}
	got := run("ssm", "describe-instance-information", "--filters", "Key=PingStatus,Values=Online",
		"--query", "InstanceInformationList[].InstanceId")
	if !strings.Contains(got, InstanceAmazonLinux) || strings.Contains(got, InstanceRHEL) {
		t.Errorf("ssm describe-instance-information: %q", got)
	}
	for _, host := range []string{"kms", "ssm"} {
		if !rec.has("proxy: CONNECT " + host + ".us-east-1.amazonaws.com:443") {
			t.Errorf("the CLI did not reach %s through the proxy", host)
		}
	}
}

// recordConn is a connection that reads from r and records what is
// written to it.
type recordConn struct {
	net.Conn
	r io.Reader
	w strings.Builder
}

func (c *recordConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *recordConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// FuzzConnectRequest: whatever a client sends the proxy, it answers with
// one HTTP status line, and opens a tunnel (200) only for a CONNECT to an
// AWS host name or to the server itself.
func FuzzConnectRequest(f *testing.F) {
	for _, seed := range []string{
		"CONNECT kms.us-east-1.amazonaws.com:443 HTTP/1.1\r\nHost: kms.us-east-1.amazonaws.com:443\r\n\r\n",
		"CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		"CONNECT [::1]:443 HTTP/1.0\r\n\r\n",
		"GET http://ssm.us-east-1.amazonaws.com/ HTTP/1.1\r\nHost: ssm.us-east-1.amazonaws.com\r\n\r\n",
		"CONNECT KMS.US-EAST-1.AMAZONAWS.COM.:443 HTTP/1.1\r\n\r\n",
		"\x00\x01garbage",
	} {
		f.Add([]byte(seed))
	}
	l := &sniffListener{proxy: true, self: "127.0.0.1:1", logf: func(string, ...any) {}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := &recordConn{r: bytes.NewReader(raw)}
		tunnel := l.connect(c, bufio.NewReader(c))
		out := c.w.String()
		if !strings.HasPrefix(out, "HTTP/1.1 ") {
			t.Fatalf("answer %q is not an HTTP status line", out)
		}
		if tunnel == nil {
			if strings.HasPrefix(out, "HTTP/1.1 200") {
				t.Fatalf("200 without a tunnel: %q", out)
			}
			return
		}
		if out != "HTTP/1.1 200 Connection established\r\n\r\n" {
			t.Fatalf("tunnel opened with answer %q", out)
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil || req.Method != http.MethodConnect {
			t.Fatalf("tunnel for a request that is not a CONNECT: %q (%v)", raw, err)
		}
		if host, _, err := net.SplitHostPort(req.Host); err != nil || (!isAWSHost(host) && req.Host != l.self) {
			t.Fatalf("tunnel to %q", req.Host)
		}
	})
}
