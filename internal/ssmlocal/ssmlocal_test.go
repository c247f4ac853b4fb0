package ssmlocal

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestDemo runs the whole walk-through: the real ssmproxy, ssmssh, ssmscp,
// ssmsftp and ssmsession binaries, built here, ssmproxy under the real OpenSSH ssh
// and scp, against a fresh emulator. It runs unpaced, so that its 16 MiB
// of round trips take a moment rather than half a minute under the race
// detector (pacing has tests of its own).
func TestDemo(t *testing.T) {
	bin := t.TempDir()
	for _, cmd := range []string{"ssmproxy", "ssmssh", "ssmscp", "ssmsftp", "ssmsession", "session-manager-plugin"} {
		build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/ssmssh/ssmssh/cmd/"+cmd)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", cmd, err, out)
		}
	}
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), []string{"demo", "--unpaced", "--bin", bin}, IO{Stdout: &stdout, Stderr: &stderr})
	t.Log(stdout.String())
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "demo: every step passed") {
		t.Fatal("the demo did not report success")
	}
	if _, err := exec.LookPath("ssh"); err == nil && strings.Contains(out, "skipped:") {
		t.Fatalf("steps were skipped although OpenSSH is installed")
	}
	if _, err := os.Stat(awsCLIPath); err == nil && !strings.Contains(out, "| hello from aws ssm start-session") {
		t.Errorf("the AWS CLI is installed but its step did not show the command's output")
	}
	for _, want := range []string{"hello from Linux", "hello over ssmproxy", "remote exit status 3",
		"resolved by name", "path /request-0", "is not connected to Session Manager",
		"hello from ssmssh", "ssmssh: default user ubuntu", "remote exit status 7", "16 MiB moved by ssmscp", "came back intact",
		"hello from a Session Manager shell", "remote exit status 3 came back through ssmsession",
		"Waiting for connections...", "hello from intranet.internal, path /", "ssmsession interrupted: exit 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestEnvLines(t *testing.T) {
	got := exportLines([]string{"AWS_REGION=us-east-1", "AWS_CA_BUNDLE=/tmp/a b/ca.pem", "X=it's"})
	want := "export AWS_REGION=us-east-1\nexport AWS_CA_BUNDLE='/tmp/a b/ca.pem'\nexport X='it'\\''s'\n"
	if got != want {
		t.Fatalf("exportLines:\n%s\nwant\n%s", got, want)
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Main(t.Context(), []string{"env", "--state-dir", dir}, IO{Stdout: &stdout, Stderr: &stderr}); code != 1 ||
		!strings.Contains(stderr.String(), "no running emulator") {
		t.Fatalf("env without an emulator: %d %q", code, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "env.sh"), []byte(got), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := Main(t.Context(), []string{"env", "--state-dir", dir}, IO{Stdout: &stdout, Stderr: &stderr}); code != 0 ||
		stdout.String() != got {
		t.Fatalf("env: %d %q", code, stdout.String())
	}
}

// TestAllowUnsignedFlag: the gateway checks signatures unless
// --allow-unsigned says otherwise.
func TestAllowUnsignedFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"--allow-unsigned"}, true}} {
		dir := t.TempDir()
		f := newFlags(IO{Stdout: io.Discard, Stderr: io.Discard})
		args := append([]string{"--state-dir", dir, "--authorized-keys", filepath.Join(dir, "keys")}, tc.args...)
		if err := f.fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		opts, err := f.options(IO{Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if opts.AllowUnsignedGateway != tc.want {
			t.Errorf("ssmlocal %v: AllowUnsignedGateway %v", tc.args, opts.AllowUnsignedGateway)
		}
	}
}

// TestUnpacedFlag: the built-in agents pace like the real agent unless
// --unpaced says otherwise, and the banner says which.
func TestUnpacedFlag(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		want   ssmtest.Pace
		banner string
	}{{nil, ssmtest.RealAgentPace, "1024-byte reads, 1ms after each"}, {[]string{"--unpaced"}, ssmtest.Pace{}, "unpaced (--unpaced)"}} {
		dir := t.TempDir()
		f := newFlags(IO{Stdout: io.Discard, Stderr: io.Discard})
		args := append([]string{"--state-dir", dir, "--authorized-keys", filepath.Join(dir, "keys")}, tc.args...)
		if err := f.fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		opts, err := f.options(IO{Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if opts.AgentPace != tc.want {
			t.Errorf("ssmlocal %v: AgentPace %+v, want %+v", tc.args, opts.AgentPace, tc.want)
		}
		if line := paceLine(opts.AgentPace); !strings.Contains(line, tc.banner) {
			t.Errorf("ssmlocal %v: banner line %q, want it to say %q", tc.args, line, tc.banner)
		}
	}
}

// TestExternalAgentFlags: --listen, --proxy and --external reach the
// emulator's options; an external id the fleet lacks is added, one it has
// is marked, and a bad one is refused.
func TestExternalAgentFlags(t *testing.T) {
	dir := t.TempDir()
	stdio := IO{Stdout: io.Discard, Stderr: io.Discard}
	f := newFlags(stdio)
	if err := f.fs.Parse([]string{"--state-dir", dir, "--authorized-keys", filepath.Join(dir, "keys"),
		"--listen", "127.0.0.1:0", "--proxy=false", "--external", "mi-0123456789abcdef0,i-0a1b2c3d4e5f00002"}); err != nil {
		t.Fatal(err)
	}
	opts, err := f.options(stdio)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Addr != "127.0.0.1:0" || !opts.DisableConnectProxy || opts.CADir != filepath.Join(dir, "ca") {
		t.Errorf("options: Addr %q, DisableConnectProxy %v, CADir %q", opts.Addr, opts.DisableConnectProxy, opts.CADir)
	}
	for _, id := range []string{"mi-0123456789abcdef0", "i-0a1b2c3d4e5f00002"} {
		if in, ok := opts.Fleet.Instance(id); !ok || !in.ExternalAgent {
			t.Errorf("%s: in fleet %v, external %v", id, ok, in.ExternalAgent)
		}
	}
	f = newFlags(stdio)
	if err := f.fs.Parse([]string{"--state-dir", dir, "--external", "mi-nothex"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.options(stdio); err == nil || !strings.Contains(err.Error(), "--external mi-nothex") {
		t.Errorf("bad --external id: %v", err)
	}
}

// TestAgentConfigSnippet: serving an external instance prints, and writes
// into the state directory, the agent configuration naming the emulator
// and the instance.
func TestAgentConfigSnippet(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var out bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"--state-dir", dir, "--authorized-keys", filepath.Join(dir, "keys"),
			"--external", "mi-0123456789abcdef0"}, IO{Stdout: &syncWriter{w: &out}, Stderr: io.Discard})
	}()
	path := filepath.Join(dir, "agents", "mi-0123456789abcdef0", "amazon-ssm-agent.json")
	deadline := time.Now().Add(20 * time.Second)
	var data []byte
	for {
		var err error
		if data, err = os.ReadFile(path); err == nil && json.Valid(data) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no agent configuration at %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	env, _ := os.ReadFile(filepath.Join(dir, "env.sh"))
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("ssmlocal exited %d", code)
	}
	var cfg struct {
		Agent    struct{ ContainerMode bool }
		Identity struct {
			ConsumptionOrder []string
			CustomIdentities []struct{ InstanceID, Region, CredentialsProvider string }
		}
		Mgs struct{ Endpoint string }
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	url := regexp.MustCompile(`AWS_ENDPOINT_URL=(\S+)`).FindStringSubmatch(string(env))
	if !cfg.Agent.ContainerMode || len(cfg.Identity.CustomIdentities) != 1 ||
		cfg.Identity.CustomIdentities[0].InstanceID != "mi-0123456789abcdef0" ||
		strings.Join(cfg.Identity.ConsumptionOrder, ",") != "CustomIdentity" || url == nil || cfg.Mgs.Endpoint != url[1] {
		t.Errorf("agent configuration:\n%s\nenv:\n%s", data, env)
	}
	if s := out.String(); !strings.Contains(s, path) || !strings.Contains(s, "SSL_CERT_FILE=") ||
		!strings.Contains(s, "external") {
		t.Errorf("ssmlocal's output lacks the external agent's instructions:\n%s", s)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestServiceLimitFlags: the service's hourly websocket close and idle
// timeout are on by default, the publication rate limit and a maximum
// duration on request, and each reaches the emulator's options.
func TestServiceLimitFlags(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		lifetime, idle time.Duration
		maxDur         time.Duration
		rate           int
		banner         string
	}{
		{nil, ssmtest.ServiceWebsocketLifetime, 20 * time.Minute, 0, 0, "websockets closed after 1h0m0s, idle sessions ended after 20m0s, sessions ended after never, no publication rate limit"},
		{[]string{"--websocket-lifetime", "0", "--idle-timeout", "0", "--max-session-duration", "2h", "--publication-rate", "1000"},
			0, -1, 2 * time.Hour, 1000, "websockets closed after never, idle sessions ended after never, sessions ended after 2h0m0s, clients paused above 1000 messages/s"},
	} {
		dir := t.TempDir()
		f := newFlags(IO{Stdout: io.Discard, Stderr: io.Discard})
		args := append([]string{"--state-dir", dir, "--authorized-keys", filepath.Join(dir, "keys")}, tc.args...)
		if err := f.fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		opts, err := f.options(IO{Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		got := opts.Faults.Snapshot()
		if got.WebsocketLifetime != tc.lifetime || got.PublicationRateLimit != tc.rate ||
			opts.IdleSessionTimeout != tc.idle || opts.MaxSessionDuration != tc.maxDur {
			t.Errorf("ssmlocal %v: lifetime %v rate %d idle %v max %v", tc.args, got.WebsocketLifetime,
				got.PublicationRateLimit, opts.IdleSessionTimeout, opts.MaxSessionDuration)
		}
		if line := limitsLine(f); !strings.Contains(line, tc.banner) {
			t.Errorf("ssmlocal %v: banner %q, want %q", tc.args, line, tc.banner)
		}
	}
	f := newFlags(IO{Stdout: io.Discard, Stderr: io.Discard})
	if err := f.fs.Parse([]string{"--publication-rate", "-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.options(IO{Stdout: io.Discard, Stderr: io.Discard}); err == nil {
		t.Error("a negative --publication-rate was accepted")
	}
}
