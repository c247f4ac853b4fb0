package proxy_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ssmssh/ssmssh/internal/e2etest"
	"github.com/ssmssh/ssmssh/ssmtest"
)

// proxyResult is how a direct run of ssmproxy ended.
type proxyResult struct {
	code           int
	stdout, stderr string
}

// runProxy runs ssmproxy itself (no ssh) with args, in env (nil: the
// Env's), and a stdin that stays open, as ssh's would, until it exits.
func runProxy(t *testing.T, e *e2etest.Env, env []string, args ...string) proxyResult {
	t.Helper()
	cmd := exec.Command(e.Proxy, args...)
	cmd.Env = env
	if env == nil {
		cmd.Env = e.Environ()
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	p := e2etest.StartProc(t, cmd)
	p.Wait(t, e2etest.DefaultTimeout)
	return proxyResult{p.Cmd.ProcessState.ExitCode(), p.Stdout(), p.Stderr()}
}

// without returns env without the variables named.
func without(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// failureCase is one way a connection fails, and the line ssmproxy must
// print for it.
type failureCase struct {
	name  string
	setup func(t *testing.T, e *e2etest.Env) // sets the fault; undone by undo
	undo  func(t *testing.T, e *e2etest.Env)
	env   func(e *e2etest.Env) []string // nil: the Env's
	host  string
	// want is the whole line after "ssmproxy: ", or its beginning when
	// prefix is set.
	want   func(e *e2etest.Env) string
	prefix bool
	// varies says that the line differs from run to run (it quotes a
	// request id), so ssh's copy is checked against want only.
	varies bool
	// doctor says that the cause is one `ssmssh doctor` names: the line
	// ends with "; run `ssmssh doctor <host>` for details".
	doctor bool
}

func fixed(s string) func(*e2etest.Env) string { return func(*e2etest.Env) string { return s } }

const (
	twinA      = "i-0f0f0f0f0f0f00001"
	twinB      = "i-0f0f0f0f0f0f00002"
	terminated = "i-0f0f0f0f0f0f00003"
	unmanaged  = "i-0f0f0f0f0f0f00004"
	oldAgent   = "i-0f0f0f0f0f0f00005"
)

// handshakeTimeout is the agents' handshake timeout in TestFailureMessages.
const handshakeTimeout = 500 * time.Millisecond

var failureCases = []failureCase{
	{
		name: "unknown instance", doctor: true, host: "i-0123456789abcdef0",
		want: fixed("SSM StartSession: there is no instance i-0123456789abcdef0 in us-east-1: check the instance id, --region and --profile"),
	},
	{
		name: "stopped instance", doctor: true, host: ssmtest.InstanceSUSE,
		want: fixed("SSM StartSession: " + ssmtest.InstanceSUSE + " is stopped, not running: start it, then retry"),
	},
	{
		name: "agent offline", doctor: true,
		setup: func(t *testing.T, e *e2etest.Env) { e.Server.Faults().AgentOffline(e.Instance, true) },
		undo:  func(t *testing.T, e *e2etest.Env) { e.Server.Faults().AgentOffline(e.Instance, false) },
		want: func(e *e2etest.Env) string {
			return "SSM StartSession: " + e.Instance + " is running but its SSM agent is not connected to Session Manager: check that the agent runs, that the instance profile allows Session Manager (AmazonSSMManagedInstanceCore) and that the instance reaches the ssm and ssmmessages endpoints"
		},
	},
	{
		name: "agent connection lost", doctor: true, host: ssmtest.InstanceRHEL,
		want: fixed("SSM StartSession: " + ssmtest.InstanceRHEL + " is running but its SSM agent is not connected to Session Manager: check that the agent runs, that the instance profile allows Session Manager (AmazonSSMManagedInstanceCore) and that the instance reaches the ssm and ssmmessages endpoints"),
	},
	{
		name: "managed node offline", doctor: true, host: "mi-0123456789abcdef0",
		want: fixed("SSM StartSession: mi-0123456789abcdef0 is not connected to Session Manager: the instance is stopped, its SSM agent is offline, or the id is wrong (check `aws ssm describe-instance-information`)"),
	},
	{
		name: "StartSession denied", doctor: true,
		setup: func(t *testing.T, e *e2etest.Env) { e.Server.Faults().APIAccessDenied("ssm:StartSession", true) },
		undo:  func(t *testing.T, e *e2etest.Env) { e.Server.Faults().APIAccessDenied("ssm:StartSession", false) },
		want:  fixed("SSM StartSession: not allowed to start a session: the IAM policy must allow ssm:StartSession on the instance and on the session document (AWS says: "), prefix: true,
	},
	{
		name: "handshake never answered", doctor: true,
		setup: func(t *testing.T, e *e2etest.Env) {
			e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.HandshakeNeverAnswered = true })
		},
		undo: func(t *testing.T, e *e2etest.Env) {
			e.Server.Faults().Set(func(f *ssmtest.FaultSet) { f.HandshakeNeverAnswered = false })
		},
		want: fixed("the session ended: Handshake timed out. Please ensure that you have the latest version of the session manager plugin. (the instance's SSM agent did not get ssmproxy's handshake answer in time; ssmproxy needs no session-manager-plugin: retry, and run ssmproxy -v if it persists)"),
	},
	{
		name: "terminated instance", host: terminated, doctor: true,
		want: fixed("SSM StartSession: " + terminated + " has been terminated"),
	},
	{
		name: "instance not managed", host: unmanaged, doctor: true,
		want: fixed("SSM StartSession: " + unmanaged + " is running but its SSM agent is not connected to Session Manager: check that the agent runs, that the instance profile allows Session Manager (AmazonSSMManagedInstanceCore) and that the instance reaches the ssm and ssmmessages endpoints"),
	},
	{
		name: "agent too old", host: oldAgent, doctor: true,
		want: fixed("the session ended: Plugin with name Port is not supported by this version of ssm agent, please update to latest version. Step name: Port"),
	},
	{
		name: "nothing listens on the port",
		setup: func(t *testing.T, e *e2etest.Env) {
			if err := e.Server.Fleet().SetPort(e.Instance, "22", closedPort(t)); err != nil {
				t.Fatal(err)
			}
		},
		undo: func(t *testing.T, e *e2etest.Env) {
			if err := e.Server.Fleet().SetPort(e.Instance, "22", e.Sshd.Addr); err != nil {
				t.Fatal(err)
			}
		},
		want:   fixed("the session ended: Unable to connect to specified port: dial tcp "),
		prefix: true,
	},
	{
		name: "unknown name", doctor: true, host: "no-such-host.ssm",
		want: fixed(`no running EC2 instance has Name tag, private DNS name or private IP "no-such-host"`),
	},
	{
		name: "ambiguous name", doctor: true, host: "twin.ssm",
		want: fixed(`"twin" matches 2 running instances, use an instance id: ` +
			twinA + ` (twin, 10.0.9.1, running), ` + twinB + ` (twin, 10.0.9.2, running)`),
	},
	{
		name: "name of a stopped instance", doctor: true, host: "batch-suse.ssm",
		want: fixed(`no running EC2 instance has Name tag, private DNS name or private IP "batch-suse"; matching but not running: ` +
			ssmtest.InstanceSUSE + ` (batch-suse, 10.0.1.15, stopped)`),
	},
	{
		name: "name lookup denied", doctor: true, host: "web-al2023.ssm",
		setup: func(t *testing.T, e *e2etest.Env) { e.Server.Faults().APIAccessDenied("ec2:DescribeInstances", true) },
		undo:  func(t *testing.T, e *e2etest.Env) { e.Server.Faults().APIAccessDenied("ec2:DescribeInstances", false) },
		want:  fixed(`EC2 DescribeInstances: not allowed to look "web-al2023.ssm" up by name: the IAM policy must allow ec2:DescribeInstances, or use the instance id`),
	},
	{
		name: "malformed ECS target", host: "ecs:just-a-cluster",
		want: fixed(`invalid ECS target "ecs:just-a-cluster": `), prefix: true,
	},
	{
		name: "no credentials", doctor: true,
		env: func(e *e2etest.Env) []string {
			return without(e.Environ(), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
		},
		want: fixed("SSM StartSession: no AWS credentials found: pass --profile or set AWS_PROFILE to a configured profile (aws configure, aws configure sso), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
	},
	{
		// The emulator's APIs take any signature; its message gateway
		// checks them, as the service does.
		name: "wrong secret key",
		env: func(e *e2etest.Env) []string {
			return append(without(e.Environ(), "AWS_SECRET_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY=not-the-secret")
		},
		want:   fixed("ssmmessages OpenDataChannel: Session Manager's message gateway refused the signature of the data-channel websocket (403 InvalidSignatureException: "),
		prefix: true, varies: true,
	},
	{
		name: "expired credentials", doctor: true,
		setup: func(t *testing.T, e *e2etest.Env) { e.Server.Faults().ExpireCredentials(ssmtest.FakeAccessKeyID, true) },
		undo: func(t *testing.T, e *e2etest.Env) {
			e.Server.Faults().ExpireCredentials(ssmtest.FakeAccessKeyID, false)
		},
		want: fixed("SSM StartSession: the AWS session credentials have expired: get fresh ones (aws sso login, or renew the temporary credentials in your environment or profile)"),
	},
	{
		name: "untrusted endpoint",
		// One attempt: the SDK retries a certificate it does not trust
		// (three attempts, some seconds), to the same end. SSL_CERT_FILE
		// goes too: Go's system trust store would take the CA from it.
		env: func(e *e2etest.Env) []string {
			return append(without(e.Environ(), "AWS_CA_BUNDLE", "SSL_CERT_FILE"), "AWS_MAX_ATTEMPTS=1")
		},
		want: func(e *e2etest.Env) string {
			return "SSM StartSession: the TLS certificate of " + e.Server.URL() + " is not trusted: if a proxy or private endpoint uses its own certificate authority, set AWS_CA_BUNDLE (or ca_bundle in the profile) to its PEM file"
		},
	},
}

// TestFailureMessages: every failure the emulator can inject, and the
// usual mistakes, make ssmproxy print one specific line on stderr (and
// nothing on stdout) and exit 1; under ssh the line reaches the user and
// ssh exits 255.
//
// KMS failures are absent on purpose: the agent never encrypts Port
// sessions (AWS-StartSSHSession), so they cannot happen to ssmproxy (see
// TestFaultsThatSpareSSH).
func TestFailureMessages(t *testing.T) {
	e := e2etest.Start(t, e2etest.Options{Emulator: ssmtest.Options{AgentHandshakeTimeout: handshakeTimeout}})
	for _, in := range []ssmtest.Instance{
		{InstanceID: twinA, Name: "twin", PrivateIP: "10.0.9.1"},
		{InstanceID: twinB, Name: "twin", PrivateIP: "10.0.9.2"},
		{InstanceID: terminated, State: "terminated"},
		{InstanceID: unmanaged, Unmanaged: true},
		{InstanceID: oldAgent, AgentVersion: "2.3.612.0", Ports: map[string]string{"22": e.Sshd.Addr}},
	} {
		if err := e.Server.Fleet().Add(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Server.StartAgent(oldAgent); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.AwaitAgent(oldAgent, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, c := range failureCases {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			if c.setup != nil {
				c.setup(t, e)
			}
			if c.undo != nil {
				defer c.undo(t, e)
			}
			host := c.host
			if host == "" {
				host = e.Instance
			}
			var env []string
			if c.env != nil {
				env = c.env(e)
			}
			want := "ssmproxy: " + c.want(e)
			suffix := ""
			if c.doctor {
				suffix = "; run `ssmssh doctor " + host + "` for details"
			}

			r := runProxy(t, e, env, host, "22")
			line, ok := strings.CutSuffix(r.stderr, "\n")
			switch {
			case r.code != 1:
				t.Errorf("ssmproxy exited %d, want 1", r.code)
			case r.stdout != "":
				t.Errorf("ssmproxy wrote %q to stdout, which belongs to ssh", r.stdout)
			case !ok || strings.Contains(line, "\n"):
				t.Errorf("stderr is not one line: %q", r.stderr)
			case c.prefix && (!strings.HasPrefix(line, want) || !strings.HasSuffix(line, suffix)), !c.prefix && line != want+suffix:
				t.Errorf("stderr:\n%s\nwant:\n%s…%s", line, want, suffix)
			case !c.doctor && strings.Contains(line, "ssmssh doctor"):
				t.Errorf("stderr sends the user to ssmssh doctor for a cause it does not name:\n%s", line)
			}

			// The same through ssh: the line is what the user reads.
			cmd := sshCmd(e, nil, host, "true")
			if env != nil {
				cmd.Env = env
			}
			p := e2etest.RunProc(t, cmd)
			if code := p.Cmd.ProcessState.ExitCode(); code != 255 {
				t.Errorf("ssh exited %d, want 255", code)
			}
			seen := strings.Contains(p.Stderr(), line+"\n")
			if c.varies {
				seen = strings.Contains(p.Stderr(), want)
			}
			if !seen {
				t.Errorf("ssh's stderr lacks ssmproxy's line:\n%s", p.Stderr())
			}
		})
	}
	waitSessionsEnded(t, e.Server, -1)
}
