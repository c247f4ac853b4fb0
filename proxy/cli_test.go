package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/ssmssh/ssmssh/ssmclient"
)

func TestConfigBlock(t *testing.T) {
	got := ConfigBlock("/opt/my tools/ssmproxy", ".ssm", "dev's")
	want := `# Reach EC2 instances through AWS Systems Manager Session Manager (ssmproxy).
Host i-* mi-*
    ProxyCommand '/opt/my tools/ssmproxy' --profile 'dev'\''s' %h %p

# By EC2 Name tag, private DNS name or private IP: ssh web-1.ssm
Host *.ssm
    ProxyCommand '/opt/my tools/ssmproxy' --profile 'dev'\''s' --suffix .ssm %h %p
`
	if got != want {
		t.Errorf("ConfigBlock:\n%s\nwant:\n%s", got, want)
	}
	got = ConfigBlock("/usr/local/bin/ssmproxy", "", "")
	want = "# Reach EC2 instances through AWS Systems Manager Session Manager (ssmproxy).\n" +
		"Host i-* mi-*\n    ProxyCommand /usr/local/bin/ssmproxy %h %p\n"
	if got != want {
		t.Errorf("ConfigBlock without a suffix:\n%s\nwant:\n%s", got, want)
	}
}

// mainResult runs CLI.Main with args and returns its status and output.
func mainResult(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &CLI{Stdin: io.NopCloser(strings.NewReader("")), Stdout: nopCloser{&stdout}, Stderr: &stderr, Executable: "/usr/bin/ssmproxy"}
	code := c.Main(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func TestMainArguments(t *testing.T) {
	for _, c := range []struct {
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{nil, 2, "", "usage: ssmproxy"},
		{[]string{"a", "b", "c"}, 2, "", "usage: ssmproxy"},
		{[]string{"-h"}, 0, "", "usage: ssmproxy"},
		{[]string{"--no-such-flag", "i-0123456789abcdef0"}, 2, "", "flag provided but not defined"},
		{[]string{"--parameters", "oops", "i-0123456789abcdef0", "22"}, 2, "", `ssmproxy: --parameters: expected '=' after "oops" at offset 4`},
		{[]string{"--parameters", "portNumber=22,portNumber=2222", "i-0123456789abcdef0", "22"}, 2, "", `ssmproxy: --parameters: "portNumber" is given twice (give a list: portNumber=[a,b])`},
		{[]string{"version"}, 0, "", "ssmproxy "},
		{[]string{"config"}, 0, ConfigBlock("/usr/bin/ssmproxy", ".ssm", ""), ""},
		{[]string{"config", "--suffix", ".aws", "--profile", "p"}, 0, ConfigBlock("/usr/bin/ssmproxy", ".aws", "p"), ""},
		{[]string{"config", "i-0123456789abcdef0"}, 2, "", "usage: ssmproxy config"},
		{[]string{"config", "--bogus"}, 2, "", "flag provided but not defined"},
	} {
		code, stdout, stderr := mainResult(t, c.args...)
		if code != c.code || stdout != c.stdout || !strings.Contains(stderr, c.stderrHas) || c.stderrHas == "" && stderr != "" {
			t.Errorf("ssmproxy %q: exit %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
				c.args, code, stdout, stderr, c.code, c.stdout, c.stderrHas)
		}
	}
}

func TestUserMessage(t *testing.T) {
	for _, c := range []struct {
		err  error
		port string
		want string
	}{
		{&ssmclient.SessionEndedError{Output: "Unable to connect to specified port: dial tcp 127.0.0.1:2222: connect: connection refused\n"}, "2222",
			"the session ended: Unable to connect to specified port: dial tcp 127.0.0.1:2222: connect: connection refused (nothing accepts connections on port 2222 of the instance: is sshd running there?)"},
		{fmt.Errorf("proxy: %w", &ssmclient.SessionEndedError{Output: "Session terminated by TerminateSession."}), "22",
			"the session ended: Session terminated by TerminateSession."},
		{&ssmclient.Error{Op: "SSM StartSession", Code: ssmclient.CodeAccessDenied, Hint: "not allowed"}, "22",
			"SSM StartSession: not allowed"},
		{fmt.Errorf("proxy: %w", errors.New("ssmclient: something odd")), "22", "something odd"},
	} {
		if got := userMessage(c.err, c.port); got != c.want {
			t.Errorf("userMessage(%v):\n%s\nwant:\n%s", c.err, got, c.want)
		}
	}
}

// fakeEC2 answers DescribeInstances with one instance in state, or err.
type fakeEC2 struct {
	state string
	err   error
	calls int
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: []types.Instance{{
		InstanceId: aws.String(in.InstanceIds[0]), State: &types.InstanceState{Name: types.InstanceStateName(f.state)},
	}}}}}, nil
}

func TestDiagnoseNotConnected(t *testing.T) {
	const id = "i-0123456789abcdef0"
	target := ssmclient.Target{ID: id, Kind: ssmclient.KindInstance, InstanceID: id}
	notConnected := &ssmclient.Error{Op: "SSM StartSession", Code: ssmclient.CodeTargetNotConnected, Hint: id + " is not connected"}
	notFound := &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: "The instance ID '" + id + "' does not exist"}
	for _, c := range []struct {
		name   string
		api    *fakeEC2
		target ssmclient.Target
		err    error
		code   string
		hint   string // a substring of the hint
		calls  int
	}{
		{"not found", &fakeEC2{err: notFound}, target, notConnected, ssmclient.CodeInstanceNotFound, "there is no instance " + id + " in eu-west-3", 1},
		{"stopped", &fakeEC2{state: "stopped"}, target, notConnected, ssmclient.CodeInstanceNotRunning, "is stopped, not running: start it", 1},
		{"stopping", &fakeEC2{state: "stopping"}, target, notConnected, ssmclient.CodeInstanceNotRunning, "is stopping, not running", 1},
		{"pending", &fakeEC2{state: "pending"}, target, notConnected, ssmclient.CodeInstanceNotRunning, "still starting", 1},
		{"terminated", &fakeEC2{state: "terminated"}, target, notConnected, ssmclient.CodeInstanceNotFound, "has been terminated", 1},
		{"running", &fakeEC2{state: "running"}, target, notConnected, ssmclient.CodeTargetNotConnected, "is running but its SSM agent is not connected", 1},
		{"EC2 denied", &fakeEC2{err: &smithy.GenericAPIError{Code: "UnauthorizedOperation"}}, target, notConnected, ssmclient.CodeTargetNotConnected, id + " is not connected", 1},
		{"managed node", &fakeEC2{state: "running"}, ssmclient.Target{ID: "mi-0123456789abcdef0", Kind: ssmclient.KindManaged}, notConnected, ssmclient.CodeTargetNotConnected, id + " is not connected", 0},
		{"other error", &fakeEC2{state: "running"}, target, &ssmclient.Error{Code: ssmclient.CodeAccessDenied, Hint: "denied"}, ssmclient.CodeAccessDenied, "denied", 0},
	} {
		err := diagnoseNotConnected(context.Background(), c.api, "eu-west-3", c.target, c.err)
		var ce *ssmclient.Error
		if !errors.As(err, &ce) || ce.Code != c.code || !strings.Contains(ce.Hint, c.hint) || c.api.calls != c.calls {
			t.Errorf("%s: %v (%d EC2 calls); want code %s with %q (%d calls)", c.name, err, c.api.calls, c.code, c.hint, c.calls)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: the diagnosis hides the original error", c.name)
		}
	}
}
