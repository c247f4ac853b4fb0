package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/ssmclient"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// TestInteractiveCommand: a command after the target runs on a PTY
// through AWS-StartInteractiveCommand.
func TestInteractiveCommand(t *testing.T) {
	newEnv(t, ssmtest.Options{})
	r := run(t, nil, "-q", ssmtest.InstanceAmazonLinux, "--", "sh", "-c", "'tty >/dev/null && echo on-a-tty; echo done-$((2+3))'")
	if r.code != 0 || !strings.Contains(r.stdout, "on-a-tty") || !strings.Contains(r.stdout, "done-5") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("-q printed %q", r.stderr)
	}
}

// TestNonInteractiveCommand: -T keeps stdout and stderr apart and makes
// the command's exit status ours.
func TestNonInteractiveCommand(t *testing.T) {
	newEnv(t, ssmtest.Options{})
	r := run(t, nil, "-T", ssmtest.InstanceAmazonLinux, "--", "sh", "-c", `'echo to-stdout; echo to-stderr >&2; exit 3'`)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3; stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stdout != "to-stdout\n" {
		t.Errorf("stdout %q, want only the command's", r.stdout)
	}
	if !strings.Contains(r.stderr, "to-stderr\n") || strings.Contains(r.stderr, "to-stdout") {
		t.Errorf("stderr %q", r.stderr)
	}
	if !strings.Contains(r.stderr, "Starting session with SessionId: ") {
		t.Errorf("no start line in stderr %q", r.stderr)
	}
}

// TestAgentTooOld: a command on an agent older than the document needs is
// refused, naming the agent's version and the one needed.
func TestAgentTooOld(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	e.setAgentVersion(t, ssmtest.InstanceAmazonLinux, "2.3.539.0")
	r := run(t, nil, ssmtest.InstanceAmazonLinux, "--", "uptime")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "version 2.3.539.0") || !strings.Contains(r.stderr, "2.3.668.0 or later") {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "Starting session") {
		t.Errorf("a session was started:\n%s", r.stderr)
	}
}

// TestNonInteractiveOldAgent: an agent that runs non-interactive commands
// but cannot separate their streams runs the command merged, saying so.
func TestNonInteractiveOldAgent(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	e.setAgentVersion(t, ssmtest.InstanceAmazonLinux, "3.1.1446.0")
	r := run(t, nil, "-T", ssmtest.InstanceAmazonLinux, "--", "sh", "-c", `'echo out; echo err >&2; exit 3'`)
	if r.code != 0 || !strings.Contains(r.stdout, "out") || !strings.Contains(r.stdout, "err") || !strings.Contains(r.stderr, "3.1.1446.0, older than 3.1.1511.0") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestDocumentParameters: --document-name with the JSON --parameters the
// AWS CLI takes; a usage error for a command given twice.
func TestDocumentParameters(t *testing.T) {
	newEnv(t, ssmtest.Options{})
	r := run(t, nil, "-q", "-T", "--document-name", ssmclient.DocumentNonInteractiveCommand,
		"--parameters", `{"command":["sh -c 'echo doc-out; exit 4'"],"separateOutputStream":["true"]}`, ssmtest.InstanceAmazonLinux)
	if r.code != 4 || r.stdout != "doc-out\n" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "--parameters", "command=uptime", "--document-name", ssmclient.DocumentInteractiveCommand, ssmtest.InstanceAmazonLinux, "--", "id")
	if r.code != exitUsage || !strings.Contains(r.stderr, "given twice") {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	r = run(t, nil, "--parameters", "a=[1", ssmtest.InstanceAmazonLinux)
	if r.code != exitUsage || !strings.Contains(r.stderr, "ssmsession: --parameters: expected") {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

func TestParseEscape(t *testing.T) {
	for in, want := range map[string]int{"~": '~', "none": -1, "^]": 0x1d, "^a": 1, "%": '%'} {
		if got, err := parseEscape(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ab", "^1", "é"} {
		if _, err := parseEscape(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestEndpointURLFlag: --endpoint-url reaches the emulator with neither
// AWS_ENDPOINT_URL nor a proxy in the environment, and a URL that is not
// http(s)://host is refused by name before anything is called.
func TestEndpointURLFlag(t *testing.T) {
	e := newEnv(t, ssmtest.Options{})
	for _, k := range []string{"AWS_ENDPOINT_URL", "HTTPS_PROXY", "https_proxy"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	r := run(t, nil, "-q", "-T", "--endpoint-url", e.s.URL(), ssmtest.InstanceUbuntu, "--", "echo", "through-the-flag")
	if r.code != 0 || !strings.Contains(r.stdout, "through-the-flag") {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "-q", "-T", "--endpoint-url", "ssm.internal", ssmtest.InstanceUbuntu, "--", "true")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `endpoint URL "ssm.internal" is not an http(s)://host URL`) {
		t.Errorf("exit %d, stderr %q; want %d naming the URL", r.code, r.stderr, ExitFailure)
	}
}
