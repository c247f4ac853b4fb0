package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/internal/iox"
	"github.com/ssmssh/ssmssh/ssmtest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }

// awsCLI is the AWS CLI v2 the tests run unmodified (Debian's awscli; the
// "aws" first on PATH may be another).
const awsCLI = "/usr/bin/aws"

// cliEnv is an emulator (with sshd behind its instance) and the AWS CLI
// with our session-manager-plugin first on PATH.
type cliEnv struct {
	*e2etest.Env
	// PluginDir holds session-manager-plugin and nothing else.
	PluginDir string
}

// startCLI skips the test when the AWS CLI v2 is not installed.
func startCLI(t *testing.T, opts e2etest.Options) *cliEnv {
	t.Helper()
	if _, err := os.Stat(awsCLI); err != nil {
		t.Skipf("the AWS CLI v2 (%s, Debian's awscli) is not installed: %v", awsCLI, err)
	}
	e := &cliEnv{Env: e2etest.Start(t, opts), PluginDir: t.TempDir()}
	bin := e2etest.CommandBinary(t, "session-manager-plugin")
	if err := os.Symlink(bin, filepath.Join(e.PluginDir, "session-manager-plugin")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { requireNoActiveSessions(t, e) })
	return e
}

// environ is the Env's environment with the plugin first on PATH.
func (e *cliEnv) environ() []string {
	env := e.Environ()
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + e.PluginDir + string(os.PathListSeparator) + strings.TrimPrefix(kv, "PATH=")
		}
	}
	return env
}

// awsArgs are the arguments that point the AWS CLI at the emulator: this
// CLI (2.9) predates AWS_ENDPOINT_URL, so it gets --endpoint-url; it
// trusts the emulator's CA through AWS_CA_BUNDLE.
func (e *cliEnv) awsArgs(args ...string) []string {
	return append([]string{"--endpoint-url", e.Server.URL(), "--region", e.Server.Region()}, args...)
}

// aws returns the AWS CLI command with args.
func (e *cliEnv) aws(args ...string) *exec.Cmd {
	cmd := exec.Command(awsCLI, e.awsArgs(args...)...)
	cmd.Env = e.environ()
	cmd.Dir = e.Dir
	return cmd
}

// awsCommandLine is the shell command running the AWS CLI with args, for
// ProxyCommand.
func (e *cliEnv) awsCommandLine(args ...string) string {
	words := []string{awsCLI}
	for _, a := range e.awsArgs(args...) {
		words = append(words, iox.ShellQuote(a))
	}
	return strings.Join(words, " ")
}

// requireNoActiveSessions asks the emulator, through the AWS CLI, for
// Active sessions: a test leaves none (the plugin terminates each on its
// way out, not the service's reaper).
func requireNoActiveSessions(t *testing.T, e *cliEnv) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := e2etest.RunProc(t, e.aws("ssm", "describe-sessions", "--state", "Active", "--query", "Sessions[].[SessionId,Status]", "--output", "text"))
		if p.Cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("aws ssm describe-sessions: %v", p)
			return
		}
		active := strings.TrimSpace(p.Stdout())
		if active == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("sessions still active after the test:\n%s", active)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, s := range e.Server.Sessions().All() {
		if out := s.Output(); s.State() == ssmtest.SessionTerminated && strings.Contains(out, "did not reconnect") {
			t.Errorf("session %s was reaped by the service (%q), not terminated by the plugin", s.ID, out)
		}
	}
}
