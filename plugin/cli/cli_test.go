package cli_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/ssmssh/ssmssh/plugin/cli"
	"github.com/ssmssh/ssmssh/protocol"
)

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

func runMain(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli.CLI{Stdin: io.NopCloser(strings.NewReader("")), Stdout: nopWriteCloser{&out}, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Unsetenv: func(string) error { return nil }}
	code = c.Main(t.Context(), args)
	return code, out.String(), errb.String()
}

// TestMainForms: no arguments and --version answer on stdout as AWS's
// plugin does (the AWS CLI's execute-command runs the plugin with no
// arguments first, to see that it is installed); a command line that is
// not the contract fails with status 2 and one line.
func TestMainForms(t *testing.T) {
	code, out, _ := runMain(t, nil)
	if code != 0 || !strings.Contains(out, "The Session Manager plugin was installed successfully") {
		t.Errorf("no arguments: %d %q", code, out)
	}
	code, out, _ = runMain(t, nil, "--version")
	if code != 0 || out != protocol.ClientVersion+"\n" {
		t.Errorf("--version: %d %q", code, out)
	}
	code, out, errs := runMain(t, nil, "start", "x")
	if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "unknown operation") {
		t.Errorf("bad usage: %d %q %q", code, out, errs)
	}
}

// TestMainExitStatusPolicy: a failure is one line on stderr; its status is
// 255 when the response came through the environment, and 0 when it came
// in argv (where the AWS CLI would print the token with a non-zero
// status), unless SSMSSH_PLUGIN_EXIT_STATUS says otherwise.
func TestMainExitStatusPolicy(t *testing.T) {
	const token = "AAEAAtokenThatMustNotShow0123456789"
	resp := `{"SessionId":"s-1","StreamUrl":"wss://127.0.0.1:1/v1/data-channel/s-1","TokenValue":"` + token + `"}`
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		status int
	}{
		{"argv", nil, []string{resp, "us-east-1", "StartSession", "no-such-profile-ssmssh-test"}, 0},
		{"argv always", map[string]string{cli.ExitStatusEnv: "always"}, []string{resp, "us-east-1", "StartSession", "no-such-profile-ssmssh-test"}, cli.ExitFailure},
		{"environment", map[string]string{"AWS_SSM_START_SESSION_RESPONSE_1": resp}, []string{"AWS_SSM_START_SESSION_RESPONSE_1", "us-east-1", "StartSession", "no-such-profile-ssmssh-test"}, cli.ExitFailure},
		{"environment never", map[string]string{"AWS_SSM_START_SESSION_RESPONSE_1": resp, cli.ExitStatusEnv: "never"}, []string{"AWS_SSM_START_SESSION_RESPONSE_1", "us-east-1", "StartSession", "no-such-profile-ssmssh-test"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
			code, out, errs := runMain(t, tc.env, tc.args...)
			if code != tc.status {
				t.Errorf("status %d, want %d (stderr %q)", code, tc.status, errs)
			}
			if out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `profile "no-such-profile-ssmssh-test" not found`) {
				t.Errorf("stdout %q, stderr %q: want one line naming the profile", out, errs)
			}
			if strings.Contains(errs, token) {
				t.Errorf("stderr shows the token")
			}
		})
	}
}
