package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// failingCommand prints on both streams and exits 3.
const failingCommand = `sh -c "echo to-stdout; echo to-stderr >&2; exit 3"`

// TestAWSCLINonInteractiveCommand runs a non-interactive command through
// aws ssm start-session: its stdout alone on stdout, its stderr on stderr.
// This AWS CLI passes the response (and its token) in argv and prints its
// whole command line when the plugin exits non-zero, so the plugin exits
// 0 here (see CLI.Main); the status itself is checked in
// TestPluginExitStatus.
func TestAWSCLINonInteractiveCommand(t *testing.T) {
	e := startCLI(t, e2etest.Options{})
	params, _ := json.Marshal(map[string][]string{"command": {failingCommand}, "separateOutputStream": {"true"}})
	p := e2etest.RunProc(t, e.aws("ssm", "start-session", "--target", e.Instance,
		"--document-name", ssmtest.DocStartNonInteractiveCommand, "--parameters", string(params)))
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("aws exited %d: %v", code, p)
	}
	if got := p.Stdout(); got != "to-stdout\n" {
		t.Errorf("stdout = %q, want the command's stdout alone", got)
	}
	if got := p.Stderr(); !strings.Contains(got, "to-stderr\n") || strings.Contains(got, "to-stdout") {
		t.Errorf("stderr = %q, want the command's stderr", got)
	}
}

// TestPluginExitStatus hands the plugin a response in the environment, as
// newer AWS CLIs and other tools do: the command's exit status is the
// plugin's, and the variable's name, not the token, is all argv shows.
func TestPluginExitStatus(t *testing.T) {
	e := startCLI(t, e2etest.Options{})
	client := e.Client(t)
	req := &ssm.StartSessionInput{Target: aws.String(e.Instance), DocumentName: aws.String(ssmtest.DocStartNonInteractiveCommand),
		Parameters: map[string][]string{"command": {failingCommand}, "separateOutputStream": {"true"}}}
	out, err := client.SSM.StartSession(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := json.Marshal(map[string]string{"SessionId": *out.SessionId, "StreamUrl": *out.StreamUrl, "TokenValue": *out.TokenValue})
	reqJSON, _ := json.Marshal(map[string]any{"Target": e.Instance, "DocumentName": ssmtest.DocStartNonInteractiveCommand})
	const envName = "AWS_SSM_START_SESSION_RESPONSE_TEST"
	cmd := e.Command(filepath.Join(e.PluginDir, "session-manager-plugin"), envName, e.Server.Region(), "StartSession", "", string(reqJSON), e.Server.URL())
	cmd.Env = append(e.environ(), envName+"="+string(resp))
	p := e2etest.RunProc(t, cmd)
	if code := p.Cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit status %d, want the command's 3: %v", code, p)
	}
	if got := p.Stdout(); got != "to-stdout\n" {
		t.Errorf("stdout = %q", got)
	}
	if strings.Contains(p.Stderr(), *out.TokenValue) {
		t.Errorf("stderr shows the token")
	}
}
