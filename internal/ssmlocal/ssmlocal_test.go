package ssmlocal

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestDemo runs the whole walk-through: the real ssmproxy, ssmssh, ssmscp
// and ssmsftp binaries, built here, ssmproxy under the real OpenSSH ssh
// and scp, against a fresh emulator. It runs unpaced, so that its 16 MiB
// of round trips take a moment rather than half a minute under the race
// detector (pacing has tests of its own).
func TestDemo(t *testing.T) {
	bin := t.TempDir()
	for _, cmd := range []string{"ssmproxy", "ssmssh", "ssmscp", "ssmsftp"} {
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
	for _, want := range []string{"hello from Linux", "hello over ssmproxy", "remote exit status 3",
		"resolved by name", "path /request-0", "is not connected to Session Manager",
		"hello from ssmssh", "ssmssh: default user ubuntu", "remote exit status 7", "16 MiB moved by ssmscp", "came back intact"} {
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
